"""Mail transactions over an open SMTP session: one round trip a mail with PIPELINING.

:class:`Transactions` carries mails (MAIL, RCPT, DATA) over a session that
:mod:`courier.transport` opens and closes (connect, TLS in the URI's mode, EHLO, AUTH, QUIT):
:meth:`Transport.send_all <courier.transport.Transport.send_all>` creates one over its connection.

With PIPELINING (RFC 2920 §3.1) a mail's content and final dot leave in one write with the next
mail's MAIL, RCPT and DATA, and the replies to all of them are read before the next write. Each
reply is still the verdict on its own mail and step: a refusal ends that mail only (RSET), and a
session that ends while the next mail's commands are unanswered gives that mail an error that
says it was not accepted. Without PIPELINING each command waits for its reply.

What ends the session is decided here: after a 421, a reply that is not SMTP (the next ones
could not be told apart) or a lost connection, the connection is closed without QUIT and the
transport is no longer open.
"""

from __future__ import annotations

import re
import smtplib
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from courier.errors import (
    CourierError,
    MessageError,
    SmtpDisconnectedError,
    SmtpError,
    SmtpProtocolError,
    SmtpTimeoutError,
    Step,
    step_error,
)
from courier.headers import SMTP_POLICY
from courier.smtp_client import BoundedSMTP
from courier.smtp_failures import check_reply, translated

if TYPE_CHECKING:
    from courier.transport import Transport

__all__ = ["OutgoingMail", "Transactions", "check_envelope", "lost_before_final_dot", "queue_id"]

_LEADING_DOT = re.compile(rb"^\.", re.MULTILINE)
_QUEUE_ID = (
    re.compile(r"\bqueued as\s+<?([A-Za-z0-9](?:[\w.@=-]*[A-Za-z0-9])?)", re.IGNORECASE),  # Postfix
    re.compile(r"\bid=<?([A-Za-z0-9](?:[\w.@=-]*[A-Za-z0-9])?)", re.IGNORECASE),  # Exim
)
_ENHANCED_STATUS = re.compile(r"^2\.\d{1,3}\.\d{1,3}\s*")
_ID_WORD = re.compile(r"[A-Za-z0-9][\w.@=-]{4,}[A-Za-z0-9]")
_CLOSING = 421
"""RFC 5321 §3.8: the server is closing the session."""
_ACCEPTED = {Step.MAIL: {250}, Step.RCPT: {250, 251}, Step.DATA: {354}}
"""The replies that let a mail's MAIL, RCPT and DATA commands go on."""
_ENDED_UNANSWERED = "the session ended before the server answered"
_UNANSWERED_HINT = (
    "The session ended before the server answered this mail: nothing of it was accepted, and it "
    "can be sent again on a new session"
)


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


