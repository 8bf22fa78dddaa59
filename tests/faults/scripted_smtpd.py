"""A raw-socket SMTP server for fault tests, whose every reply a script can replace.

aiosmtpd (:mod:`local.smtpd`) is a well-behaved server; this one can also misbehave on cue:
send a bad greeting, drip a reply one byte at a time, never answer, or hang up after the
message's final dot. One daemon thread serves each connection, reading lines from a buffer (so
pipelined commands work) with a socket timeout, so an abandoned connection ends by itself.
Each session records its client's turns (:attr:`SessionRecord.turns`): what the client sent
each time the server had answered all it had read and waited, so a test can count round trips.

At each scripted point (:data:`POINTS`) the server calls the script with an :class:`Event`
before its normal reply; the script returns ``None`` (behave normally) or an action:
:class:`Reply`, :class:`Drip`, :class:`Hang` or :class:`Drop`. Scripts are called from the
connection threads, concurrently when clients are, so a script with state must lock it.

Example
-------
>>> def refuse_bob(event: Event) -> Action | None:  # doctest: +SKIP
...     if event.point == "RCPT" and "bob@" in event.argument:
...         return Reply("550 5.1.1 no such user")
...     if event.point == "dot" and event.session == 0:
...         return Drop(keep=True)  # accepted, but the client never hears so
...     return None
>>> with ScriptedSmtpServer(script=refuse_bob) as server:  # doctest: +SKIP
...     ...  # send mail to server.host, server.port; then look at server.mailbox
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import re
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from types import TracebackType
from typing import ClassVar, Literal, NoReturn, Self, TypeAlias

import trustme

__all__ = [
    "MAX_LINE",
    "MAX_MESSAGE",
    "POINTS",
    "Action",
    "Delivery",
    "Drip",
    "Drop",
    "Event",
    "Hang",
    "Mode",
    "Reply",
    "Script",
    "ScriptedSmtpServer",
    "SessionRecord",
]

Mode = Literal["plain", "starttls", "smtps"]

POINTS = ("greeting", "EHLO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA", "dot", "RSET", "QUIT")
"""Where the server calls the script (``"EHLO"`` is also used for HELO)."""

MAX_LINE = 8192
"""The longest command or message line, in bytes without its line ending."""

MAX_MESSAGE = 10 * 1024 * 1024
"""The largest message, in bytes after dot-unstuffing."""

_RECV_SIZE = 65536
_LINGER = 1.0
"""Seconds to read (and discard) what the client still sends after a closing reply."""
_STOP_JOIN = 2.0
"""Seconds ``stop()`` waits, in all, for the server's threads to end."""


@dataclass(frozen=True)
class Event:
    """What the client just did, as the script sees it.

    Attributes
    ----------
    point : str
        One of :data:`POINTS`.
    session : int
        The connection's 0-based index.
    argument : str
        The command's argument (``FROM:<a@b>``, ``TO:<x@y>``, the EHLO name, ...); ``""`` for
        the greeting; for ``"dot"``, the transaction's recipients joined by ``","``.
    recipients : tuple of str
        The recipients accepted so far in this transaction, as bare addresses.
    message : bytes or None
        For ``"dot"``, the message as received (dot-unstuffed); otherwise ``None``.
    """

    point: str
    session: int
    argument: str
    recipients: tuple[str, ...] = ()
    message: bytes | None = None


@dataclass(frozen=True)
class Reply:
    """Send ``text`` instead of the normal reply, each line ending in CRLF.

    The command takes effect (the recipient is added, the message is kept, TLS starts, ...)
    only if the normal reply would have been positive and ``text`` starts with the same digit
    (``2``, or ``3`` for DATA). After a reply starting with ``421`` the server closes the
    connection. At ``"AUTH"`` the reply replaces the whole exchange; nobody is authenticated.

    One exception makes a non-conforming server: a ``354`` to a DATA the server would refuse
    (no recipient, or no MAIL) starts a message anyway; its final dot is answered
    ``554 5.5.1 No valid recipients`` (unless the script says otherwise) and nothing is kept.
    """

    text: str


