"""From a parsed message and its project's configuration to a mail on the project's server.

:func:`compose` renders the template (or takes the pre-rendered parts) and builds the MIME mail;
:class:`Connections` keeps one :class:`~courier.transport.Transport` per project for a batch,
so all of a project's messages share one SMTP session, and opens it again once when the server
dropped it between two messages. A project whose session cannot be opened, or whose server
timed out, fails its other messages of the batch at once with that error instead of making each
of them wait again.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage

from courier.config import ProjectConfig
from courier.deadline import Deadline
from courier.errors import (
    ConfigError,
    CourierError,
    MessageError,
    SmtpDisconnectedError,
    SmtpError,
    SmtpTimeoutError,
    Step,
)
from courier.message import CourierMessage, build_email, envelope_recipient, envelope_sender
from courier.templates import render
from courier.transport import Transport

__all__ = ["Connections", "OutgoingMail", "compose"]


# What build_email checks that comes from the message, not from the project's settings.
_MESSAGE_FIELDS = frozenset({"subject", "recipient"})


@dataclass(frozen=True, kw_only=True)
class OutgoingMail:
    """A mail ready for SMTP: the MIME message and its envelope."""

    email: EmailMessage
    sender: str
    recipient: str


def compose(
    message: CourierMessage, config: ProjectConfig, *, key: str | None = None
) -> OutgoingMail:
    """Render ``message`` with ``config``'s templates and sender into an :class:`OutgoingMail`.

    ``key`` is the message's idempotency key: every attempt at it gets the same ``Message-ID``.

    Raises
    ------
    MessageError
        Unknown template, a render error, CR/LF in a header: the message cannot be sent.
    ConfigError
        A template override of the project is broken.
    """
    html: str | None
    if message.template_type is not None:
        data = {"to": message.recipient, **message.template_data}
        rendered = render(
            message.template_type, data, override=config.templates.get(message.template_type)
        )
        subject, plaintext, html = rendered.subject, rendered.plaintext, rendered.html
    else:  # pre-rendered: the schema requires subject and plaintext
        subject, plaintext, html = message.subject or "", message.plaintext or "", message.html
    try:
        email = build_email(
            subject=subject,
            plaintext=plaintext,
            html=html,
            from_address=config.from_address,
            from_name=config.from_name,
            recipient=message.recipient,
            headers=config.headers,
            message_key=key,
        )
        sender = envelope_sender(config.from_address)
    except MessageError as exc:
        if exc.field in _MESSAGE_FIELDS:
            raise
        # The rules of courier.config_rules keep such settings out; a value the stack gives
        # (DefaultFromAddress) is not checked there. Either way an operator fixes it.
        raise ConfigError(f"smtp.{exc.field}", exc.code, exc.message) from None
    return OutgoingMail(email=email, sender=sender, recipient=envelope_recipient(message.recipient))


class Connections:
    """The SMTP sessions of one batch: one per project, opened on first use, closed by
    :meth:`close_all`.

    A project whose session cannot be opened (bad credentials, TLS refused), or whose server
    timed out, fails its other messages in the batch with that error instead of trying again
    for each.

    Parameters
    ----------
    timeout:
        Socket timeout of each session.
    allow_private_hosts:
        The SSRF guard off (local use).
    """

    def __init__(self, *, timeout: float, allow_private_hosts: bool) -> None:
        self._timeout = timeout
        self._allow_private_hosts = allow_private_hosts
        self._transports: dict[str, Transport] = {}
        self._open_failures: dict[str, CourierError] = {}

    @property
    def opened(self) -> int:
        """How many sessions this batch has (for logs and tests)."""
        return len(self._transports)

    def send(self, mail: OutgoingMail, config: ProjectConfig, *, deadline: Deadline) -> str:
        """Send ``mail`` over ``config``'s project session, all of it before ``deadline``;
        returns the server's ``250`` text to it.

        Raises
        ------
        SmtpError, ConfigError, MessageError
            As :meth:`Transport.send`; a session the server dropped (or closed with 421) while
            idle is reopened once first.
        """
        reused = self._is_open(config)
        transport = self._open(config, deadline)
        try:
            try:
                return transport.send(
                    mail.email, sender=mail.sender, recipient=mail.recipient, deadline=deadline
                )
            except SmtpError as error:
                if not (reused and _closed_while_idle(error)):
                    raise
                # Nothing of the message was accepted before MAIL: safe to reconnect and resend.
                transport.close(deadline=deadline)
                return self._open(config, deadline).send(
                    mail.email, sender=mail.sender, recipient=mail.recipient, deadline=deadline
                )
        except SmtpTimeoutError as error:
            self._open_failures[config.project_id] = SmtpTimeoutError(
                f"not tried: the server timed out earlier in this batch ({error.reply})",
                endpoint=error.endpoint,
                step=error.step,
            )
            raise

    def close_all(self, *, deadline: Deadline | None = None) -> None:
        """QUIT every session (all within about a second, or by ``deadline``); never raises."""
        until = (deadline or Deadline.never()).sooner(1.0)
        for transport in self._transports.values():
            transport.close(deadline=until)

    def _is_open(self, config: ProjectConfig) -> bool:
        transport = self._transports.get(config.project_id)
        return transport is not None and transport.is_open

    def _open(self, config: ProjectConfig, deadline: Deadline) -> Transport:
        project = config.project_id
        if project in self._open_failures:
            raise self._open_failures[project]
        transport = self._transports.get(project)
        if transport is None:
            transport = Transport(
                config.connection_uri,
                timeout=self._timeout,
                local_hostname=config.local_name,
                allow_private_hosts=self._allow_private_hosts,
                client_certificate=config.client_certificate,
            )
            self._transports[project] = transport
        try:
            transport.open(deadline=deadline)
        except CourierError as error:
            self._open_failures[project] = error
            raise
        return transport


def _closed_while_idle(error: SmtpError) -> bool:
    """The server ended a reused session before taking the next MAIL (a drop, or 421)."""
    return error.step is Step.MAIL and (
        isinstance(error, SmtpDisconnectedError) or error.code == 421
    )
