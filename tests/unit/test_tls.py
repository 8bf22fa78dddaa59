"""Client certificates: what :func:`load_client_certificate` accepts and how it refuses; the
TLS contexts, one per policy."""

from __future__ import annotations

import os
import ssl
import stat
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography.hazmat.primitives import serialization

import courier.tls
from courier.errors import ConfigError
from courier.tls import (
    ClientCertificate,
    build_ssl_context,
    check_client_certificate_mode,
    load_client_certificate,
)
from courier.transport import Transport
from courier.uri import ConnectionUri
from tests.conftest import exception_chain

CERT_FIELD, KEY_FIELD = "smtp.client_cert", "smtp.client_key"


@dataclass(frozen=True)
class Pem:
    """A client certificate's chain and key as PEM text, and another certificate's key."""

    chain: str
    key: str
    other_key: str


@pytest.fixture(scope="module")
def pem() -> Pem:
    ca = trustme.CA()
    leaf, other = ca.issue_cert("client.example.com"), ca.issue_cert("other.example.com")
    return Pem(
        chain="".join(blob.bytes().decode("ascii") for blob in leaf.cert_chain_pems),
        key=leaf.private_key_pem.bytes().decode("ascii"),
        other_key=other.private_key_pem.bytes().decode("ascii"),
    )


def load(chain: str, key: str) -> ClientCertificate:
    return load_client_certificate(chain, key, field=CERT_FIELD, key_field=KEY_FIELD)


def encrypted(key: str, private_format: serialization.PrivateFormat) -> str:
    private_key = serialization.load_pem_private_key(key.encode(), password=None)
    return private_key.private_bytes(
        serialization.Encoding.PEM,
        private_format,
        serialization.BestAvailableEncryption(b"passphrase"),
    ).decode("ascii")


def base64_lines(text: str) -> list[str]:
    """The lines of PEM text that hold its content (not the BEGIN/END lines)."""
    return [line for line in text.splitlines() if line and not line.startswith("-----")]


def test_a_certificate_and_its_key_load_and_repr_shows_neither(pem: Pem) -> None:
    # WHEN a matching chain and key are loaded
    certificate = load(pem.chain, pem.key)

    # THEN they are kept as given, and repr() shows no PEM
    assert (certificate.cert_pem, certificate.key_pem) == (pem.chain, pem.key)
    assert repr(certificate) == "ClientCertificate()"


def test_a_chain_with_an_intermediate_loads() -> None:
    # GIVEN a certificate issued by an intermediate CA, with the intermediate in its chain
    leaf = trustme.CA().create_child_ca().issue_cert("client.example.com")
    chain = "".join(blob.bytes().decode("ascii") for blob in leaf.cert_chain_pems)
    assert chain.count("BEGIN CERTIFICATE") == 2

    # WHEN it is loaded, THEN it is accepted
    load(chain, leaf.private_key_pem.bytes().decode("ascii"))


def test_a_traditional_unencrypted_key_loads(pem: Pem) -> None:
    private_key = serialization.load_pem_private_key(pem.key.encode(), password=None)
    traditional = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode("ascii")
    assert "BEGIN EC PRIVATE KEY" in traditional or "BEGIN RSA PRIVATE KEY" in traditional
    load(pem.chain, traditional)


def test_the_check_runs_once_for_the_same_texts(pem: Pem) -> None:
    assert load(pem.chain, pem.key) is load(pem.chain, pem.key)


_NOT_BASE64_DER = "-----BEGIN {0}-----\nAAAA\n-----END {0}-----\n"

# (case, chain and key from the fixture's texts, field, code, what the message says)
REFUSALS: dict[str, tuple[Callable[[Pem], tuple[str, str]], str, str, str]] = {
    "garbage certificate": (
        lambda p: ("garbage", p.key),
        CERT_FIELD,
        "client_cert_invalid",
        "not a PEM",
    ),
    "empty certificate": (lambda p: ("", p.key), CERT_FIELD, "client_cert_invalid", "not a PEM"),
    "certificate not DER": (
        lambda p: (_NOT_BASE64_DER.format("CERTIFICATE"), p.key),
        CERT_FIELD,
        "client_cert_invalid",
        "not a readable certificate",
    ),
    "certificate cut short": (
        lambda p: (p.chain.split("-----END")[0], p.key),
        CERT_FIELD,
        "client_cert_invalid",
        "not a PEM",
    ),
    "key in the certificate's place": (
        lambda p: (p.key, p.chain),
        CERT_FIELD,
        "client_cert_invalid",
        "holds a private key",
    ),
    "certificate with its key appended": (
        lambda p: (p.chain + p.key, p.key),
        CERT_FIELD,
        "client_cert_invalid",
        "holds a private key",
    ),
    "garbage key": (lambda p: (p.chain, "garbage"), KEY_FIELD, "client_key_invalid", "not one PEM"),
    "certificate in the key's place": (
        lambda p: (p.chain, p.chain),
        KEY_FIELD,
        "client_key_invalid",
        "swapped",
    ),
    "key not DER": (
        lambda p: (p.chain, _NOT_BASE64_DER.format("PRIVATE KEY")),
        KEY_FIELD,
        "client_key_invalid",
        "cannot be read",
    ),
    "two keys": (lambda p: (p.chain, p.key + p.other_key), KEY_FIELD, "client_key_invalid", "one"),
    "another certificate's key": (
        lambda p: (p.chain, p.other_key),
        KEY_FIELD,
        "client_cert_key_mismatch",
        "does not belong",
    ),
    "encrypted PKCS#8 key": (
        lambda p: (p.chain, encrypted(p.key, serialization.PrivateFormat.PKCS8)),
        KEY_FIELD,
        "client_key_encrypted",
        "openssl pkey -in key.pem -out plain.pem",
    ),
    "encrypted traditional key": (
        lambda p: (p.chain, encrypted(p.key, serialization.PrivateFormat.TraditionalOpenSSL)),
        KEY_FIELD,
        "client_key_encrypted",
        "openssl pkey -in key.pem -out plain.pem",
    ),
}


