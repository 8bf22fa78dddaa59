"""One bounded, guarded HTTPS request: the one way courier speaks HTTP to a host a project names.

Two callers: :mod:`courier.remote_templates` (``GET`` of an ``https://`` template) and
:mod:`courier.oauth` (``POST`` to an OAuth 2.0 token endpoint). Each request is guarded as an
SMTP connection is:

* only ``https://``, without ``user:password@``;
* the host's addresses checked by the SSRF guard (:func:`courier.network.first_not_public`,
  unless the stack's ``AllowPrivateSmtpHosts``), and the connection made to an address that was
  checked, with SNI and the certificate name of the URL's host (a DNS answer that changes after
  the check cannot slip another address in);
* the certificate verified against the system trust store (``SSL_CERT_FILE`` or
  ``SSL_CERT_DIR`` point it elsewhere), TLS 1.2 or newer;
* one request, no redirect followed (a ``3xx`` is an answer like any other);
* the whole exchange (connecting, TLS, the request and the whole answer) within one deadline;
* at most ``max_bytes`` of the answer read.

Failures are this module's own exceptions (:class:`HttpsFailure` and its kinds), which never
leave courier: each caller turns them into its own errors, ``from None``. None of them quotes
the request's body, a header or the query; they name the URL as ``https://host[:port]/path``.

Example
-------
>>> answer = https_request("https://example.com/", allow_private_hosts=False,
...                        timeout=5.0, max_bytes=65536)  # doctest: +SKIP
>>> answer.status, answer.complete  # doctest: +SKIP
(200, True)
"""

from __future__ import annotations

import http.client
import os
import socket
import ssl
import time
from collections.abc import Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from courier.network import IPAddress, first_not_public, resolve_addresses

__all__ = [
    "ExchangeFailedError",
    "HostNotPublicError",
    "HostUnresolvedError",
    "HttpsAnswer",
    "HttpsFailure",
    "HttpsTarget",
    "HttpsUrlError",
    "https_request",
    "https_target",
]

_CHUNK = 16 * 1024


# Plain classes, not dataclasses: this module is imported at every cold start (a dataclass
# costs about 0.4 ms to create).


class HttpsTarget:
    """An ``https://`` URL, parsed: what is connected to and what errors may show.

    Attributes
    ----------
    host, port:
        Where to connect (``port`` 443 unless the URL gives one).
    target:
        The request target: path and query.
    where:
        ``https://host[:port]/path``, without the query: for messages.
    """

    __slots__ = ("host", "port", "target", "where")

    def __init__(self, *, host: str, port: int, target: str, where: str) -> None:
        self.host, self.port, self.target, self.where = host, port, target, where

    def __repr__(self) -> str:
        return f"HttpsTarget({self.where!r})"


class HttpsAnswer:
    """The server's answer, whatever its status.

    Attributes
    ----------
    where:
        The URL asked, as :attr:`HttpsTarget.where` (without the query).
    status, reason:
        The status line (``200``, ``"OK"``).
    headers:
        The headers, by lower-case name (the last of a repeated one).
    body:
        The body, at most ``max_bytes`` of it (not in ``repr``).
    complete:
        ``False``: the body was longer than ``max_bytes`` and was cut there.
    """

    __slots__ = ("body", "complete", "headers", "reason", "status", "where")

    def __init__(
        self,
        *,
        where: str,
        status: int,
        reason: str,
        headers: Mapping[str, str],
        body: bytes,
        complete: bool = True,
    ) -> None:
        self.where, self.status, self.reason = where, status, reason
        self.headers, self.body, self.complete = headers, body, complete

    def __repr__(self) -> str:
        return f"<HttpsAnswer {self.status} from {self.where}, {len(self.body)} bytes>"