class Transactions:
    """The mails carried over one open session of ``transport``, on its ``connection``.

    Parameters
    ----------
    transport:
        The session's owner: its URI is named in errors, its ``on_reply`` hears each reply, and
        it is no longer open when the session ends here.
    connection:
        The transport's open connection, its deadline set.

    Example
    -------
    >>> carried = Transactions(transport, transport.connection)  # doctest: +SKIP
    >>> for mail, result in carried.send_all(iter([mail])):  # doctest: +SKIP
    ...     print(mail.recipient, result)
    """

    def __init__(self, transport: Transport, connection: BoundedSMTP) -> None:
        self._transport = transport
        self._connection = connection
        self._endpoint = transport.uri.redacted()

    def send_all(
        self, mails: Iterator[OutgoingMail]
    ) -> Iterator[tuple[OutgoingMail, str | CourierError]]:
        """Send each of ``mails``, pipelined if the server offers it; yield each mail with its
        result, as :meth:`Transport.send_all <courier.transport.Transport.send_all>` does."""
        if self._connection.has_extn("pipelining"):
            yield from self._pipelined(mails)
        else:
            yield from self._step_by_step(mails)

    # The two ways to send mails.

    def _step_by_step(
        self, mails: Iterator[OutgoingMail]
    ) -> Iterator[tuple[OutgoingMail, str | CourierError]]:
        """Each command, then its reply: for a server without PIPELINING."""
        for mail in mails:
            result: str | CourierError
            try:
                result = self._send_one(self._prepare(mail))
            except (MessageError, SmtpError) as error:
                result = error
            yield mail, result
            if not self._open:
                return

    def _send_one(self, mail: _Prepared) -> str:
        connection = self._connection
        try:
            sender, recipient = mail.mail.sender, mail.mail.recipient
            self._command(Step.MAIL, connection.mail, sender, list(mail.options))
            self._command(Step.RCPT, connection.rcpt, recipient)
            self._command(Step.DATA, connection.docmd, "DATA")
        except SmtpError as error:
            self._after_refusal(error, data_started=False)
            raise
        with self._translate(Step.DATA):
            connection.send(_data_section(mail.payload))
        try:
            return self._final_reply()
        except SmtpError as error:
            self._survives(error)
            raise

    def _pipelined(
        self, mails: Iterator[OutgoingMail]
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
                finished, refused = self._round(owed, following)
                owed = following if following is not None and refused is None else None
                busy = False
                if finished is not None:
                    yield finished
                yield from unsendable
                if following is not None and refused is not None:
                    yield following.mail, refused
                if not self._open:
                    return
        finally:
            if (busy or owed is not None) and self._open:
                self._end()  # the server waits for content it will not get

    def _round(
        self, owed: _Prepared | None, following: _Prepared | None
    ) -> tuple[tuple[OutgoingMail, str | SmtpError] | None, SmtpError | None]:
        """Write ``owed``'s content and ``following``'s commands as one group, then read the
        replies: ``owed``'s result, and ``following``'s error (``None``: it got ``354``)."""
        connection = self._connection
        section = _data_section(owed.payload) if owed is not None else b""
        commands = following.commands if following is not None else b""
        finished: tuple[OutgoingMail, str | SmtpError] | None = None
        ended: SmtpError | None = None
        if owed is not None and connection.unprompted():
            # The server spoke out of turn (a 421, a hang-up) while its 354 waited: the content
            # does not go out, so it cannot have the mail.
            ended = self._out_of_turn()
            finished = owed.mail, self._unanswered(ended)
            return finished, None if following is None else self._unanswered(ended)
        try:
            with self._translate(Step.MAIL if owed is None else Step.DATA):
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
                    finished = owed.mail, self._final_reply()
                except SmtpError as error:
                    finished = owed.mail, error
                    ended = None if self._survives(error) else error
        if following is None:
            return finished, None
        if ended is not None:
            return finished, self._unanswered(ended)
        return finished, self._envelope_replies()

    def _envelope_replies(self) -> SmtpError | None:
        """Read the replies to a pipelined MAIL, RCPT and DATA; the first refusal, or the
        session's end before the ``354``, or ``None``. Each refusal is reported at its own
        step; after one the session is RSET."""
        replies: list[tuple[Step, int, bytes]] = []
        ended: SmtpError | None = None
        for step in (Step.MAIL, Step.RCPT, Step.DATA):
            try:
                with self._translate(step):
                    code, reply = self._connection.getreply()
            except SmtpError as error:
                ended = error
                break
            replies.append((step, code, reply))
            if code in (_CLOSING, -1):
                # The server hangs up, or its replies cannot be told apart: the session is over.
                self._end()
                break
        for step, code, reply in replies:
            try:
                check_reply(step, _ACCEPTED[step], code, reply, endpoint=self._endpoint)
            except SmtpError as refusal:
                # A server that refused and then hung up is better described by its refusal.
                if ended is None:
                    started = replies[-1][:2] == (Step.DATA, 354)
                    self._after_refusal(refusal, data_started=started)
                else:
                    self._survives(ended)
                return refusal
            if step is not Step.DATA:
                self._heard(step, code, reply)
        if ended is None:
            return None
        self._survives(ended)
        return self._unanswered(ended)

    # Replies and what follows them.

    def _final_reply(self) -> str:
        """The server's verdict on a message whose final dot was sent.

        From the final dot on, the server may keep the message even if its reply never
        comes: a failure from there on is ``maybe_accepted``.
        """
        with self._translate(Step.DATA, maybe_accepted=True):
            code, reply = self._connection.getreply()
        check_reply(
            Step.DATA, {250}, code, reply, endpoint=self._endpoint, maybe_accepted=code == -1
        )
        self._heard(Step.DATA, code, reply)
        return reply.decode("utf-8", "replace")

    def _out_of_turn(self) -> SmtpError:
        """What the server said, or that it hung up, when it was not its turn; the session is
        over (its later replies could not be told apart)."""
        try:
            with self._translate(Step.DATA):
                code, reply = self._connection.getreply()
            check_reply(Step.DATA, set(), code, reply, endpoint=self._endpoint)
        except SmtpError as error:
            self._end()
            return error
        raise AssertionError("no reply is expected")  # pragma: no cover

    def _survives(self, error: SmtpError) -> bool:
        """Whether the session goes on after ``error``: not after a 421, a reply that is not
        SMTP (the next ones could not be told apart), or a connection already closed."""
        closing = error.code == _CLOSING or isinstance(error, SmtpProtocolError)
        if closing or self._connection.sock is None:
            self._end()
        return self._open

    def _after_refusal(self, error: SmtpError, *, data_started: bool) -> None:
        """End the refused transaction so the session can carry the next mail."""
        if not self._survives(error) or error.code is None:
            return
        if data_started:
            # A server that starts DATA anyway gets an empty message without a recipient.
            try:
                with self._translate(Step.DATA):
                    self._connection.send(b".\r\n")
                    self._connection.getreply()
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

    # The steps of a mail.

    def _prepare(self, mail: OutgoingMail) -> _Prepared:
        """The mail as it will go over this session; a MessageError if it cannot."""
        check_envelope(mail)
        payload = mail.email.as_bytes(policy=SMTP_POLICY)
        options = self._mail_options(mail.sender, mail.recipient, payload)
        return _Prepared(mail, tuple(options), payload)

    def _mail_options(self, sender: str, recipient: str, payload: bytes) -> list[str]:
        options = []
        if not (sender.isascii() and recipient.isascii()):
            if not self._connection.has_extn("smtputf8"):
                raise MessageError(
                    "recipient" if sender.isascii() else "sender",
                    "envelope_needs_smtputf8",
                    "has non-ASCII characters, and the server does not support SMTPUTF8",
                )
            options.append("SMTPUTF8")
        if not payload.isascii() and self._connection.has_extn("8bitmime"):
            options.append("BODY=8BITMIME")
        return options

    def _command(self, step: Step, command: Any, *args: Any) -> None:
        with self._translate(step):
            code, reply = command(*args)
        check_reply(step, _ACCEPTED[step], code, reply, endpoint=self._endpoint)
        if step is not Step.DATA:
            self._heard(step, code, reply)

    def _reset(self) -> None:
        """Abandon the current transaction so the session can carry the next message."""
        try:
            code, _ = self._connection.rset()
        except (smtplib.SMTPException, OSError):
            self._end()
            return
        if code == _CLOSING:
            self._end()

    # The session under the mails.

    @property
    def _open(self) -> bool:
        """Whether the session still runs on this connection (it may have been closed while a
        result was yielded)."""
        return self._transport.connection is self._connection

    def _end(self) -> None:
        """Close the connection without QUIT: the session is over, the transport closed."""
        self._connection.close()
        if self._open:
            self._transport.connection = None

    def _heard(self, step: Step, code: int, reply: bytes) -> None:
        if self._transport.on_reply is not None:
            self._transport.on_reply(step, code, reply.decode("utf-8", "replace"))

    def _translate(
        self, step: Step, *, maybe_accepted: bool = False
    ) -> AbstractContextManager[None]:
        return translated(
            step,
            self._transport.uri,
            endpoint=self._endpoint,
            on_lost=self._end,
            maybe_accepted=maybe_accepted,
        )


def check_envelope(mail: OutgoingMail) -> None:
    """Refuse an envelope address that cannot go into an SMTP command (a MessageError)."""
    for name, address in (("sender", mail.sender), ("recipient", mail.recipient)):
        if any(c in address for c in "\r\n\0") or not address:
            raise MessageError(name, "envelope_address_invalid", f"{address!r} is invalid")


def _data_section(payload: bytes) -> bytes:
    """The message as sent after ``354``: leading dots doubled, ended by a lone dot."""
    body = _LEADING_DOT.sub(b"..", payload)
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    return body + b".\r\n"


def lost_before_final_dot(error: SmtpError) -> bool:
    """Whether the server ended the session (a drop, or 421) before it had the mail's final
    dot: the server cannot have kept the mail, so it may be sent again over a new session."""
    return not error.maybe_accepted and (
        isinstance(error, SmtpDisconnectedError) or error.code == _CLOSING
    )


def queue_id(reply: str | None) -> str | None:
    """The id a server gave a mail in its ``250`` to DATA (what
    :meth:`Transport.send <courier.transport.Transport.send>` returns, with or without the
    code), or ``None`` if it gave none.

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
