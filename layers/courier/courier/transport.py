"""SMTP delivery in exactly the security mode a connection URI names.

:class:`Transport` follows Django's SMTP backend: building one checks its settings and does no
I/O; :meth:`~Transport.open` starts a session (and says whether it did), :meth:`~Transport.send`
sends one message over it, :meth:`~Transport.close` ends it and never raises, and ``with`` keeps
one session for many messages.

Three rules are never bent, whatever the server offers:

* ``smtp://`` requires STARTTLS: a server that does not offer it gets no AUTH, no MAIL and no
  message byte in cleartext.
* ``disable_starttls=true`` never upgrades, even when the server offers STARTTLS.
* AUTH is sent only after TLS in every mode but ``disable_starttls``.
* A client certificate is presented in every TLS mode; a URI that never speaks TLS with a
  client certificate is refused when the transport is built (Kratos would send without it).

Every read and write of a message's session ends by the message's deadline
(:mod:`courier.smtp_client`), not only by the per-reply timeout.

Every ``smtplib``, ``ssl`` and socket failure leaves this module as an
:class:`~courier.errors.SmtpError` that names the step and the reply, and says whether the
whole message had been sent when the connection was lost (``maybe_accepted``).
"""

from __future__ import annotations

import re
import smtplib
import socket
import ssl
from collections.abc import Callable
from contextlib import AbstractContextManager
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from functools import cached_property
from types import TracebackType
from typing import Any, Self

from courier.deadline import Deadline
from courier.errors import (
    ConfigError,
    MessageError,
    SmtpConnectError,
    SmtpError,
    SmtpTlsError,
    Step,
    step_error,
)
from courier.network import resolve_smtp_host
from courier.ports import IMPLICIT_TLS_PORTS, port_list
from courier.smtp_client import BoundedSMTP
from courier.smtp_failures import check_reply, translated
from courier.tls import (
    CLIENT_CERT_FIELD,
    ClientCertificate,
    build_ssl_context,
    check_client_certificate_mode,
)
from courier.uri import ConnectionUri, Security

__all__ = ["ReplyListener", "Transport", "build_ssl_context", "queue_id"]

_LEADING_DOT = re.compile(rb"^\.", re.MULTILINE)
_QUEUE_ID = (
    re.compile(r"\bqueued as\s+<?([A-Za-z0-9](?:[\w.@=-]*[A-Za-z0-9])?)", re.IGNORECASE),  # Postfix
    re.compile(r"\bid=<?([A-Za-z0-9](?:[\w.@=-]*[A-Za-z0-9])?)", re.IGNORECASE),  # Exim
)
_ENHANCED_STATUS = re.compile(r"^2\.\d{1,3}\.\d{1,3}\s*")
_ID_WORD = re.compile(r"[A-Za-z0-9][\w.@=-]{4,}[A-Za-z0-9]")
_QUIT_SECONDS = 1.0
"""QUIT is a courtesy: the session is over whatever the server answers."""
_CLOSING = 421
"""RFC 5321 §3.8: the server is closing the session."""

ReplyListener = Callable[[Step, int, str], None]
"""Called with ``(step, code, text)`` for each reply that moves a session on: the greeting
(``Step.CONNECT``), each EHLO, STARTTLS's (``Step.TLS``), AUTH's, and a message's MAIL and RCPT
replies and the final reply to its DATA (``354`` is not reported)."""