@pytest.mark.parametrize(("texts", "field", "code", "says"), REFUSALS.values(), ids=REFUSALS)
def test_a_bad_certificate_or_key_is_a_config_error_without_its_text(
    pem: Pem, texts: Callable[[Pem], tuple[str, str]], field: str, code: str, says: str
) -> None:
    chain, key = texts(pem)

    # WHEN the pair is loaded
    with pytest.raises(ConfigError) as caught:
        load(chain, key)

    # THEN the error names the field, the code and the fix
    error = caught.value
    assert (error.field, error.code) == (field, code)
    assert says in error.message
    # AND no line of either PEM text shows in it or in anything it links to
    secrets = base64_lines(chain) + base64_lines(key)
    for _, linked in exception_chain(error):
        for text in (str(linked), repr(linked)):
            assert not [line for line in secrets if line in text]


def test_the_key_errors_name_the_certificate_field_when_no_key_field_is_given(pem: Pem) -> None:
    with pytest.raises(ConfigError) as caught:
        load_client_certificate(pem.chain, pem.other_key, field="smtp.client_cert_path")
    assert caught.value.field == "smtp.client_cert_path"


def test_an_encrypted_key_never_waits_for_a_passphrase(pem: Pem) -> None:
    # GIVEN an encrypted key, not checked by load_client_certificate first
    key = ClientCertificate(pem.chain, encrypted(pem.key, serialization.PrivateFormat.PKCS8))

    # WHEN OpenSSL itself reads it (OpenSSL would prompt on a terminal without a callback)
    with pytest.raises(ConfigError) as caught:
        build_ssl_context(ConnectionUri.parse("smtps://mx.example.com/"), key)

    # THEN it is refused as encrypted at once
    assert caught.value.code == "client_key_encrypted"


# Where the PEM text goes while OpenSSL reads it.


