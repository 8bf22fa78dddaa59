"""The client TLS policy of a connection URI: one context for implicit TLS and STARTTLS.

TLS 1.2 or newer; the certificate verified against the system trust store unless the URI says
``skip_ssl_verify``; SNI and the certificate name pinned to ``server_name`` (the URI's host by
default), whatever host the TCP connection goes to; and the project's client certificate
(mTLS), when it has one, presented in every TLS mode.

A client certificate is checked once, when a configuration is read
(:func:`load_client_certificate`): PEM, an unencrypted private key, and a key that belongs to
the certificate. OpenSSL reads both only from files; they go to anonymous in-memory files where
the system has them (Linux, so AWS Lambda) and to a private temporary directory elsewhere, and
are gone when the check ends. No error quotes the PEM text.

Example
-------
>>> context = build_ssl_context(ConnectionUri.parse("smtps://mx.example.com/?server_name=example.com"))
>>> context.minimum_version, context.server_name
(<TLSVersion.TLSv1_2: 771>, 'example.com')
"""

from __future__ import annotations

import os
import re
import ssl
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NoReturn

from courier.errors import ConfigError
from courier.uri import ConnectionUri, Security

__all__ = [
    "CLIENT_CERT_FIELD",
    "CLIENT_KEY_FIELD",
    "ClientCertificate",
    "build_ssl_context",
    "check_client_certificate_mode",
    "load_client_certificate",
    "start_building_ssl_context",
]

CLIENT_CERT_FIELD = "smtp.client_cert"
"""The field named by errors about the certificate when the caller names none."""
CLIENT_KEY_FIELD = "smtp.client_key"
"""The field named by errors about the private key when the caller names none."""