class HttpsFailure(Exception):
    """A request that got no answer, or that courier would not make.

    Never leaves courier: callers translate it into their own errors.

    Attributes
    ----------
    where:
        The URL as ``https://host[:port]/path`` (or ``None`` for a URL that is not one).
    reason:
        What happened, for a person; never a secret.
    """

    def __init__(self, reason: str, *, where: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.where = where


class HttpsUrlError(HttpsFailure):
    """Not an ``https://`` URL with a host and without ``user:password@``.

    Attributes
    ----------
    insecure:
        It is an ``http://`` URL.
    """

    def __init__(self, reason: str, *, insecure: bool) -> None:
        super().__init__(reason)
        self.insecure = insecure


class HostUnresolvedError(HttpsFailure):
    """The host name does not resolve (transient: DNS can recover)."""

    def __init__(self, reason: str, *, where: str, host: str) -> None:
        super().__init__(reason, where=where)
        self.host = host


class HostNotPublicError(HttpsFailure):
    """The SSRF guard refused an address the host resolves to.

    Attributes
    ----------
    host, ip:
        The name and the refused address.
    reason:
        Why, as :func:`courier.network.why_not_public` says (``"a loopback address"``).
    """

    def __init__(self, reason: str, *, where: str, host: str, ip: IPAddress) -> None:
        super().__init__(reason, where=where)
        self.host = host
        self.ip = ip


class ExchangeFailedError(HttpsFailure):
    """TCP, TLS, the request or the answer failed, or the deadline passed.

    Attributes
    ----------
    timed_out:
        The deadline passed (or a socket timed out).
    refused:
        The connection was refused (nothing listens there).
    """

    def __init__(
        self, reason: str, *, where: str, timed_out: bool = False, refused: bool = False
    ) -> None:
        super().__init__(reason, where=where)
        self.timed_out = timed_out
        self.refused = refused


def https_target(url: str) -> HttpsTarget:
    """Parse ``url`` without any I/O.

    Raises
    ------
    HttpsUrlError
        It is ``http://`` (``insecure``), or not an ``https://`` URL with a host and a valid
        port, or it carries ``user:password@``.

    Example
    -------
    >>> https_target("https://login.example.com/t/oauth2/v2.0/token?x=1").where
    'https://login.example.com/t/oauth2/v2.0/token'
    """
    if not isinstance(url, str):
        raise HttpsUrlError("is not a URL (text)", insecure=False)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "http":
        raise HttpsUrlError("is an http:// URL", insecure=True)
    try:
        host, port = parts.hostname, parts.port or 443
    except ValueError:
        host, port = None, 0
    if scheme != "https" or not host or parts.username is not None or parts.fragment:
        raise HttpsUrlError(
            "is not an https:// URL with a host (and without user:password@ or #fragment)",
            insecure=False,
        )
    if any(char.isspace() or not char.isprintable() for char in url):
        raise HttpsUrlError("contains whitespace or control characters", insecure=False)
    target = parts.path or "/"
    if parts.query:
        target += f"?{parts.query}"
    where = f"https://{host}{'' if port == 443 else f':{port}'}{parts.path or '/'}"
    return HttpsTarget(host=host, port=port, target=target, where=where)


def https_request(
    url: str,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    allow_private_hosts: bool,
    timeout: float,
    max_bytes: int,
) -> HttpsAnswer:
    """Make one request to ``url`` and read its answer, within ``timeout`` seconds in all.

    Parameters
    ----------
    url:
        An ``https://`` URL.
    method, body, headers:
        The request (``body`` and ``headers`` are never quoted by any error).
    allow_private_hosts:
        The stack's ``AllowPrivateSmtpHosts``: the SSRF guard off.
    timeout:
        The whole exchange's bound, in seconds.
    max_bytes:
        The most of the answer's body that is read (:attr:`HttpsAnswer.complete` says whether
        there was more).

    Returns
    -------
    HttpsAnswer
        The answer, whatever its status (a redirect is not followed).

    Raises
    ------
    HttpsUrlError, HostUnresolvedError, HostNotPublicError, ExchangeFailedError
        See each; never with the body, a header or the query in its message.
    """
    parsed = https_target(url)
    deadline = time.monotonic() + timeout
    where = parsed.where
    addresses = _checked_addresses(parsed, allow_private_hosts=allow_private_hosts)
    connection: _PinnedHTTPSConnection | None = None
    try:
        connection = _PinnedHTTPSConnection(
            parsed.host, parsed.port, addresses=addresses, deadline=deadline
        )
        connection.request(method, parsed.target, body=body, headers=dict(headers or {}))
        response = connection.getresponse()
        with response:
            content, complete = _read(response, max_bytes)
            return HttpsAnswer(
                where=where,
                status=response.status,
                reason=response.reason,
                headers={name.lower(): value for name, value in response.getheaders()},
                body=content,
                complete=complete,
            )
    except (OSError, http.client.HTTPException) as exc:
        failure = _exchange_failure(exc, where)
    finally:
        if connection is not None:
            connection.close()
    # Raised outside the except block: the library's exception is not kept as __context__.
    raise failure


def _exchange_failure(exc: BaseException, where: str) -> ExchangeFailedError:
    if isinstance(exc, TimeoutError):
        return ExchangeFailedError("timed out", where=where, timed_out=True)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return ExchangeFailedError(
            f"its certificate is not trusted ({exc.verify_message})", where=where
        )
    if isinstance(exc, ConnectionRefusedError):
        return ExchangeFailedError("the connection was refused", where=where, refused=True)
    if isinstance(exc, ssl.SSLError):
        return ExchangeFailedError(f"TLS failed ({exc.reason or type(exc).__name__})", where=where)
    if isinstance(exc, ConnectionError | http.client.RemoteDisconnected):
        return ExchangeFailedError("the server closed the connection", where=where)
    return ExchangeFailedError(type(exc).__name__, where=where)


def _checked_addresses(parsed: HttpsTarget, *, allow_private_hosts: bool) -> list[str]:
    try:
        addresses = resolve_addresses(parsed.host, parsed.port)
    except OSError as exc:
        reason = f"{parsed.host} does not resolve ({exc.strerror or type(exc).__name__})"
        unresolved = HostUnresolvedError(reason, where=parsed.where, host=parsed.host)
    else:
        refused = None if allow_private_hosts else first_not_public(addresses)
        if refused is None:
            return addresses
        ip, why = refused
        raise HostNotPublicError(why, where=parsed.where, host=parsed.host, ip=ip)
    raise unresolved


def _read(response: http.client.HTTPResponse, max_bytes: int) -> tuple[bytes, bool]:
    """At most ``max_bytes`` of the body, and whether that was all of it."""
    chunks: list[bytes] = []
    size = 0
    while chunk := response.read1(min(_CHUNK, max_bytes + 1 - size)):
        size += len(chunk)
        chunks.append(chunk)
        if size > max_bytes:
            return b"".join(chunks)[:max_bytes], False
    return b"".join(chunks), True


class _DeadlineSSLSocket(ssl.SSLSocket):
    """A TLS socket whose every read ends by :attr:`deadline`: a server that drips its answer
    a byte at a time cannot keep the exchange going past its bound."""

    deadline: float = float("inf")

    def recv_into(self, buffer: Any, nbytes: int | None = None, flags: int = 0) -> int:
        self.settimeout(_remaining(self.deadline))
        return super().recv_into(buffer, nbytes, flags)

    def sendall(self, data: Any, flags: int = 0) -> None:
        self.settimeout(_remaining(self.deadline))
        super().sendall(data, flags)


@lru_cache(maxsize=8)
def _context(trust_store: tuple[str | None, str | None]) -> ssl.SSLContext:
    """One client context per process and trust store location (loading the system store
    costs tens of ms of CPU); ``SSL_CERT_FILE`` may point elsewhere later in a process."""
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.sslsocket_class = _DeadlineSSLSocket
    return context


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """An HTTPS connection to one checked address, with SNI and the certificate name of the
    URL's host."""

    def __init__(self, host: str, port: int, *, addresses: list[str], deadline: float) -> None:
        trust_store = (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
        context = _context(trust_store)
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
        raise TimeoutError("the exchange took too long")
    return remaining