class Transport:
    """One SMTP session at a time with the server of a :class:`ConnectionUri`.

    Parameters
    ----------
    uri:
        Where to connect, how to secure the session and whom to AUTH as.
    timeout:
        Seconds each step may take: the connection, the TLS handshake, each write and each
        whole reply. A message's deadline (``deadline=`` of :meth:`open` and :meth:`send`)
        bounds all of them together.
    local_hostname:
        The name given in EHLO.
    allow_private_hosts:
        Connect to hosts on private, loopback or link-local addresses (the SSRF guard off).
    on_reply:
        Told each reply that moves a session on (:data:`ReplyListener`), e.g. to report a
        session step by step.
    client_certificate:
        The certificate (mTLS) to present in the TLS handshake, checked by
        :func:`~courier.tls.load_client_certificate`.

    Raises
    ------
    ConfigError
        ``timeout_not_positive``, ``local_name_invalid``, or ``client_cert_without_tls`` (a
        client certificate with ``disable_starttls=true``).

    Example
    -------
    >>> uri = ConnectionUri.parse("smtps://user:secret@smtp.example.com/")
    >>> with Transport(uri, timeout=10) as transport:  # doctest: +SKIP
    ...     transport.send(message, sender="no-reply@example.com", recipient="a@example.org")
    """

    def __init__(
        self,
        uri: ConnectionUri,
        *,
        timeout: float,
        local_hostname: str = "localhost",
        allow_private_hosts: bool = False,
        on_reply: ReplyListener | None = None,
        client_certificate: ClientCertificate | None = None,
    ) -> None:
        if not timeout > 0:
            raise ConfigError("timeout", "timeout_not_positive", f"{timeout!r} must be > 0")
        if not local_hostname or any(c.isspace() for c in local_hostname):
            raise ConfigError(
                "smtp.local_name",
                "local_name_invalid",
                f"{local_hostname!r} is not a host name to give in EHLO",
            )
        check_client_certificate_mode(uri, client_certificate, field=CLIENT_CERT_FIELD)
        self.uri = uri
        self.timeout = timeout
        self.local_hostname = local_hostname
        self.allow_private_hosts = allow_private_hosts
        self.on_reply = on_reply
        self.client_certificate = client_certificate
        self.connection: BoundedSMTP | None = None
        self._endpoint = uri.redacted()

    @cached_property
    def ssl_context(self) -> ssl.SSLContext:
        """The TLS policy, shared by implicit TLS and STARTTLS."""
        return build_ssl_context(self.uri, self.client_certificate)

    @property
    def is_open(self) -> bool:
        """Whether a session is open."""
        return self.connection is not None

    def open(self, *, deadline: Deadline | None = None) -> bool:
        """Connect, secure the session as the URI says, EHLO and AUTH.

        Parameters
        ----------
        deadline:
            When all of it must be done; only the per-step ``timeout`` bounds it otherwise.

        Returns
        -------
        bool
            ``True`` if a session was opened, ``False`` if one was open already.

        Raises
        ------
        SmtpError
            The step that failed; the socket is closed.
        """
        if self.connection is not None:
            return False
        connection = self._connect(deadline or Deadline.never())
        try:
            self._ehlo(connection)
            if self.uri.security is Security.STARTTLS:
                self._starttls(connection)
                self._ehlo(connection)
            if self.uri.credentials is not None:
                self._login(connection, *self.uri.credentials)
        except BaseException:
            connection.close()
            raise
        self.connection = connection
        return True

    def close(self, *, deadline: Deadline | None = None) -> None:
        """End the session with QUIT (waiting at most a second, or until ``deadline``); never
        raises."""
        if self.connection is None:
            return
        self.connection.deadline = (deadline or Deadline.never()).sooner(_QUIT_SECONDS)
        try:
            self.connection.quit()
        except (smtplib.SMTPException, OSError):
            self.connection.close()
        finally:
            self.connection = None

    def send(
        self,
        message: EmailMessage,
        *,
        sender: str,
        recipient: str,
        deadline: Deadline | None = None,
    ) -> str:
        """Send ``message`` from the envelope ``sender`` to ``recipient``, opening if needed.

        The envelope is given apart from the headers, which are sent as they are.

        Parameters
        ----------
        deadline:
            When the whole message (opening the session included) must be done.

        Returns
        -------
        str
            The text of the server's ``250`` to the message (its queue id, often).

        Raises
        ------
        MessageError
            The envelope cannot be put into SMTP commands (CR/LF, non-ASCII the server cannot
            take); nothing was sent.
        SmtpError
            The step that failed. After a refusal the session stays usable for the next
            message; after a timeout, a lost connection or a 421 it is closed. An error with
            ``maybe_accepted`` came after the whole message was sent: the server may have kept
            it.
        """
        for name, address in (("sender", sender), ("recipient", recipient)):
            if any(c in address for c in "\r\n\0") or not address:
                raise MessageError(name, "envelope_address_invalid", f"{address!r} is invalid")
        self.open(deadline=deadline)
        assert self.connection is not None
        self.connection.deadline = deadline or Deadline.never()
        payload = message.as_bytes(policy=SMTP_POLICY)
        options = self._mail_options(sender, recipient, payload)
        try:
            if self.connection.has_extn("pipelining"):
                return self._send_pipelined(sender, recipient, options, payload)
            self._command(Step.MAIL, {250}, self.connection.mail, sender, options)
            self._command(Step.RCPT, {250, 251}, self.connection.rcpt, recipient)
            self._command(Step.DATA, {354}, self.connection.docmd, "DATA")
            return self._send_content(payload)
        except SmtpError as error:
            if error.code == _CLOSING and self.connection is not None:
                self._forget(self.connection)
            elif error.code is not None and self.connection is not None:
                self._reset()
            raise

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # The steps of a session.

    def _connect(self, deadline: Deadline) -> BoundedSMTP:
        addresses = resolve_smtp_host(
            self.uri.host,
            self.uri.port,
            allow_private=self.allow_private_hosts,
            endpoint=self._endpoint,
        )
        error: SmtpConnectError | None = None
        for address, port in addresses:
            connection = self._new_connection()
            connection.deadline = deadline
            try:
                with self._translate(Step.CONNECT, connection):
                    code, greeting = connection.connect(address, port)
            except SmtpConnectError as exc:
                error = exc  # try the host's next address
                continue
            try:
                self._expect(Step.CONNECT, {220}, code, greeting)
            except SmtpError:
                connection.close()
                raise
            # Each command is a small write: don't let Nagle's algorithm hold one back.
            if connection.sock is not None:
                connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._heard(Step.CONNECT, code, greeting)
            return connection
        assert error is not None
        raise error

    def _new_connection(self) -> BoundedSMTP:
        implicit = self.uri.security is Security.IMPLICIT_TLS
        return BoundedSMTP(
            timeout=self.timeout,
            local_hostname=self.local_hostname,
            implicit_tls=self.ssl_context if implicit else None,
        )

    def _ehlo(self, connection: smtplib.SMTP) -> None:
        with self._translate(Step.EHLO, connection):
            code, reply = connection.ehlo()
        self._expect(Step.EHLO, {250}, code, reply)
        self._heard(Step.EHLO, code, reply)

    def _starttls(self, connection: smtplib.SMTP) -> None:
        if not connection.has_extn("starttls"):
            raise SmtpTlsError(
                "the server does not offer STARTTLS, and smtp:// never falls back to cleartext",
                endpoint=self._endpoint,
                hint="If the port expects TLS from the first byte (such as "
                f"{port_list(IMPLICIT_TLS_PORTS)}), use smtps://; to send in cleartext on "
                "purpose, set disable_starttls=true",
            )
        with self._translate(Step.TLS, connection):
            code, reply = connection.starttls(context=self.ssl_context)
        self._heard(Step.TLS, code, reply)

    def _login(self, connection: smtplib.SMTP, username: str, password: str) -> None:
        if self.uri.uses_tls and not isinstance(connection.sock, ssl.SSLSocket):
            raise SmtpTlsError("refusing to AUTH before TLS", endpoint=self._endpoint)
        if not connection.has_extn("auth"):
            raise step_error(
                Step.AUTH,
                None,
                "the server offers no AUTH, but the connection URI has a user",
                endpoint=self._endpoint,
                hint="Remove the user and password from the URI if the server needs no login",
            )
        with self._translate(Step.AUTH, connection):
            code, reply = connection.login(username, password)
        self._heard(Step.AUTH, code, reply)

    def _heard(self, step: Step, code: int, reply: bytes) -> None:
        if self.on_reply is not None:
            self.on_reply(step, code, reply.decode("utf-8", "replace"))

    def _mail_options(self, sender: str, recipient: str, payload: bytes) -> list[str]:
        assert self.connection is not None
        options = []
        if not (sender.isascii() and recipient.isascii()):
            if not self.connection.has_extn("smtputf8"):
                raise MessageError(
                    "recipient" if sender.isascii() else "sender",
                    "envelope_needs_smtputf8",
                    "has non-ASCII characters, and the server does not support SMTPUTF8",
                )
            options.append("SMTPUTF8")
        if not payload.isascii() and self.connection.has_extn("8bitmime"):
            options.append("BODY=8BITMIME")
        return options

    def _send_pipelined(
        self, sender: str, recipient: str, options: list[str], payload: bytes
    ) -> str:
        """MAIL, RCPT and DATA in one write, then their three replies (RFC 2920): two round
        trips a message instead of four. Each refusal is still reported at its own step."""
        connection = self.connection
        assert connection is not None
        commands = (
            f"MAIL FROM:{smtplib.quoteaddr(sender)}{''.join(f' {o}' for o in options)}\r\n"
            f"RCPT TO:{smtplib.quoteaddr(recipient)}\r\n"
            "DATA\r\n"
        )
        with self._translate(Step.MAIL, connection):
            connection.send(commands.encode("utf-8" if "SMTPUTF8" in options else "ascii"))
        accepted = {Step.MAIL: {250}, Step.RCPT: {250, 251}}
        replies: dict[Step, tuple[int, bytes]] = {}
        try:
            for step in (Step.MAIL, Step.RCPT, Step.DATA):
                with self._translate(step, connection):
                    replies[step] = connection.getreply()
                if replies[step][0] == _CLOSING:
                    break  # the server hangs up: no further reply will come
        except SmtpError:
            # A server that refused MAIL and hung up is better described by its refusal.
            for step, reply in replies.items():
                self._expect(step, accepted[step], *reply)
            raise
        try:
            for step in (Step.MAIL, Step.RCPT):
                self._expect(step, accepted[step], *replies[step])
                self._heard(step, *replies[step])
        except SmtpError:
            if replies.get(Step.DATA, (0, b""))[0] == 354:
                # A server that starts DATA anyway gets an empty message without a recipient.
                with self._translate(Step.DATA, connection):
                    connection.send(b".\r\n")
                    connection.getreply()
            raise
        self._expect(Step.DATA, {354}, *replies[Step.DATA])
        return self._send_content(payload)

    def _send_content(self, payload: bytes) -> str:
        """The message after ``354``, then the server's verdict on it.

        Once the final dot is sent, the server may keep the message even if its reply never
        comes: a failure from there on is ``maybe_accepted``.
        """
        connection = self.connection
        assert connection is not None
        with self._translate(Step.DATA, connection):
            connection.send(_data_section(payload))
        with self._translate(Step.DATA, connection, maybe_accepted=True):
            code, reply = connection.getreply()
        self._expect(Step.DATA, {250}, code, reply, maybe_accepted=code == -1)
        self._heard(Step.DATA, code, reply)
        return reply.decode("utf-8", "replace")

    def _command(self, step: Step, accepted: set[int], command: Any, *args: Any) -> None:
        assert self.connection is not None
        with self._translate(step, self.connection):
            code, reply = command(*args)
        self._expect(step, accepted, code, reply)
        if step is not Step.DATA:
            self._heard(step, code, reply)

    def _expect(
        self,
        step: Step,
        accepted: set[int],
        code: int,
        reply: bytes,
        *,
        maybe_accepted: bool = False,
    ) -> None:
        check_reply(
            step, accepted, code, reply, endpoint=self._endpoint, maybe_accepted=maybe_accepted
        )

    def _reset(self) -> None:
        """Abandon the current transaction so the session can carry the next message."""
        assert self.connection is not None
        try:
            self.connection.rset()
        except (smtplib.SMTPException, OSError):
            self._forget(self.connection)

    def _translate(
        self, step: Step, connection: smtplib.SMTP, *, maybe_accepted: bool = False
    ) -> AbstractContextManager[None]:
        return translated(
            step,
            self.uri,
            endpoint=self._endpoint,
            on_lost=lambda: self._forget(connection),
            maybe_accepted=maybe_accepted,
        )

    def _forget(self, connection: smtplib.SMTP) -> None:
        connection.close()
        if connection is self.connection:
            self.connection = None