_PEM_BLOCK = re.compile(
    r"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.DOTALL | re.ASCII
)
_PEM_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]+-----", re.ASCII)
_KEY_LABELS = frozenset({"PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "DSA PRIVATE KEY"})
_DECRYPT_HINT = "decrypt it with `openssl pkey -in key.pem -out plain.pem` and store plain.pem"
_MEMORY_FILES = hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd")
_CERT_CACHE_SIZE = 64


@dataclass(frozen=True)
class ClientCertificate:
    """A client certificate (mTLS) the session presents: PEM text of the chain and its key.

    Build one with :func:`load_client_certificate`, which checks them; ``repr()`` shows neither.
    """

    cert_pem: str = field(repr=False)
    key_pem: str = field(repr=False)


class _EncryptedKey(Exception):
    """OpenSSL asked for the key's passphrase."""


def load_client_certificate(
    cert_pem: str, key_pem: str, *, field: str, key_field: str | None = None
) -> ClientCertificate:
    """Check that ``cert_pem`` and ``key_pem`` are a PEM certificate and its private key.

    The result is cached (for the same texts, the check runs once per process).

    Parameters
    ----------
    cert_pem:
        One or more PEM ``CERTIFICATE`` blocks: the client certificate first, then any
        intermediate certificates of its chain.
    key_pem:
        The certificate's private key, PEM, unencrypted (PKCS#8 ``PRIVATE KEY`` or a
        traditional ``RSA``/``EC PRIVATE KEY``).
    field:
        The field errors name (e.g. ``smtp.client_cert``).
    key_field:
        The field errors about the key alone name; ``field`` if not given.

    Returns
    -------
    ClientCertificate
        The two texts, checked.

    Raises
    ------
    ConfigError
        ``client_cert_invalid`` (not PEM certificates, or not certificates OpenSSL can use),
        ``client_key_invalid`` (not a PEM private key), ``client_key_encrypted`` (the key needs
        a passphrase) or ``client_cert_key_mismatch`` (the key belongs to another certificate).
        No message quotes the PEM text.

    Example
    -------
    >>> try:
    ...     load_client_certificate("not PEM", "", field="smtp.client_cert")
    ... except ConfigError as error:
    ...     print(error.field, error.code)
    smtp.client_cert client_cert_invalid
    """
    return _load_client_certificate(cert_pem, key_pem, field, key_field or field)


@lru_cache(maxsize=_CERT_CACHE_SIZE)
def _load_client_certificate(
    cert_pem: str, key_pem: str, cert_field: str, key_field: str
) -> ClientCertificate:
    _check_cert_pem(cert_pem, field=cert_field)
    _check_key_pem(key_pem, field=key_field)
    certificate = ClientCertificate(cert_pem, key_pem)
    _load_chain(
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT),
        certificate,
        cert_field=cert_field,
        key_field=key_field,
    )
    return certificate


def check_client_certificate_mode(
    uri: ConnectionUri, certificate: ClientCertificate | None, *, field: str
) -> None:
    """Refuse a client certificate with a connection URI that never speaks TLS.

    Kratos sends without the certificate then; courier does not send at all, since the server
    may be counting on it to know the sender.

    Raises
    ------
    ConfigError
        ``client_cert_without_tls``: ``certificate`` is set and ``uri`` says
        ``disable_starttls=true``.

    Example
    -------
    >>> uri = ConnectionUri.parse("smtp://mx.example.com/?disable_starttls=true")
    >>> check_client_certificate_mode(uri, None, field="smtp.client_cert")  # no certificate
    """
    if certificate is not None and uri.security is Security.CLEARTEXT:
        raise ConfigError(
            field,
            "client_cert_without_tls",
            "a client certificate is set, but the connection URI says disable_starttls=true: "
            "without TLS the certificate cannot be presented. Remove disable_starttls=true to "
            "present it over STARTTLS, or remove the client certificate",
        )


class _ServerNameContext(ssl.SSLContext):
    """An SSL context that sends one fixed name as SNI and checks the certificate against it.

    ``smtplib`` passes the host it connected to as ``server_hostname`` (in ``SMTP_SSL`` and in
    ``starttls()`` alike); pinning the name here lets the TCP connection go to the URI's host
    while TLS speaks for ``server_name``, with one context for both paths.
    """

    server_name: str

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        kwargs["server_hostname"] = self.server_name
        return super().wrap_socket(*args, **kwargs)


def build_ssl_context(
    uri: ConnectionUri, client_certificate: ClientCertificate | None = None
) -> ssl.SSLContext:
    """The client TLS policy of ``uri``: TLS 1.2 or newer, verified unless ``skip_ssl_verify``.

    Trust comes from the system store, so ``SSL_CERT_FILE`` (or ``SSL_CERT_DIR``) points it at
    another CA bundle without a code path of its own.

    The context is built once per process for each policy (server name, verification, client
    certificate, trust store location) and shared by every session with that policy.

    Parameters
    ----------
    uri:
        The connection URI: verification and the TLS server name.
    client_certificate:
        The chain and key to present when the server asks for a client certificate.

    Raises
    ------
    ConfigError
        ``client_certificate`` was not checked by :func:`load_client_certificate` and cannot
        be loaded (its codes).
    """
    return _CONTEXTS.get(_policy(uri, client_certificate)).result()


def start_building_ssl_context(
    uri: ConnectionUri, client_certificate: ClientCertificate | None = None
) -> None:
    """Start building ``uri``'s context in a thread of its own, unless it is built or being
    built: :func:`build_ssl_context` then waits for it.

    A session calls this before it connects: the trust store loads (OpenSSL lets other threads
    run meanwhile) while the TCP connection, the greeting and EHLO wait for the network, instead
    of after them. A URI without TLS needs no context.
    """
    if uri.security is not Security.CLEARTEXT:
        _CONTEXTS.get(_policy(uri, client_certificate), in_background=True)


# What a context is built from: the server name, verification, the client certificate, and the
# trust store's location (SSL_CERT_FILE may point elsewhere later in a process).
_Policy = tuple[str, bool, "ClientCertificate | None", tuple[str | None, str | None]]


def _policy(uri: ConnectionUri, client_certificate: ClientCertificate | None) -> _Policy:
    trust_store = (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    return (uri.tls_server_name, uri.verify_certificate, client_certificate, trust_store)


class _ContextCache:
    """One context per process and policy, built once even when sessions ask at the same time:
    building one loads the system trust store (about 20 ms of CPU for 145 certificates), and a
    context is made to be shared by many connections. A build that failed is forgotten, so the
    next session tries again (and gets its error)."""

    _SIZE = 64

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._built: dict[_Policy, Future[ssl.SSLContext]] = {}

    def get(self, policy: _Policy, *, in_background: bool = False) -> Future[ssl.SSLContext]:
        with self._lock:
            if (known := self._built.get(policy)) is not None:
                return known
            building: Future[ssl.SSLContext] = Future()
            building.set_running_or_notify_cancel()
            if len(self._built) >= self._SIZE:
                del self._built[next(iter(self._built))]  # the oldest
            self._built[policy] = building
        if in_background:
            threading.Thread(target=self._build, args=(policy, building), daemon=True).start()
        else:
            self._build(policy, building)
        return building

    def clear(self) -> None:
        with self._lock:
            self._built.clear()

    def _build(self, policy: _Policy, building: Future[ssl.SSLContext]) -> None:
        try:
            building.set_result(_new_context(*policy))
        except BaseException as exc:
            with self._lock:
                if self._built.get(policy) is building:
                    del self._built[policy]
            building.set_exception(exc)


_CONTEXTS = _ContextCache()


def _new_context(
    server_name: str,
    verify: bool,
    client_certificate: ClientCertificate | None,
    trust_store: tuple[str | None, str | None],
) -> ssl.SSLContext:
    del trust_store  # read by OpenSSL from the environment; in the policy to tell contexts apart
    context = _ServerNameContext(ssl.PROTOCOL_TLS_CLIENT)
    context.server_name = server_name
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if verify:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if client_certificate is not None:
        _load_chain(
            context,
            client_certificate,
            cert_field=CLIENT_CERT_FIELD,
            key_field=CLIENT_KEY_FIELD,
        )
    return context


# Checking the PEM text (before OpenSSL sees it, for errors that say which part is wrong).


def _check_cert_pem(cert_pem: str, *, field: str) -> None:
    labels = _pem_labels(cert_pem) if isinstance(cert_pem, str) else set()
    if not labels:
        _invalid_cert(
            field,
            "is not a PEM certificate: expected one or more '-----BEGIN CERTIFICATE-----' "
            "blocks (the client certificate first, then its intermediates)",
        )
    if labels & _KEY_LABELS or "ENCRYPTED PRIVATE KEY" in labels:
        _invalid_cert(
            field,
            "holds a private key: store only the certificate chain here, and the key in its own "
            "parameter",
        )
    if labels != {"CERTIFICATE"}:
        _invalid_cert(field, "holds PEM blocks other than CERTIFICATE: keep only the chain")
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=cert_pem)
    except ssl.SSLError:
        # OpenSSL's message may quote the text it could not parse: not kept.
        _invalid_cert(
            field,
            "is not a readable certificate (a PEM block whose content is not base64 DER of an "
            "X.509 certificate); export the certificate again in PEM",
        )


def _check_key_pem(key_pem: str, *, field: str) -> None:
    if not isinstance(key_pem, str):
        _invalid_key(field, "is not text: expected a PEM private key")
    labels = _pem_labels(key_pem)
    if "ENCRYPTED PRIVATE KEY" in labels or (
        labels & _KEY_LABELS and "Proc-Type: 4,ENCRYPTED" in key_pem
    ):
        raise ConfigError(
            field,
            "client_key_encrypted",
            f"the private key is encrypted (it needs a passphrase, which courier never asks "
            f"for); {_DECRYPT_HINT}",
        )
    if "CERTIFICATE" in labels and not labels & _KEY_LABELS:
        _invalid_key(
            field,
            "holds a certificate, not a private key: are the certificate and the key swapped?",
        )
    blocks = [label for label, _ in _PEM_BLOCK.findall(key_pem)] if labels else []
    keys = [label for label in blocks if label in _KEY_LABELS]
    if len(keys) != 1 or set(blocks) - _KEY_LABELS - {"EC PARAMETERS"}:
        _invalid_key(
            field,
            "is not one PEM private key: expected a '-----BEGIN PRIVATE KEY-----' block (or "
            "'RSA PRIVATE KEY', 'EC PRIVATE KEY'), such as `openssl pkey -in key.pem` writes",
        )


def _pem_labels(text: str) -> set[str]:
    """The labels of the PEM blocks of ``text`` (``{"CERTIFICATE"}``); a BEGIN line without
    its END counts as no block at all."""
    labels = {label for label, _ in _PEM_BLOCK.findall(text)}
    if len(_PEM_BEGIN.findall(text)) != len(_PEM_BLOCK.findall(text)):
        return set()
    return labels


def _invalid_cert(field: str, message: str) -> NoReturn:
    raise ConfigError(field, "client_cert_invalid", message)


def _invalid_key(field: str, message: str) -> NoReturn:
    raise ConfigError(field, "client_key_invalid", message)


# Loading into OpenSSL.


def _load_chain(
    context: ssl.SSLContext, certificate: ClientCertificate, *, cert_field: str, key_field: str
) -> None:
    """Load ``certificate`` into ``context``; a failure is a ConfigError naming the part."""

    def refuse_passphrase() -> NoReturn:
        raise _EncryptedKey

    try:
        with _pem_files(certificate.cert_pem, certificate.key_pem) as (cert_path, key_path):
            context.load_cert_chain(cert_path, key_path, password=refuse_passphrase)
    except _EncryptedKey:
        raise ConfigError(
            key_field,
            "client_key_encrypted",
            f"the private key is encrypted (it needs a passphrase); {_DECRYPT_HINT}",
        ) from None
    except ssl.SSLError as exc:
        raise _load_error(exc, cert_field=cert_field, key_field=key_field) from None


def _load_error(exc: ssl.SSLError, *, cert_field: str, key_field: str) -> ConfigError:
    if exc.reason == "KEY_VALUES_MISMATCH":
        return ConfigError(
            key_field,
            "client_cert_key_mismatch",
            "the private key does not belong to the client certificate (the first certificate "
            "of the chain); store the key the certificate was issued for",
        )
    if exc.reason in {"EE_KEY_TOO_SMALL", "CA_MD_TOO_WEAK", "CA_KEY_TOO_SMALL"}:
        return ConfigError(
            cert_field,
            "client_cert_invalid",
            "the client certificate is too weak for TLS here (a key under 2048 bits, or a "
            "SHA-1 signature); issue a new one",
        )
    # OpenSSL names only "PEM lib" here: the key is what it could not read.
    return ConfigError(
        key_field,
        "client_key_invalid",
        "the private key cannot be read (a PEM block whose content is not a private key); "
        "export it again, e.g. with `openssl pkey -in key.pem -out plain.pem`",
    )


@contextmanager
def _pem_files(*texts: str) -> Iterator[list[str]]:
    """Paths OpenSSL can open, one for each of ``texts``, removed on exit.

    Anonymous memory files (``memfd_create``) never touch a disk; elsewhere the files go to a
    new directory only this user can enter, each readable only by this user.
    """
    with ExitStack() as stack:
        if _MEMORY_FILES:
            yield [_memory_file(stack, text) for text in texts]
            return
        directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="courier-tls-"))
        yield [_private_file(os.path.join(directory, f"{i}.pem"), t) for i, t in enumerate(texts)]


def _memory_file(stack: ExitStack, text: str) -> str:
    descriptor = os.memfd_create("courier-client-cert", os.MFD_CLOEXEC)
    stack.callback(os.close, descriptor)
    _write_all(descriptor, text)
    return f"/proc/self/fd/{descriptor}"


def _private_file(path: str, text: str) -> str:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        _write_all(descriptor, text)
    finally:
        os.close(descriptor)
    return path


def _write_all(descriptor: int, text: str) -> None:
    data = memoryview(text.encode("utf-8"))
    while data:
        data = data[os.write(descriptor, data) :]
