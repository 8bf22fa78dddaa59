"""``smtplib.SMTP`` with every read and write bounded by a deadline, and UTF-8 credentials.

``smtplib`` bounds each socket operation by its ``timeout``: a server that sends its reply one
byte at a time, each byte inside the timeout, holds the client for as long as it likes. Here
all I/O goes through two choke points, :meth:`BoundedSMTP.send` and
:meth:`BoundedSMTP.getreply` (:meth:`BoundedSMTP.unprompted` reads too, but never waits), and
each gives the socket only the time left before the sooner of
two deadlines: ``timeout`` for this whole reply (or write), and :attr:`BoundedSMTP.deadline`
for the whole message (set by the transport from the invocation's remaining time).

Running out raises :class:`ReplyTimeout` or :class:`DeadlineReached` (both ``TimeoutError``);
the connection is closed, since a half-read reply leaves it unusable.

Two more departures from ``smtplib``, both where it is silent or wrong for courier:

* Implicit TLS is the same class with ``implicit_tls`` set, so the handshake is bounded too.
* AUTH encodes the user and password as UTF-8 (RFC 4616 for PLAIN), where ``smtplib`` raises
  an untyped ``UnicodeEncodeError`` that holds the whole password; :meth:`BoundedSMTP.auth_reply`
  returns a refusal instead of raising it (a token login decides what a refusal means).
* A STARTTLS reply followed by more bytes before the handshake (a plaintext injection, as in
  CVE-2011-0411) is refused: those bytes would be read as if they came over TLS.
* A server that ends the connection after the TLS handshake, before its first reply over TLS,
  raises :class:`TlsRefused`, not a plain disconnect: under TLS 1.3 the client's side of the
  handshake is over before the server has checked the client certificate, so a server that
  wants one (or refuses the one presented) says so only by an alert or a hang-up here.

Example
-------
>>> connection = BoundedSMTP(timeout=10, local_hostname="app.example.com")  # doctest: +SKIP
>>> connection.deadline = Deadline.after(25)  # doctest: +SKIP
>>> connection.connect("smtp.example.com", 587)  # doctest: +SKIP
(220, b'smtp.example.com ESMTP')
"""

from __future__ import annotations

import base64
import hmac
import smtplib
import socket
import ssl
from typing import Any

from courier.deadline import Deadline

__all__ = [
    "BoundedSMTP",
    "ConnectTimeout",
    "DeadlineReached",
    "ReplyTimeout",
    "StartTlsInjection",
    "TlsRefused",
]

_MAXLINE = 8192  # smtplib's bound on a reply line
_MAX_REPLY_LINES = 100
_MAX_CHALLENGES = 5
_CHUNK = 65536


class ReplyTimeout(TimeoutError):
    """One reply (or one write) took longer than the connection's ``timeout``."""


class ConnectTimeout(ReplyTimeout):
    """The TCP connection (or the implicit-TLS handshake) was not made in time."""


class DeadlineReached(TimeoutError):
    """The message's deadline passed (the invocation must stop soon)."""


class StartTlsInjection(smtplib.SMTPException):
    """The server sent bytes after its STARTTLS reply, before the TLS handshake."""


class TlsRefused(smtplib.SMTPServerDisconnected):
    """The server ended the connection after the TLS handshake, before its first reply."""