def test_nothing_is_written_to_the_temporary_directory(
    pem: Pem, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # GIVEN the temporary directory watched, on a system with anonymous memory files
    if not courier.tls._MEMORY_FILES:
        pytest.skip("no memfd_create here")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    courier.tls._CONTEXTS.clear()  # a context built before would be reused

    # WHEN a certificate is checked and loaded into a context
    certificate = load(pem.chain, pem.key)
    build_ssl_context(ConnectionUri.parse("smtps://mx.example.com/"), certificate)

    # THEN no file was made
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("key", ["key", "other_key"])
def test_without_memory_files_the_files_are_private_and_removed(
    pem: Pem, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, key: str
) -> None:
    # GIVEN a system without anonymous memory files, its temporary directory watched
    monkeypatch.setattr(courier.tls, "_MEMORY_FILES", False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    courier.tls._CONTEXTS.clear()  # a context built before would be reused
    modes: list[tuple[int, int]] = []
    write = courier.tls._private_file

    def recording_write(path: str, text: str) -> str:
        written = write(path, text)
        modes.append(
            (
                stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode),
                stat.S_IMODE(os.stat(path).st_mode),
            )
        )
        return written

    monkeypatch.setattr(courier.tls, "_private_file", recording_write)
    certificate = ClientCertificate(pem.chain, getattr(pem, key))

    # WHEN the pair is loaded (it matches, or it does not)
    if key == "key":
        build_ssl_context(ConnectionUri.parse("smtps://mx.example.com/"), certificate)
    else:
        with pytest.raises(ConfigError, match="does not belong"):
            build_ssl_context(ConnectionUri.parse("smtps://mx.example.com/"), certificate)

    # THEN both files were readable by this user alone, in a directory only it can enter, and
    # nothing is left
    assert modes == [(0o700, 0o600), (0o700, 0o600)]
    assert list(tmp_path.iterdir()) == []


# The rule for a URI without TLS.


@pytest.mark.parametrize(
    "uri",
    ["smtp://mx.example.com/", "smtps://mx.example.com/"],
    ids=["starttls", "implicit-tls"],
)
def test_a_certificate_goes_with_either_tls_mode(pem: Pem, uri: str) -> None:
    check_client_certificate_mode(ConnectionUri.parse(uri), load(pem.chain, pem.key), field="f")


def test_a_certificate_with_disable_starttls_is_refused(pem: Pem) -> None:
    # GIVEN a URI that never speaks TLS
    uri = ConnectionUri.parse("smtp://mx.example.com/?disable_starttls=true")

    # WHEN it is checked with and without a certificate
    check_client_certificate_mode(uri, None, field="smtp.client_cert")
    with pytest.raises(ConfigError) as caught:
        check_client_certificate_mode(uri, load(pem.chain, pem.key), field="smtp.client_cert")

    # THEN only the certificate is refused, naming the field and both fixes
    assert (caught.value.field, caught.value.code) == (
        "smtp.client_cert",
        "client_cert_without_tls",
    )
    assert "Remove disable_starttls=true" in caught.value.message
    assert "remove the client certificate" in caught.value.message


def test_the_transport_refuses_a_certificate_without_tls_before_any_io(pem: Pem) -> None:
    uri = ConnectionUri.parse("smtp://mx.example.com/?disable_starttls=true")
    with pytest.raises(ConfigError) as caught:
        Transport(uri, timeout=5, client_certificate=load(pem.chain, pem.key))
    assert caught.value.code == "client_cert_without_tls"


def test_one_context_serves_every_session_of_a_policy(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # GIVEN two projects' URIs with the same TLS policy, and one with another server name
    first = ConnectionUri.parse("smtps://a:pw-1@mx.example.com/")
    second = ConnectionUri.parse("smtp://b:pw-2@mx.example.com:587/")
    other = ConnectionUri.parse("smtps://a:pw-1@mx.example.com/?server_name=mail.example.com")

    # THEN the trust store is loaded once for the policy, not once per session
    before = build_ssl_context(first)
    assert build_ssl_context(second) is before
    assert build_ssl_context(other) is not build_ssl_context(first)
    assert build_ssl_context(other).server_name == "mail.example.com"  # type: ignore[attr-defined]

    # AND pointing SSL_CERT_FILE elsewhere gives a context that trusts that store
    bundle = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    assert build_ssl_context(first) is not before
    assert build_ssl_context(first).cert_store_stats()["x509_ca"] == 1


def test_sessions_that_ask_at_once_share_one_build_of_the_context(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a policy no session has asked for yet, whose build is held until released
    courier.tls._CONTEXTS.clear()
    uri = ConnectionUri.parse("smtps://mx.example.com/?server_name=once.example.com")
    builds: list[str] = []
    started, release = threading.Event(), threading.Event()
    new_context = courier.tls._new_context

    def held_build(*policy: Any) -> ssl.SSLContext:
        builds.append(policy[0])
        started.set()
        release.wait(timeout=10)
        return new_context(*policy)

    monkeypatch.setattr(courier.tls, "_new_context", held_build)

    # WHEN a session starts the build before it connects, and four more ask while it runs
    courier.tls.start_building_ssl_context(uri)
    assert started.wait(timeout=10)
    with ThreadPoolExecutor(max_workers=4) as pool:
        asked = [pool.submit(build_ssl_context, uri) for _ in range(4)]
        release.set()
        contexts = [future.result(timeout=10) for future in asked]

    # THEN the trust store was loaded once, and every session has that one context
    assert builds == ["once.example.com"]
    assert all(context is contexts[0] for context in contexts)
    assert build_ssl_context(uri) is contexts[0]


def test_a_context_that_failed_to_build_is_built_again_for_the_next_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a policy whose first build fails (a trust store that cannot be read, say)
    courier.tls._CONTEXTS.clear()
    uri = ConnectionUri.parse("smtps://mx.example.com/?server_name=retry.example.com")
    new_context = courier.tls._new_context
    failures = [ssl.SSLError("the trust store could not be read")]

    def failing_once(*policy: Any) -> ssl.SSLContext:
        if failures:
            raise failures.pop()
        return new_context(*policy)

    monkeypatch.setattr(courier.tls, "_new_context", failing_once)

    # WHEN a session needs the context THEN it gets the build's error, and the next session
    # gets a context built anew
    with pytest.raises(ssl.SSLError, match="trust store"):
        build_ssl_context(uri)
    assert build_ssl_context(uri).server_name == "retry.example.com"  # type: ignore[attr-defined]


def test_a_cleartext_uri_starts_no_build() -> None:
    # GIVEN a URI without TLS WHEN a session starts, THEN no context is built for it
    courier.tls._CONTEXTS.clear()
    courier.tls.start_building_ssl_context(
        ConnectionUri.parse("smtp://mx.example.com/?disable_starttls=true")
    )
    assert courier.tls._CONTEXTS._built == {}
