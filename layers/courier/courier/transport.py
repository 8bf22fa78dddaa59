"""SMTP delivery in exactly the security mode a connection URI names.

:class:`Transport` follows Django's SMTP backend: building one checks its settings and does no
I/O; :meth:`~Transport.open` starts a session (and says whether it did),
:meth:`~Transport.send_all` sends many messages over it and yields each one's result,
:meth:`~Transport.send` sends one (and raises its error), :meth:`~Transport.close` ends it and
never raises, and ``with`` keeps one session for many messages.

When the server offers PIPELINING, :meth:`~Transport.send_all` takes one round trip a message
(RFC 2920 §3.1): a message's content and final dot leave in one write with the next message's
MAIL, RCPT and DATA, and the replies to all of them are read before the next write. Each reply
is still the verdict on its own message and step: a refusal ends that message only (RSET), and
a session that ends while the next message's commands are unanswered gives that message an
error that says it was not accepted. Without PIPELINING each command waits for its reply.

Three rules are never bent, whatever the server offers:

* ``smtp://`` requires STARTTLS: a server that does not offer it gets no AUTH, no MAIL and no
  message byte in cleartext.
* ``disable_starttls=true`` never upgrades, even when the server offers STARTTLS.
* AUTH is sent only after TLS in every mode but ``disable_starttls``.
* A client certificate is presented in every TLS mode; a URI that never speaks TLS with a
  client certificate is refused when the transport is built (Kratos would send without it).

Every read and write of a session ends by the deadline given to :meth:`~Transport.open`,
:meth:`~Transport.send` or :meth:`~Transport.send_all` (:mod:`courier.smtp_client`), not only by
the per-reply timeout.

Every ``smtplib``, ``ssl`` and socket failure leaves this module as an
:class:`~courier.errors.SmtpError` that names the step and the reply, and says whether the
whole message had been sent when the connection was lost (``maybe_accepted``).
"""

from __future__ import annotations

import re
import smtplib
import socket
import ssl
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from functools import cached_property
from types import TracebackType
from typing import Any, Self