def _data_section(payload: bytes) -> bytes:
    """The message as sent after ``354``: leading dots doubled, ended by a lone dot."""
    body = _LEADING_DOT.sub(b"..", payload)
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    return body + b".\r\n"


def queue_id(reply: str | None) -> str | None:
    """The id a server gave a mail in its ``250`` to DATA (what :meth:`Transport.send`
    returns, with or without the code), or ``None`` if it gave none.

    Read leniently: ``queued as ID`` (Postfix), ``id=ID`` (Exim), otherwise the longest word
    with a digit in it (``Ok 0100018c...-000000``, Amazon SES).

    Example
    -------
    >>> queue_id("250 2.0.0 Ok: queued as ABC123"), queue_id("OK id=1rX2bC-000Abc-0d")
    ('ABC123', '1rX2bC-000Abc-0d')
    >>> queue_id("Ok 0100018c1b2a3d4e-5f6a7b8c-0000-000000"), queue_id("2.0.0 OK: queued")
    ('0100018c1b2a3d4e-5f6a7b8c-0000-000000', None)
    """
    if not reply:
        return None
    text = _ENHANCED_STATUS.sub("", reply.removeprefix("250").strip())
    for pattern in _QUEUE_ID:
        match = pattern.search(text)
        if match:
            return match[1][:128]
    words = [word.strip("<>()[],;:") for word in text.split()]
    found = [w for w in words if _ID_WORD.fullmatch(w) and any(c.isdigit() for c in w)]
    return max(found, key=len)[:128] if found else None
