"""The two references the handler is timed against, written without courier's transport.

* :func:`send_per_message`, **(a) the usual way**, as Ory Kratos's courier sends: plain
  :mod:`smtplib`, a new connection for every message (connect, EHLO, STARTTLS, EHLO, AUTH,
  MAIL, RCPT, DATA, the content, QUIT), every command waiting for its reply: no PIPELINING.
  ``TCP_NODELAY`` is set, as Go's ``net`` package sets it by default (without it, Nagle's
  algorithm holds the EHLO after STARTTLS for a round trip).
* :func:`send_pipelined`, **(b) the floor**: one connection (EHLO, STARTTLS, EHLO, AUTH), then
  MAIL+RCPT+DATA in one write, and for each message its content and final dot written together
  with the next message's MAIL+RCPT+DATA, the replies read after each write (RFC 2920): one
  round trip per message; then QUIT. It refuses a server that does not offer PIPELINING.
  :func:`send_pipelined_side_by_side` runs several such sessions at once, the mails shared
  among them: the floor of a client with as many sessions.

Both take mails serialized once (:class:`Mail`), check every reply, and raise
:class:`SmtpReferenceError` on any other.

Example
-------
>>> context = ssl.create_default_context()  # doctest: +SKIP
>>> send_pipelined(mails, account, context=context, local_name="bench.example")  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import re
import smtplib
import socket
import ssl
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

__all__ = [
    "Account",
    "Mail",
    "SmtpReferenceError",
    "round_trip",
    "send_per_message",
    "send_pipelined",
    "send_pipelined_side_by_side",
]

TIMEOUT = 10.0
_LEADING_DOT = re.compile(rb"(?m)^\.")
_REPLY_LINE = re.compile(rb"(\d{3})([ -])(.*)")


class SmtpReferenceError(RuntimeError):
    """A reference client got a reply it did not expect."""


@dataclass(frozen=True)
class Account:
    """Where a project's mail goes, and as whom."""

    host: str
    port: int
    username: str
    password: str


@dataclass(frozen=True)
class Mail:
    """A mail ready for SMTP: the envelope and the message as sent (CRLF lines)."""

    sender: str
    recipient: str
    content: bytes


def send_per_message(
    mails: Sequence[Mail],
    accounts: Sequence[Account],
    *,
    context: ssl.SSLContext,
    local_name: str,
) -> None:
    """(a): each of ``mails`` over a session of its own with ``accounts[n]``, one after
    another."""
    for mail, account in zip(mails, accounts, strict=True):
        connection = smtplib.SMTP(
            account.host, account.port, local_hostname=local_name, timeout=TIMEOUT
        )
        try:
            assert connection.sock is not None
            connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            _check(connection.ehlo(), 250)
            _check(connection.starttls(context=context), 220)
            _check(connection.ehlo(), 250)
            _check(connection.login(account.username, account.password), 235)
            refused = connection.sendmail(mail.sender, [mail.recipient], mail.content)
            if refused:
                raise SmtpReferenceError(f"refused: {refused}")
            _check(connection.quit(), 221)
        finally:
            connection.close()


def send_pipelined(
    mails: Sequence[Mail], account: Account, *, context: ssl.SSLContext, local_name: str
) -> None:
    """(b): all of ``mails`` over one pipelined session with ``account``."""
    session = _Session(socket.create_connection((account.host, account.port), TIMEOUT))
    try:
        session.expect(220)
        session.send(f"EHLO {local_name}\r\n".encode())
        session.expect(250)
        session.send(b"STARTTLS\r\n")
        session.expect(220)
        session.secure(context, account.host)
        session.send(f"EHLO {local_name}\r\n".encode())
        if b"PIPELINING" not in session.expect(250).upper().split():
            raise SmtpReferenceError("the server does not offer PIPELINING: no floor to measure")
        secret = f"\0{account.username}\0{account.password}".encode()
        session.send(b"AUTH PLAIN " + base64.b64encode(secret) + b"\r\n")
        session.expect(235)
        if mails:
            session.send(_envelope(mails[0]))
            session.expect(250, 250, 354)
        for index, mail in enumerate(mails):
            following = mails[index + 1] if index + 1 < len(mails) else None
            session.send(_data_section(mail.content) + (_envelope(following) if following else b""))
            session.expect(250)  # the message
            if following is not None:
                session.expect(250, 250, 354)
        session.send(b"QUIT\r\n")
        session.expect(221)
    finally:
        session.close()


def send_pipelined_side_by_side(
    mails: Sequence[Mail],
    account: Account,
    *,
    sessions: int,
    context: ssl.SSLContext,
    local_name: str,
) -> None:
    """(b) over ``sessions`` sessions at once, each with an even share of ``mails``."""
    shares = [mails[start::sessions] for start in range(sessions)]
    with ThreadPoolExecutor(max_workers=sessions) as pool:
        futures = [
            pool.submit(send_pipelined, share, account, context=context, local_name=local_name)
            for share in shares
            if share
        ]
        for future in futures:
            future.result()


def round_trip(host: str, port: int, *, count: int = 20) -> float:
    """Median seconds of ``count`` ``NOOP`` commands on one session: what a round trip
    through ``host:port`` really costs."""
    times: list[float] = []
    with smtplib.SMTP(host, port, timeout=TIMEOUT) as connection:
        assert connection.sock is not None
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(count):
            start = time.perf_counter()
            _check(connection.noop(), 250)
            times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


class _Session:
    """A socket with buffered reads of SMTP replies."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock: socket.socket = sock
        self._buffer = b""

    def send(self, data: bytes) -> None:
        self._sock.sendall(data)

    def secure(self, context: ssl.SSLContext, host: str) -> None:
        if self._buffer:
            raise SmtpReferenceError("data before the TLS handshake (RFC 3207 §5)")
        self._sock = context.wrap_socket(self._sock, server_hostname=host)

    def expect(self, *codes: int) -> bytes:
        """Read one reply per code, each of which must have that code; the last one's text."""
        text = b""
        for code in codes:
            got, text = self._reply()
            if got != code:
                raise SmtpReferenceError(f"expected {code}, got {got} {text!r}")
        return text

    def _reply(self) -> tuple[int, bytes]:
        lines: list[bytes] = []
        while True:
            line = self._line()
            match = _REPLY_LINE.fullmatch(line)
            if match is None:
                raise SmtpReferenceError(f"not an SMTP reply: {line!r}")
            lines.append(match[3])
            if match[2] == b" ":
                return int(match[1]), b"\n".join(lines)

    def _line(self) -> bytes:
        while b"\r\n" not in self._buffer:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise SmtpReferenceError("the server closed the connection")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\r\n", 1)
        return line

    def close(self) -> None:
        self._sock.close()


def _envelope(mail: Mail) -> bytes:
    return f"MAIL FROM:<{mail.sender}>\r\nRCPT TO:<{mail.recipient}>\r\nDATA\r\n".encode()


def _data_section(content: bytes) -> bytes:
    body = _LEADING_DOT.sub(b"..", content)
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    return body + b".\r\n"


def _check(reply: tuple[int, bytes], code: int) -> None:
    if reply[0] != code:
        raise SmtpReferenceError(f"expected {code}, got {reply[0]} {reply[1]!r}")
