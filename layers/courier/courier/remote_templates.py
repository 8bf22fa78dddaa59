"""Kratos's ``https://`` templates: fetched once when a project's config is read, bounded.

Kratos fetches a remote template when it renders; courier fetches it when it reads (or
validates) the config, and the source is cached with the config
(``POWERTOOLS_PARAMETERS_MAX_AGE``), so a mail never waits for a web server, and a template that
cannot be fetched is a config error (retried while an operator fixes it), never a lost mail.

The fetch is bounded and guarded as an SMTP connection is: only ``https://`` (a template is
mail content: over plain ``http://`` anyone on the path could rewrite a recovery mail), the
certificate verified against the system trust store, the host's addresses checked by the SSRF
guard (:func:`courier.network.why_not_public`, unless ``AllowPrivateSmtpHosts``) and the
connection made to the address that was checked, one request with no redirect followed, at
most :data:`MAX_TEMPLATE_BYTES` of UTF-8 text, and the whole fetch within
:data:`FETCH_TIMEOUT_SECONDS`.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from typing import Any
from urllib.parse import urlsplit

from courier.errors import ConfigError
from courier.network import first_not_public, resolve_addresses

__all__ = ["FETCH_TIMEOUT_SECONDS", "MAX_TEMPLATE_BYTES", "fetch_template"]

MAX_TEMPLATE_BYTES = 256 * 1024
"""The largest template fetched; a mail template is a few KiB."""
FETCH_TIMEOUT_SECONDS = 5.0
"""The whole fetch: resolving, connecting, TLS, the request and the whole body."""
_CHUNK = 16 * 1024


class _DeadlineSSLSocket(ssl.SSLSocket):
    """A TLS socket whose every read ends by :attr:`deadline`: a server that drips its answer
    a byte at a time cannot keep the fetch going past its bound."""

    deadline: float = float("inf")

    def recv_into(self, buffer: Any, nbytes: int | None = None, flags: int = 0) -> int:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the fetch took too long")
        self.settimeout(remaining)
        return super().recv_into(buffer, nbytes, flags)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """An HTTPS connection to one checked address, with SNI and the certificate name of the
    URL's host (a DNS answer that changes after the check cannot slip another address in)."""

    def __init__(self, host: str, port: int, *, addresses: list[str], deadline: float) -> None:
        context = ssl.create_default_context()
        context.sslsocket_class = _DeadlineSSLSocket
        super().__init__(host, port, timeout=_remaining(deadline), context=context)
        self._addresses, self._deadline, self._tls = addresses, deadline, context

    def connect(self) -> None:
        raw = self._connected()
        try:
            tls = self._tls.wrap_socket(
                raw, server_hostname=self.host, do_handshake_on_connect=False
            )
        except BaseException:
            raw.close()
            raise
        self.sock = tls  # closed by close(), whatever happens next
        assert isinstance(tls, _DeadlineSSLSocket)
        tls.deadline = self._deadline
        tls.settimeout(_remaining(self._deadline))
        tls.do_handshake()

    def _connected(self) -> socket.socket:
        """A TCP connection to the first checked address that answers, in resolver order."""
        failure: OSError | None = None
        for address in self._addresses:
            try:
                return socket.create_connection(
                    (address, self.port), timeout=_remaining(self._deadline)
                )
            except OSError as exc:
                failure = exc
        assert failure is not None
        raise failure


def _remaining(deadline: float) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("the fetch took too long")
    return remaining


def fetch_template(
    url: str,
    *,
    field: str,
    allow_private_hosts: bool,
    timeout: float = FETCH_TIMEOUT_SECONDS,
) -> str:
    """The template source at ``url``.

    Parameters
    ----------
    url:
        An ``https://`` URL.
    field:
        The setting being read, for errors.
    allow_private_hosts:
        The stack's ``AllowPrivateSmtpHosts``: the SSRF guard off.
    timeout:
        The whole fetch's bound, in seconds.

    Raises
    ------
    ConfigError
        ``template_remote_insecure`` (``http://``), ``template_remote_url_invalid``,
        ``template_remote_not_public`` (the SSRF guard), ``template_remote_failed`` (DNS, TCP,
        TLS, a status other than 200, a redirect, or the time bound), ``template_too_large`` or
        ``template_remote_not_text``.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "http":
        raise ConfigError(
            field,
            "template_remote_insecure",
            "http:// templates are refused: anyone between courier and the web server could "
            "rewrite the mail; serve the template over https://, or inline it as base64://",
        )
    try:
        host, port = parts.hostname, parts.port or 443
    except ValueError:
        host, port = None, 0
    if scheme != "https" or not host or parts.username is not None:
        raise ConfigError(
            field,
            "template_remote_url_invalid",
            "is not an https:// URL with a host (and without user:password@)",
        )
    deadline = time.monotonic() + timeout
    addresses = _checked_addresses(host, port, field=field, allow_private_hosts=allow_private_hosts)
    target = parts.path or "/"
    if parts.query:
        target += f"?{parts.query}"
    where = f"https://{host}{'' if port == 443 else f':{port}'}{parts.path or '/'}"
    connection: _PinnedHTTPSConnection | None = None
    try:
        connection = _PinnedHTTPSConnection(host, port, addresses=addresses, deadline=deadline)
        connection.request("GET", target, headers={"Accept": "text/plain, text/html, */*"})
        response = connection.getresponse()
        with response:
            body = _answer(response, field=field, where=where)
    except (OSError, http.client.HTTPException) as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
        if isinstance(exc, ssl.SSLCertVerificationError):
            reason = f"its certificate is not trusted ({exc.verify_message})"
        raise ConfigError(
            field,
            "template_remote_failed",
            f"{where} could not be fetched: {reason}; courier retries the project's mail "
            "until it can be (or inline the template as base64://)",
        ) from None
    finally:
        if connection is not None:
            connection.close()
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(field, "template_remote_not_text", f"{where} is not UTF-8 text") from None


def _checked_addresses(host: str, port: int, *, field: str, allow_private_hosts: bool) -> list[str]:
    try:
        addresses = resolve_addresses(host, port)
    except OSError as exc:
        raise ConfigError(
            field,
            "template_remote_failed",
            f"{host} does not resolve ({exc.strerror or type(exc).__name__})",
        ) from None
    refused = None if allow_private_hosts else first_not_public(addresses)
    if refused is not None:
        ip, reason = refused
        raise ConfigError(
            field,
            "template_remote_not_public",
            f"{host} resolves to {ip}, {reason}; courier only fetches templates from "
            "globally routable unicast addresses unless the stack parameter "
            "AllowPrivateSmtpHosts is true",
        )
    return addresses


def _answer(response: http.client.HTTPResponse, *, field: str, where: str) -> bytes:
    """The body of a 200 answer, at most :data:`MAX_TEMPLATE_BYTES` of it."""
    if response.status != 200:
        moved = f" to {response.getheader('Location')!r}" if 300 <= response.status < 400 else ""
        raise ConfigError(
            field,
            "template_remote_failed",
            f"{where} answered {response.status} {response.reason}{moved}; courier needs 200 "
            "with the template (redirects are not followed: give the final URL)",
        )
    chunks: list[bytes] = []
    size = 0
    while chunk := response.read1(_CHUNK):
        size += len(chunk)
        if size > MAX_TEMPLATE_BYTES:
            raise ConfigError(
                field,
                "template_too_large",
                f"{where} is larger than {MAX_TEMPLATE_BYTES // 1024} KiB: not a mail template",
            )
        chunks.append(chunk)
    return b"".join(chunks)