from courier.deadline import Deadline
from courier.errors import (
    ConfigError,
    CourierError,
    MessageError,
    SmtpConnectError,
    SmtpDisconnectedError,
    SmtpError,
    SmtpProtocolError,
    SmtpTimeoutError,
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

__all__ = ["OutgoingMail", "ReplyListener", "Transport", "build_ssl_context", "queue_id"]

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
_ACCEPTED = {Step.MAIL: {250}, Step.RCPT: {250, 251}, Step.DATA: {354}}
"""The replies that let a mail's MAIL, RCPT and DATA commands go on."""
_ENDED_UNANSWERED = "the session ended before the server answered"
_UNANSWERED_HINT = (
    "The session ended before the server answered this mail: nothing of it was accepted, and it "
    "can be sent again on a new session"
)

ReplyListener = Callable[[Step, int, str], None]
"""Called with ``(step, code, text)`` for each reply that moves a session on: the greeting
(``Step.CONNECT``), each EHLO, STARTTLS's (``Step.TLS``), AUTH's, and a message's MAIL and RCPT
replies and the final reply to its DATA (``354`` is not reported)."""


@dataclass(frozen=True, kw_only=True)
class OutgoingMail:
    """A mail ready for SMTP: the MIME message and its envelope."""

    email: EmailMessage
    sender: str
    recipient: str


@dataclass(frozen=True)
class _Prepared:
    """A mail as it goes over the session: its MAIL parameters and its serialized content."""

    mail: OutgoingMail
    options: tuple[str, ...]
    payload: bytes

    @property
    def commands(self) -> bytes:
        """MAIL, RCPT and DATA, as one group."""
        parameters = "".join(f" {option}" for option in self.options)
        text = (
            f"MAIL FROM:{smtplib.quoteaddr(self.mail.sender)}{parameters}\r\n"
            f"RCPT TO:{smtplib.quoteaddr(self.mail.recipient)}\r\n"
            "DATA\r\n"
        )
        return text.encode("utf-8" if "SMTPUTF8" in self.options else "ascii")


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

        The envelope is given apart from the headers, which are sent as they are. This is
        :meth:`send_all` with one mail, raising its error instead of returning it.

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
            take); nothing was sent (with CR/LF, not even a connection made).
        SmtpError
            The step that failed. After a refusal the session stays usable for the next
            message (a refused command is followed by RSET; a refused final dot ends the
            transaction by itself); after a timeout, a lost connection, a 421 or an answer that
            is not SMTP it is closed. An error with
            ``maybe_accepted`` came after the whole message was sent: the server may have kept
            it.
        """
        mail = OutgoingMail(email=message, sender=sender, recipient=recipient)
        _check_envelope(mail)
        [(_, result)] = self.send_all(iter((mail,)), deadline=deadline)
        if isinstance(result, CourierError):
            raise result
        return result

    def send_all(
        self, mails: Iterator[OutgoingMail], *, deadline: Deadline | None = None
    ) -> Iterator[tuple[OutgoingMail, str | CourierError]]:
        """Send each of ``mails`` over one session, opening it if needed; yield each mail with
        its result.

        With PIPELINING (RFC 2920 §3.1) a mail takes one round trip: its content and final dot
        go out in one write with the next mail's MAIL, RCPT and DATA, and then the replies to
        both are read. Without it, each command waits for its reply.

        Parameters
        ----------
        mails:
            Pulled one at a time, only when the next mail is about to be written (with
            PIPELINING: right before the previous mail's content, which waits for it), never
            more than one ahead. It may block.
        deadline:
            When all of it (opening the session included) must be done.

        Yields
        ------
        tuple[OutgoingMail, str | CourierError]
            Every mail pulled, in the order pulled, with the text of the server's ``250`` to
            its final dot, or its :class:`~courier.errors.MessageError` (nothing of it was
            sent) or :class:`~courier.errors.SmtpError` (as :meth:`send` raises it). A mail
            whose MAIL, RCPT and DATA were written but not all answered when the session ended
            (a timeout, a lost connection, a 421 to the mail before it) has an error at
            ``Step.MAIL`` that is not ``maybe_accepted`` and says the session ended before the
            server answered: it can be sent again on a new session. Once the session ended
            nothing more is pulled or yielded, and :attr:`is_open` is ``False``.

        Raises
        ------
        SmtpError, ConfigError
            The session could not be opened (when iteration starts; no mail was pulled).

        Notes
        -----
        Leaving the iteration early while a mail is half-way (the server waits for its
        content) closes the connection without a final dot: that mail was pulled but is
        neither sent nor yielded.

        Example
        -------
        >>> mail = OutgoingMail(email=message, sender=from_, recipient=to)  # doctest: +SKIP
        >>> for mail, result in transport.send_all(iter([mail])):  # doctest: +SKIP
        ...     print(mail.recipient, queue_id(result) if isinstance(result, str) else result)
        """
        self.open(deadline=deadline)
        connection = self.connection
        assert connection is not None
        connection.deadline = deadline or Deadline.never()
        if connection.has_extn("pipelining"):
            yield from self._pipelined(connection, mails)
        else:
            yield from self._step_by_step(connection, mails)

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

    # The two ways to send mails.

    def _step_by_step(
        self, connection: BoundedSMTP, mails: Iterator[OutgoingMail]
    ) -> Iterator[tuple[OutgoingMail, str | CourierError]]:
        """Each command, then its reply: for a server without PIPELINING."""
        for mail in mails:
            result: str | CourierError
            try:
                result = self._send_one(connection, self._prepare(mail))
            except (MessageError, SmtpError) as error:
                result = error
            yield mail, result
            if self.connection is not connection:
                return

    def _send_one(self, connection: BoundedSMTP, mail: _Prepared) -> str:
        try:
            sender, recipient = mail.mail.sender, mail.mail.recipient
            self._command(Step.MAIL, connection.mail, sender, list(mail.options))
            self._command(Step.RCPT, connection.rcpt, recipient)
            self._command(Step.DATA, connection.docmd, "DATA")
        except SmtpError as error:
            self._after_refusal(connection, error, data_started=False)
            raise
        with self._translate(Step.DATA, connection):
            connection.send(_data_section(mail.payload))
        try:
            return self._final_reply(connection)
        except SmtpError as error:
            self._survives(connection, error)
            raise

    def _pipelined(
        self, connection: BoundedSMTP, mails: Iterator[OutgoingMail]
    ) -> Iterator[tuple[OutgoingMail, str | CourierError]]:
        """One write a mail (RFC 2920 §3.1): the content and final dot of the mail the server
        said ``354`` to (``owed``), then the next mail's MAIL, RCPT and DATA; then the replies
        to both. At each yield the session is idle, or waits for ``owed``'s content."""
        owed: _Prepared | None = None
        exhausted = busy = False
        try:
            while True:
                unsendable: list[tuple[OutgoingMail, MessageError]] = []
                following: _Prepared | None = None
                while following is None and not exhausted:
                    mail = next(mails, None)
                    if mail is None:
                        exhausted = True
                    else:
                        try:
                            following = self._prepare(mail)
                        except MessageError as error:
                            unsendable.append((mail, error))
                            if owed is None:  # nothing waits for this mail: answer it now
                                yield unsendable.pop()
                if owed is None and following is None:
                    return
                busy = True
                finished, refused = self._round(connection, owed, following)
                owed = following if following is not None and refused is None else None
                busy = False
                if finished is not None:
                    yield finished
                yield from unsendable
                if following is not None and refused is not None:
                    yield following.mail, refused
                if self.connection is not connection:
                    return
        finally:
            if (busy or owed is not None) and self.connection is connection:
                self._forget(connection)  # the server waits for content it will not get

    def _round(
        self, connection: BoundedSMTP, owed: _Prepared | None, following: _Prepared | None
    ) -> tuple[tuple[OutgoingMail, str | SmtpError] | None, SmtpError | None]:
        """Write ``owed``'s content and ``following``'s commands as one group, then read the
        replies: ``owed``'s result, and ``following``'s error (``None``: it got ``354``)."""
        section = _data_section(owed.payload) if owed is not None else b""
        commands = following.commands if following is not None else b""
        finished: tuple[OutgoingMail, str | SmtpError] | None = None
        ended: SmtpError | None = None
        if owed is not None and connection.unprompted():
            # The server spoke out of turn (a 421, a hang-up) while its 354 waited: the content
            # does not go out, so it cannot have the mail.
            ended = self._out_of_turn(connection)
            finished = owed.mail, self._unanswered(ended)
            return finished, None if following is None else self._unanswered(ended)
        try:
            with self._translate(Step.MAIL if owed is None else Step.DATA, connection):
                connection.send(section + commands)
        except SmtpError as error:
            ended = error
            if owed is not None:
                # The write failed, but the final dot may have gone out before it did.
                error.maybe_accepted = connection.written >= len(section)
                finished = owed.mail, error
        else:
            if owed is not None:
                try:
                    finished = owed.mail, self._final_reply(connection)
                except SmtpError as error:
                    finished = owed.mail, error
                    ended = None if self._survives(connection, error) else error
        if following is None:
            return finished, None
        if ended is not None:
            return finished, self._unanswered(ended)
        return finished, self._envelope_replies(connection)

    def _envelope_replies(self, connection: BoundedSMTP) -> SmtpError | None:
        """Read the replies to a pipelined MAIL, RCPT and DATA; the first refusal, or the
        session's end before the ``354``, or ``None``. Each refusal is reported at its own
        step; after one the session is RSET."""
        replies: list[tuple[Step, int, bytes]] = []
        ended: SmtpError | None = None
        for step in (Step.MAIL, Step.RCPT, Step.DATA):
            try:
                with self._translate(step, connection):
                    code, reply = connection.getreply()
            except SmtpError as error:
                ended = error
                break
            replies.append((step, code, reply))
            if code in (_CLOSING, -1):
                # The server hangs up, or its replies cannot be told apart: the session is over.
                self._forget(connection)
                break
        for step, code, reply in replies:
            try:
                self._expect(step, _ACCEPTED[step], code, reply)
            except SmtpError as refusal:
                # A server that refused and then hung up is better described by its refusal.
                if ended is None:
                    started = replies[-1][:2] == (Step.DATA, 354)
                    self._after_refusal(connection, refusal, data_started=started)
                else:
                    self._survives(connection, ended)
                return refusal
            if step is not Step.DATA:
                self._heard(step, code, reply)
        if ended is None:
            return None
        self._survives(connection, ended)
        return self._unanswered(ended)

    # Replies and what follows them.

    def _final_reply(self, connection: BoundedSMTP) -> str:
        """The server's verdict on a message whose final dot was sent.

        From the final dot on, the server may keep the message even if its reply never
        comes: a failure from there on is ``maybe_accepted``.
        """
        with self._translate(Step.DATA, connection, maybe_accepted=True):
            code, reply = connection.getreply()
        self._expect(Step.DATA, {250}, code, reply, maybe_accepted=code == -1)
        self._heard(Step.DATA, code, reply)
        return reply.decode("utf-8", "replace")

    def _out_of_turn(self, connection: BoundedSMTP) -> SmtpError:
        """What the server said, or that it hung up, when it was not its turn; the session is
        over (its later replies could not be told apart)."""
        try:
            with self._translate(Step.DATA, connection):
                code, reply = connection.getreply()
            self._expect(Step.DATA, set(), code, reply)
        except SmtpError as error:
            self._forget(connection)
            return error
        raise AssertionError("no reply is expected")  # pragma: no cover

    def _survives(self, connection: BoundedSMTP, error: SmtpError) -> bool:
        """Whether the session goes on after ``error``: not after a 421, a reply that is not
        SMTP (the next ones could not be told apart), or a connection already closed."""
        closing = error.code == _CLOSING or isinstance(error, SmtpProtocolError)
        if closing or connection.sock is None:
            self._forget(connection)
        return self.connection is connection

    def _after_refusal(
        self, connection: BoundedSMTP, error: SmtpError, *, data_started: bool
    ) -> None:
        """End the refused transaction so the session can carry the next mail."""
        if not self._survives(connection, error) or error.code is None:
            return
        if data_started:
            # A server that starts DATA anyway gets an empty message without a recipient.
            try:
                with self._translate(Step.DATA, connection):
                    connection.send(b".\r\n")
                    connection.getreply()
            except SmtpError:
                return  # the session ended (and was forgotten); the refusal says the rest
        self._reset()

    def _unanswered(self, ended: SmtpError) -> SmtpError:
        """The error of a mail whose commands were written when the session ended with
        ``ended``: at MAIL, not accepted (no content of it was sent), to be sent again."""
        if ended.code == _CLOSING:
            error = step_error(
                Step.MAIL, _CLOSING, ended.reply, endpoint=self._endpoint, hint=_UNANSWERED_HINT
            )
        else:
            detail = ended.reply if ended.code is None else f"{ended.code} {ended.reply}"
            kind = (
                SmtpTimeoutError if isinstance(ended, SmtpTimeoutError) else SmtpDisconnectedError
            )
            error = kind(
                f"{_ENDED_UNANSWERED}: {detail}",
                endpoint=self._endpoint,
                step=Step.MAIL,
                hint=ended.hint,
            )
        error.__cause__ = ended
        return error

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

    def _prepare(self, mail: OutgoingMail) -> _Prepared:
        """The mail as it will go over this session; a MessageError if it cannot."""
        _check_envelope(mail)
        payload = mail.email.as_bytes(policy=SMTP_POLICY)
        options = self._mail_options(mail.sender, mail.recipient, payload)
        return _Prepared(mail, tuple(options), payload)

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

    def _command(self, step: Step, command: Any, *args: Any) -> None:
        assert self.connection is not None
        with self._translate(step, self.connection):
            code, reply = command(*args)
        self._expect(step, _ACCEPTED[step], code, reply)
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
            code, _ = self.connection.rset()
        except (smtplib.SMTPException, OSError):
            self._forget(self.connection)
            return
        if code == _CLOSING:
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


def _check_envelope(mail: OutgoingMail) -> None:
    """Refuse an envelope address that cannot go into an SMTP command."""
    for name, address in (("sender", mail.sender), ("recipient", mail.recipient)):
        if any(c in address for c in "\r\n\0") or not address:
            raise MessageError(name, "envelope_address_invalid", f"{address!r} is invalid")


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