class BoundedSMTP(smtplib.SMTP):
    """An SMTP client connection whose every read and write ends by a deadline.

    Parameters
    ----------
    timeout:
        Seconds one reply (all of its lines) or one write may take.
    local_hostname:
        The name given in EHLO.
    implicit_tls:
        Wrap the socket in TLS right after connecting (``smtps://``).
    """

    def __init__(
        self, *, timeout: float, local_hostname: str, implicit_tls: ssl.SSLContext | None = None
    ) -> None:
        super().__init__(local_hostname=local_hostname, timeout=timeout)
        self.implicit_tls = implicit_tls
        self.deadline = Deadline.never()
        """The deadline of the message (or of the messages of a session) being sent; the
        transport sets it."""
        self.written = 0
        """How many bytes of the last :meth:`send` the socket took: all of them, unless it
        raised (then what went out before the failure)."""
        self._inbox = bytearray()
        self._tls_unconfirmed = False
        """TLS is up, but no reply has come over it: the server may still refuse the session."""

    # The two choke points of all I/O.

    def send(self, s: str | bytes) -> None:  # type: ignore[override]
        """Write ``s`` in full before the deadline."""
        self.written = 0
        if self.sock is None:
            raise smtplib.SMTPServerDisconnected("please run connect() first")
        data = s.encode(self.command_encoding) if isinstance(s, str) else s
        until = self._operation_deadline()
        with memoryview(data) as view:
            while self.written < len(view):
                self._arm(until)
                try:
                    self.written += self.sock.send(view[self.written : self.written + _CHUNK])
                except TimeoutError:
                    self.close()
                    raise self._timeout(until) from None
                except OSError as exc:
                    error = self._lost(exc, f"Server not connected: {exc}")
                    self.close()
                    raise error from exc

    def getreply(self) -> tuple[int, bytes]:
        """Read one reply, all of its lines, before the deadline.

        Returns ``(code, text)`` as ``smtplib`` does: ``code`` is -1 when the reply does not
        start with three digits; the lines' texts are joined with ``\\n``.
        """
        until = self._operation_deadline()
        lines: list[bytes] = []
        while True:
            line = self._read_line(until)
            lines.append(line[4:].strip(b" \t\r\n"))
            try:
                code = int(line[:3])
            except ValueError:
                lines[-1] = line.strip()[:200]  # show what came instead of a reply
                return -1, b"\n".join(lines)
            if line[3:4] != b"-":
                return code, b"\n".join(lines)
            if len(lines) >= _MAX_REPLY_LINES:
                self.close()  # the rest of the reply would be read as the next ones
                return -1, f"a reply of more than {_MAX_REPLY_LINES} lines".encode()

    def unprompted(self) -> bool:
        """Whether the server has sent something, or closed the connection, that no command
        asked for: read at once, without waiting; what came is left for :meth:`getreply`."""
        if self._inbox or self.sock is None:
            return True
        self.sock.settimeout(0.0)
        try:
            chunk = self.sock.recv(_CHUNK)
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return False  # nothing (a TLS record that holds no data, at most)
        except OSError:
            return True  # reset: the next read says so
        if chunk:
            self._inbox += chunk
        return True

    # Connecting, TLS and AUTH, bounded the same way.

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        until = self._operation_deadline()
        self._host = host
        self._inbox.clear()
        try:
            sock = socket.create_connection((host, port), self._time_left(until))
        except TimeoutError:
            raise ConnectTimeout(f"could not connect within {self._time_limit(until)}") from None
        if self.implicit_tls is None:
            return sock
        try:
            sock.settimeout(self._time_left(until))  # the handshake, as one operation
            tls = self.implicit_tls.wrap_socket(sock, server_hostname=host)
            self._tls_unconfirmed = True
            return tls
        except TimeoutError:
            sock.close()
            raise ConnectTimeout(
                f"the TLS handshake did not end within {self._time_limit(until)}"
            ) from None
        except BaseException:
            sock.close()
            raise

    def starttls(  # type: ignore[override]
        self, *, context: ssl.SSLContext | None = None
    ) -> tuple[int, bytes]:
        if context is None:
            raise ValueError("a TLS context is required")
        code, reply = self.docmd("STARTTLS")
        if code != 220:
            raise smtplib.SMTPResponseException(code, reply)
        if self._inbox:
            self.close()
            raise StartTlsInjection(
                "the server sent data after its STARTTLS reply, before the TLS handshake"
            )
        assert self.sock is not None
        until = self._operation_deadline()
        self._arm(until)
        try:
            self.sock = context.wrap_socket(self.sock, server_hostname=self._host)
        except TimeoutError:
            self.close()
            raise self._timeout(until) from None
        self._tls_unconfirmed = True
        # RFC 3207 §4.2: forget what the server said before TLS.
        self.helo_resp = self.ehlo_resp = None
        self.esmtp_features = {}
        self.does_esmtp = False
        return code, reply

    def auth(
        self, mechanism: str, authobject: Any, *, initial_response_ok: bool = True
    ) -> tuple[int, bytes]:
        """``smtplib``'s AUTH exchange, with responses encoded as UTF-8 instead of ASCII."""
        mechanism = mechanism.upper()
        initial = authobject() if initial_response_ok else None
        # smtplib's auth_login() reads this count to tell the user prompt from the password's.
        if initial is not None:
            code, reply = self.docmd("AUTH", f"{mechanism} {_base64(initial)}")
            self._auth_challenge_count = 1
        else:
            code, reply = self.docmd("AUTH", mechanism)
            self._auth_challenge_count = 0
        while code == 334:
            self._auth_challenge_count += 1
            if self._auth_challenge_count > _MAX_CHALLENGES:
                raise smtplib.SMTPAuthenticationError(code, b"too many AUTH challenges")
            try:
                challenge = base64.b64decode(reply, validate=False)
            except ValueError:
                raise smtplib.SMTPAuthenticationError(
                    code, b"an AUTH challenge is not base64"
                ) from None
            code, reply = self.docmd(_base64(authobject(challenge)))
        if code in (235, 503):
            return code, reply
        raise smtplib.SMTPAuthenticationError(code, reply)

    def auth_reply(self, mechanism: str, authobject: Any) -> tuple[int, bytes]:
        """:meth:`auth`, returning the final reply whatever it is: ``(334, why)`` when the
        exchange went wrong on the client's side (too many challenges, one not base64)."""
        try:
            return self.auth(mechanism, authobject)
        except smtplib.SMTPAuthenticationError as exc:
            # Not raised on: the reply is the server's text, which may echo what was sent.
            reply = exc.smtp_error
            return exc.smtp_code, reply if isinstance(reply, bytes) else reply.encode()

    def auth_cram_md5(self, challenge: bytes | None = None) -> str | None:  # type: ignore[override]
        if challenge is None:
            return None
        digest = hmac.HMAC(self.password.encode("utf-8"), challenge, "md5").hexdigest()
        return f"{self.user} {digest}"

    def close(self) -> None:
        self._inbox.clear()
        self._tls_unconfirmed = False
        super().close()

    # Helpers.

    def _read_line(self, until: Deadline) -> bytes:
        while True:
            end = self._inbox.find(b"\n")
            if end >= 0:
                line = bytes(self._inbox[: end + 1])
                del self._inbox[: end + 1]
                self._tls_unconfirmed = False
                return line
            if len(self._inbox) > _MAXLINE:
                self.close()
                raise smtplib.SMTPResponseException(500, b"Line too long.")
            if self.sock is None:
                raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
            self._arm(until)
            try:
                chunk = self.sock.recv(_CHUNK)
            except TimeoutError:
                self.close()
                raise self._timeout(until) from None
            except OSError as exc:
                error = self._lost(exc, f"Connection unexpectedly closed: {exc}")
                self.close()
                raise error from exc
            if not chunk:
                error = self._lost(None, "Connection unexpectedly closed")
                self.close()
                raise error
            self._inbox += chunk

    def _lost(self, exc: OSError | None, message: str) -> smtplib.SMTPServerDisconnected:
        """The error for a connection that is gone: :class:`TlsRefused` right after TLS."""
        if not self._tls_unconfirmed:
            return smtplib.SMTPServerDisconnected(message)
        if isinstance(exc, ssl.SSLError):
            return TlsRefused(
                f"the server ended TLS before its first reply ({exc.reason or exc.strerror})"
            )
        return TlsRefused(
            "the server closed the connection right after the TLS handshake, before its first reply"
        )

    def _operation_deadline(self) -> Deadline:
        return self.deadline.sooner(self.timeout)

    def _arm(self, until: Deadline) -> None:
        assert self.sock is not None
        self.sock.settimeout(self._time_left(until))

    def _time_left(self, until: Deadline) -> float:
        left = until.remaining()
        if left <= 0:
            self.close()
            raise self._timeout(until)
        return left

    def _timeout(self, until: Deadline) -> TimeoutError:
        if until.at >= self.deadline.at:
            return DeadlineReached(
                "no complete answer before the message's deadline (the time the invocation had "
                "left for it)"
            )
        return ReplyTimeout(f"no complete answer within {self.timeout:g}s")

    def _time_limit(self, until: Deadline) -> str:
        return "the message's deadline" if until.at >= self.deadline.at else f"{self.timeout:g}s"


def _base64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")