@dataclass(frozen=True)
class Drip:
    """Send ``text`` as :class:`Reply` does, one byte at a time, ``interval`` seconds apart.

    The command's effect is applied before the first byte, so a ``"250 ..."`` drip at ``"dot"``
    keeps the message even if the client gives up half-way.
    """

    text: str
    interval: float


@dataclass(frozen=True)
class Hang:
    """Never reply: read and discard until the client closes or the server stops."""


@dataclass(frozen=True)
class Drop:
    """Close the connection at once, without replying.

    ``keep=True`` applies the command's effect first: at ``"dot"``, the message goes into the
    mailbox (accepted, but the reply was lost); with ``keep=False`` it is discarded.
    """

    keep: bool = False


Action: TypeAlias = Reply | Drip | Hang | Drop
Script: TypeAlias = Callable[[Event], Action | None]


@dataclass(frozen=True)
class Delivery:
    """A message the server kept.

    Attributes
    ----------
    mail_from : str
        The MAIL FROM address (``""`` for the null sender).
    rcpt_tos : tuple of str
        The accepted recipients.
    content : bytes
        The message as received, dot-unstuffed, each line with its line ending.
    message_id : str or None
        The Message-ID header, if any.
    tls_version : str or None
        The TLS version the message arrived under; ``None`` in cleartext.
    session : int
        The 0-based index of the connection.
    auth_user : str or None
        Who the session had authenticated as, if anyone.
    """

    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes
    message_id: str | None
    tls_version: str | None
    session: int
    auth_user: str | None

    @property
    def message(self) -> EmailMessage:
        """The content, parsed with the default (modern) email policy."""
        parsed = message_from_bytes(self.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class SessionRecord:
    """One connection as the server saw it.

    Attributes
    ----------
    commands : list of (str, str or None)
        ``(verb, tls_version)`` of each command line, in order (verbs upper-cased, unknown ones
        included); ``tls_version`` is ``None`` in cleartext.
    auth_users : list of str
        The user name of each AUTH attempt that got as far as one, accepted or not.
    turns : list of list of str
        What the client sent in each of its turns. A turn ends when the server has answered
        all it has read and waits for more; it holds the verbs of the commands read in it,
        ``"."`` for a message's final dot and ``"answer"`` for an AUTH answer line. A client
        that waits for each reply has one item a turn; one pipelining has several.
    """

    commands: list[tuple[str, str | None]] = field(default_factory=list)
    auth_users: list[str] = field(default_factory=list)
    turns: list[list[str]] = field(default_factory=list)

    @property
    def verbs(self) -> list[str]:
        """The verbs of :attr:`commands`."""
        return [verb for verb, _ in self.commands]


class _Closed(Exception):
    """End the session; ``abrupt`` skips the lingering close."""

    def __init__(self, *, abrupt: bool) -> None:
        super().__init__()
        self.abrupt = abrupt


class _LineTooLong(Exception):
    """A line longer than :data:`MAX_LINE`; the reader discards the rest of it."""


class _LineReader:
    """Lines (with their endings) from a socket, through a buffer that may hold several.

    ``on_wait`` is called before each read that finds nothing left in the buffer.
    """

    def __init__(self, sock: socket.socket, on_wait: Callable[[], None]) -> None:
        self._sock = sock
        self._on_wait = on_wait
        self._buffer = bytearray()
        self._start = 0
        self._scanned = 0
        self._discarding = False

    def readline(self) -> bytes | None:
        """The next line, or ``None`` at end of file; raises :class:`_LineTooLong`."""
        while True:
            end = self._buffer.find(b"\n", self._scanned)
            if end >= 0:
                line = bytes(self._buffer[self._start : end + 1])
                self._start = self._scanned = end + 1
                if self._start > _RECV_SIZE:
                    del self._buffer[: self._start]
                    self._start = self._scanned = 0
                if self._discarding:
                    self._discarding = False
                    continue
                if len(line.rstrip(b"\r\n")) > MAX_LINE:
                    raise _LineTooLong
                return line
            self._scanned = len(self._buffer)
            if self._discarding or self._scanned - self._start > MAX_LINE + 2:
                self._buffer.clear()
                self._start = self._scanned = 0
                if not self._discarding:
                    self._discarding = True
                    raise _LineTooLong
            if self._start == len(self._buffer):
                self._on_wait()
            chunk = self._sock.recv(_RECV_SIZE)
            if not chunk:
                return None
            self._buffer += chunk


def _address(argument: str, keyword: str) -> str | None:
    """The address in ``FROM:<a@b> ...`` / ``TO:<x@y> ...`` (brackets optional), or None."""
    match = re.match(rf"{keyword}\s*:\s*(?:<([^<>]*)>|([^\s<>]+))", argument, re.IGNORECASE)
    if match is None:
        return None
    return match[1] if match[1] is not None else match[2]


def _b64(text: str) -> bytes | None:
    if text == "=":
        return b""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _message_id(content: bytes) -> str | None:
    value = BytesHeaderParser(policy=policy.default).parsebytes(content)["Message-ID"]
    return None if value is None else str(value).strip()


def _shutdown(sock: socket.socket, how: int) -> None:
    # socket.socket's own shutdown: SSLSocket.shutdown would also drop its SSL object under a
    # thread that may be reading with it.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, how)


class _Session:
    """One client connection, served by its own thread."""

    def __init__(self, server: ScriptedSmtpServer, index: int, sock: socket.socket) -> None:
        self.server = server
        self.index = index
        self.sock = sock
        self.record = SessionRecord()
        self.thread = threading.Thread(
            target=self.run, name=f"scripted-smtpd-{server.port}-{index}", daemon=True
        )
        self._reader = _LineReader(sock, self._wait)
        self._replied = False
        """The server has sent something since the client's turn began."""
        self._tls = False
        self._greeted = False
        self._auth_user: str | None = None
        self._mail_from: str | None = None
        self._recipients: list[str] = []

    # The connection.

    def run(self) -> None:
        try:
            if self.server.mode == "smtps":
                self._start_tls()
            self._respond("greeting", "", f"220 {self.server.host} ESMTP scripted_smtpd")
            while True:
                try:
                    line = self._reader.readline()
                except _LineTooLong:
                    self._send("500 5.5.2 Line too long")
                    continue
                if line is None:
                    return
                self._command(line)
        except _Closed as closed:
            if not closed.abrupt:
                self._linger()
        except OSError:
            pass  # the client went away, timed out, or failed the TLS handshake; or stop()
        except Exception as error:  # a script's bug, or the server's: the test should see it
            self.server._record_error(error)
        finally:
            self.sock.close()
            self.server._ended(self)

    def _linger(self) -> None:
        """Half-close, then drain: closing with unread data would reset the connection, and
        the client could lose the reply it has not read yet."""
        _shutdown(self.sock, socket.SHUT_WR)
        deadline = time.monotonic() + _LINGER
        try:
            while (left := deadline - time.monotonic()) > 0:
                self.sock.settimeout(left)
                if not socket.socket.recv(self.sock, _RECV_SIZE):
                    return
        except OSError:
            pass

    def _start_tls(self) -> None:
        context = self.server._tls_context
        assert context is not None
        with self.server._lock:
            # Checked under the lock stop() takes to shut every socket down: either stop() sees
            # the TLS socket, or this sees that the server is stopping.
            if self.server._stopping.is_set():
                raise _Closed(abrupt=True)
            self.sock = context.wrap_socket(
                self.sock, server_side=True, do_handshake_on_connect=False
            )
        assert isinstance(self.sock, ssl.SSLSocket)
        self.sock.do_handshake()
        self._tls = True
        self._reader = _LineReader(self.sock, self._wait)  # drops cleartext sent after STARTTLS

    @property
    def _tls_version(self) -> str | None:
        return self.sock.version() if isinstance(self.sock, ssl.SSLSocket) else None

    # Replies and scripted actions.

    def _send(self, text: str) -> None:
        self._replied = True
        self.sock.sendall(self._encode(text))

    # The client's turns.

    def _wait(self) -> None:
        """The server has read all the client sent: a new turn begins if it has answered."""
        if self._replied:
            self._replied = False
            with self.server._lock:
                self.record.turns.append([])

    def _note(self, item: str) -> None:
        with self.server._lock:
            if not self.record.turns:
                self.record.turns.append([])
            self.record.turns[-1].append(item)

    @staticmethod
    def _encode(text: str) -> bytes:
        return b"".join(line.encode() + b"\r\n" for line in text.splitlines() or [""])

    def _script(self, point: str, argument: str, message: bytes | None = None) -> Action | None:
        script = self.server.script
        if script is None:
            return None
        action = script(Event(point, self.index, argument, tuple(self._recipients), message))
        if action is not None and not isinstance(action, Reply | Drip | Hang | Drop):
            raise TypeError(f"the script returned {action!r} at {point!r}, not an action")
        return action

    def _respond(
        self,
        point: str,
        argument: str,
        reply: str,
        effect: Callable[[], None] | None = None,
        message: bytes | None = None,
    ) -> bool:
        """Call the script, then give ``reply`` (or what it said instead).

        ``effect`` is what the command does when accepted (``None`` when ``reply`` refuses
        it); it runs before the reply goes out, so the records are complete when the client
        reads it. Returns whether the command took effect.
        """
        action = self._script(point, argument, message)
        if action is None:
            if effect is not None:
                effect()
            self._send(reply)
            return effect is not None
        return self._perform(action, effect, reply[:1])

    def _perform(self, action: Action, effect: Callable[[], None] | None, positive: str) -> bool:
        if isinstance(action, Hang):
            self._hang()
        if isinstance(action, Drop):
            if action.keep and effect is not None:
                effect()
            _shutdown(self.sock, socket.SHUT_RDWR)
            raise _Closed(abrupt=True)
        applied = effect is not None and action.text.startswith(positive)
        if applied and effect is not None:
            effect()
        if isinstance(action, Drip):
            self._drip(self._encode(action.text), action.interval)
        else:
            self._send(action.text)
        if action.text.startswith("421"):
            raise _Closed(abrupt=False)
        return applied

    def _drip(self, data: bytes, interval: float) -> None:
        self._replied = True
        for position in range(len(data)):
            if position and self.server._stopping.wait(interval):
                raise _Closed(abrupt=True)
            self.sock.sendall(data[position : position + 1])

    def _hang(self) -> NoReturn:
        while not self.server._stopping.is_set():
            try:
                if not self.sock.recv(_RECV_SIZE):
                    break
            except TimeoutError:
                continue  # the read timeout is for abandoned clients; this one is waiting
        raise _Closed(abrupt=True)

    # Commands.

    def _command(self, line: bytes) -> None:
        text = line.rstrip(b"\r\n").decode("utf-8", "replace")
        verb, _, argument = text.partition(" ")
        verb, argument = verb.upper(), argument.strip()
        with self.server._lock:
            self.record.commands.append((verb, self._tls_version))
        self._note(verb)
        handler = self._HANDLERS.get(verb)
        if handler is None:
            self._send("500 5.5.2 Command not recognized")
        else:
            handler(self, argument)

    def _reset_transaction(self) -> None:
        self._mail_from = None
        self._recipients = []

    def _ehlo(self, argument: str, *, extended: bool = True) -> None:
        verb = "EHLO" if extended else "HELO"
        if not argument:
            self._respond("EHLO", argument, f"501 5.5.4 Syntax: {verb} hostname")
            return
        lines = [f"{self.server.host} Hello {argument}"]
        if extended:
            mode, tls = self.server.mode, self._tls
            if self.server.pipelining:
                lines.append("PIPELINING")
            lines += ["8BITMIME", "SMTPUTF8"]
            if mode != "starttls" or tls:
                lines.append("AUTH PLAIN LOGIN")
            if mode == "starttls" and not tls:
                lines.append("STARTTLS")
        reply = "\n".join(
            f"250{' ' if number == len(lines) - 1 else '-'}{line}"
            for number, line in enumerate(lines)
        )

        def greet() -> None:
            self._greeted = True
            self._reset_transaction()

        self._respond("EHLO", argument, reply, greet)

    def _helo(self, argument: str) -> None:
        self._ehlo(argument, extended=False)

    def _starttls(self, argument: str) -> None:
        if self.server.mode != "starttls":
            self._respond("STARTTLS", argument, "502 5.5.1 STARTTLS not offered")
        elif self._tls:
            self._respond("STARTTLS", argument, "503 5.5.1 TLS already active")
        elif self._respond("STARTTLS", argument, "220 2.0.0 Ready to start TLS", lambda: None):
            self._start_tls()
            self._greeted = False
            self._auth_user = None
            self._reset_transaction()

    def _auth(self, argument: str) -> None:
        if not self._greeted:
            self._respond("AUTH", argument, "503 5.5.1 EHLO first")
            return
        if self.server.mode == "starttls" and not self._tls:
            self._respond("AUTH", argument, "530 5.7.0 Must issue a STARTTLS command first")
            return
        if self._auth_user is not None:
            self._respond("AUTH", argument, "503 5.5.1 Already authenticated")
            return
        action = self._script("AUTH", argument)
        if action is not None:
            self._perform(action, None, "2")
            return
        mechanism, _, initial = argument.partition(" ")
        mechanism, initial = mechanism.upper(), initial.strip()
        if mechanism == "PLAIN":
            self._auth_plain(initial)
        elif mechanism == "LOGIN":
            self._auth_login(initial)
        else:
            self._send("504 5.5.4 Unrecognized authentication type")

    def _challenge(self, text: str) -> bytes | None:
        """Send a 334 challenge; the client's decoded answer, or None (already replied to)."""
        self._send(f"334 {text}")
        try:
            line = self._reader.readline()
        except _LineTooLong:
            self._send("500 5.5.2 Line too long")
            return None
        if line is None:
            raise _Closed(abrupt=True)
        self._note("answer")
        answer = line.strip().decode("ascii", "replace")
        if answer == "*":
            self._send("501 5.7.0 Authentication cancelled")
            return None
        decoded = _b64(answer)
        if decoded is None:
            self._send("501 5.5.2 Cannot decode response")
        return decoded

    def _auth_plain(self, initial: str) -> None:
        if initial:
            credentials = _b64(initial)
            if credentials is None:
                self._send("501 5.5.2 Cannot decode response")
                return
        else:
            credentials = self._challenge("")
            if credentials is None:
                return
        parts = credentials.split(b"\0")
        if len(parts) != 3:
            self._send("501 5.5.2 Malformed PLAIN response")
            return
        self._check_login(parts[1], parts[2])

    def _auth_login(self, initial: str) -> None:
        if initial:
            user = _b64(initial)
            if user is None:
                self._send("501 5.5.2 Cannot decode response")
                return
        else:
            user = self._challenge(base64.b64encode(b"Username:").decode())
            if user is None:
                return
        password = self._challenge(base64.b64encode(b"Password:").decode())
        if password is not None:
            self._check_login(user, password)

    def _check_login(self, raw_user: bytes, raw_password: bytes) -> None:
        try:
            user, password = raw_user.decode(), raw_password.decode()
        except UnicodeDecodeError:
            self._send("501 5.5.2 Credentials are not UTF-8")
            return
        with self.server._lock:
            self.record.auth_users.append(user)
        if user == self.server.username and password == self.server.password:
            self._auth_user = user
            self._send("235 2.7.0 Authentication successful")
        else:
            self._send("535 5.7.8 Authentication credentials invalid")

    def _mail(self, argument: str) -> None:
        address = _address(argument, "FROM")
        effect: Callable[[], None] | None = None
        if not self._greeted:
            reply = "503 5.5.1 EHLO first"
        elif self._mail_from is not None:
            reply = "503 5.5.1 Nested MAIL command"
        elif address is None:
            reply = "501 5.5.4 Syntax: MAIL FROM:<address>"
        else:
            reply, effect = "250 2.1.0 OK", functools.partial(self._open_transaction, address)
        self._respond("MAIL", argument, reply, effect)

    def _open_transaction(self, mail_from: str) -> None:
        self._mail_from = mail_from

    def _rcpt(self, argument: str) -> None:
        address = _address(argument, "TO")
        effect: Callable[[], None] | None = None
        if self._mail_from is None:
            reply = "503 5.5.1 MAIL first"
        elif not address:
            reply = "501 5.5.4 Syntax: RCPT TO:<address>"
        else:
            reply, effect = "250 2.1.5 OK", functools.partial(self._recipients.append, address)
        self._respond("RCPT", argument, reply, effect)

    def _data(self, argument: str) -> None:
        if self._mail_from is not None and self._recipients:
            if self._respond("DATA", argument, "354 End data with <CR><LF>.<CR><LF>", lambda: None):
                self._receive_message()
            return
        refusal = (
            "503 5.5.1 MAIL first" if self._mail_from is None else "554 5.5.1 No valid recipients"
        )
        action = self._script("DATA", argument)
        if isinstance(action, Reply) and action.text.startswith("354"):
            self._send(action.text)  # non-conforming: a message without a recipient follows
            self._receive_message()
        elif action is None:
            self._send(refusal)
        else:
            self._perform(action, None, refusal[:1])

    def _receive_message(self) -> None:
        parts: list[bytes] = []
        size = 0
        error: str | None = None
        while True:
            try:
                line = self._reader.readline()
            except _LineTooLong:
                error = error or "500 5.5.2 Line too long"
                continue
            if line is None:
                raise _Closed(abrupt=True)
            if line in (b".\r\n", b".\n"):
                self._note(".")
                break
            if line.startswith(b"."):
                line = line[1:]
            size += len(line)
            if size > MAX_MESSAGE:
                error = error or "552 5.3.4 Message too big"
            if error is None:
                parts.append(line)
            else:
                parts.clear()
        if error is not None:
            self._reset_transaction()
            self._send(error)
            return
        content = b"".join(parts)
        if not self._recipients:  # started by a non-conforming 354
            refused = "554 5.5.1 No valid recipients"
            self._respond("dot", "", refused, message=content)
            self._reset_transaction()
            return
        delivery = Delivery(
            mail_from=self._mail_from or "",
            rcpt_tos=tuple(self._recipients),
            content=content,
            message_id=_message_id(content),
            tls_version=self._tls_version,
            session=self.index,
            auth_user=self._auth_user,
        )
        self._respond(
            "dot",
            ",".join(delivery.rcpt_tos),
            "250 2.0.0 OK",
            lambda: self.server._deliver(delivery),
            message=content,
        )
        self._reset_transaction()

    def _rset(self, argument: str) -> None:
        self._respond("RSET", argument, "250 2.0.0 OK", self._reset_transaction)

    def _noop(self, argument: str) -> None:
        self._send("250 2.0.0 OK")

    def _quit(self, argument: str) -> None:
        self._respond("QUIT", argument, "221 2.0.0 Bye")
        raise _Closed(abrupt=False)

    _HANDLERS: ClassVar[dict[str, Callable[[_Session, str], None]]] = {
        "EHLO": _ehlo,
        "HELO": _helo,
        "STARTTLS": _starttls,
        "AUTH": _auth,
        "MAIL": _mail,
        "RCPT": _rcpt,
        "DATA": _data,
        "RSET": _rset,
        "NOOP": _noop,
        "QUIT": _quit,
    }


class ScriptedSmtpServer:
    """An SMTP server on 127.0.0.1 (a free port), whose replies a script can replace.

    Parameters
    ----------
    mode : {"plain", "starttls", "smtps"}
        ``"plain"`` never offers STARTTLS; ``"starttls"`` offers it (and AUTH only after it);
        ``"smtps"`` starts TLS on connect.
    certificate : trustme.LeafCert or None
        The server's certificate; needed for ``"starttls"`` and ``"smtps"``.
    username, password : str
        The credentials AUTH PLAIN and AUTH LOGIN accept (compared as decoded UTF-8).
    pipelining : bool
        Whether EHLO offers PIPELINING (pipelined commands are read either way).
    script : Script or None
        Called at each of :data:`POINTS`; ``None`` behaves normally throughout.
    timeout : float
        Seconds a connection may stay silent while the server waits for a command.

    Notes
    -----
    ``start()`` serves; ``stop()`` (or leaving the ``with`` block) closes the listening socket
    and every connection, interrupting drips and hangs. The records (:attr:`mailbox`,
    :attr:`sessions`, :attr:`connections`, :attr:`errors`) are copies, safe to read while
    clients are connected.
    """

    def __init__(
        self,
        *,
        mode: Mode = "plain",
        certificate: trustme.LeafCert | None = None,
        username: str = "user",
        password: str = "secret",
        pipelining: bool = True,
        script: Script | None = None,
        timeout: float = 30.0,
    ) -> None:
        if mode not in ("plain", "starttls", "smtps"):
            raise ValueError(f"unknown mode {mode!r}")
        self.mode: Mode = mode
        self.username = username
        self.password = password
        self.pipelining = pipelining
        self.script = script
        self.timeout = timeout
        self._tls_context: ssl.SSLContext | None = None
        if mode != "plain":
            if certificate is None:
                raise ValueError(f"mode {mode!r} needs a certificate")
            self._tls_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            certificate.configure_cert(self._tls_context)

        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._mailbox: list[Delivery] = []
        self._sessions: list[SessionRecord] = []
        self._errors: list[BaseException] = []
        self._active: set[_Session] = set()
        self._accept_thread: threading.Thread | None = None

        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(socket.SOMAXCONN)
        self._listener.setblocking(False)
        self.host: str = "127.0.0.1"
        self.port: int = self._listener.getsockname()[1]
        # stop() writes to this to wake the accept loop out of select().
        self._wake_reader, self._wake_writer = socket.socketpair()

    # Lifecycle.

    def start(self) -> Self:
        """Start accepting connections; returns the server."""
        if self._accept_thread is not None or self._stopping.is_set():
            raise RuntimeError("the server was already started")
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name=f"scripted-smtpd-{self.port}", daemon=True
        )
        self._accept_thread.start()
        return self

    def stop(self) -> None:
        """Close the listening socket and every connection, and wait (briefly) for threads."""
        with self._lock:
            if self._stopping.is_set():
                return
            self._stopping.set()
            sessions = list(self._active)
        with contextlib.suppress(OSError):
            self._wake_writer.send(b"\0")
        for session in sessions:
            _shutdown(session.sock, socket.SHUT_RDWR)
        deadline = time.monotonic() + _STOP_JOIN
        threads = [session.thread for session in sessions]
        if self._accept_thread is not None:
            threads.append(self._accept_thread)
        for thread in threads:
            if thread.ident is not None:
                thread.join(max(0.0, deadline - time.monotonic()))
        self._listener.close()
        self._wake_reader.close()
        self._wake_writer.close()
        for session in sessions:
            session.sock.close()

    def __enter__(self) -> Self:
        return self if self._accept_thread is not None else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # Records.

    @property
    def mailbox(self) -> list[Delivery]:
        """The messages kept, in the order their final dots were accepted."""
        with self._lock:
            return list(self._mailbox)

    @property
    def sessions(self) -> list[SessionRecord]:
        """Every connection so far, by index."""
        with self._lock:
            return [
                SessionRecord(
                    list(record.commands),
                    list(record.auth_users),
                    [list(turn) for turn in record.turns],
                )
                for record in self._sessions
            ]

    @property
    def connections(self) -> int:
        """How many connections the server has accepted."""
        with self._lock:
            return len(self._sessions)

    @property
    def errors(self) -> list[BaseException]:
        """Exceptions raised by the script (or by the server itself) in connection threads.

        The connection is closed when one happens; a test should expect this to be empty.
        """
        with self._lock:
            return list(self._errors)

    # For the sessions.

    def _deliver(self, delivery: Delivery) -> None:
        with self._lock:
            self._mailbox.append(delivery)

    def _record_error(self, error: BaseException) -> None:
        with self._lock:
            self._errors.append(error)

    def _ended(self, session: _Session) -> None:
        with self._lock:
            self._active.discard(session)

    def _accept_loop(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            selector.register(self._wake_reader, selectors.EVENT_READ)
            while not self._stopping.is_set():
                selector.select()
                if self._stopping.is_set():
                    return
                try:
                    sock, _ = self._listener.accept()
                except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                    continue
                except OSError as error:  # out of file descriptors, say: back off, don't spin
                    self._record_error(error)
                    self._stopping.wait(0.05)
                    continue
                self._serve(sock)

    def _serve(self, sock: socket.socket) -> None:
        sock.settimeout(self.timeout)
        # Replies are small writes; Nagle's algorithm would hold back each one behind the
        # client's delayed ACK of the previous (pipelined replies, drips).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            if self._stopping.is_set():
                sock.close()
                return
            session = _Session(self, len(self._sessions), sock)
            self._sessions.append(session.record)
            self._active.add(session)
        session.thread.start()
