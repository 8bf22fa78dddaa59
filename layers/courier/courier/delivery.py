"""From a parsed message and its project's configuration to a mail on the project's server.

:func:`compose` renders the template (or takes the pre-rendered parts) and builds the MIME mail;
:class:`Connections` keeps one :class:`~courier.transport.Transport` per project for a batch,
so all of a project's messages share one SMTP session, and opens it again once when the server
dropped it between two messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage

from courier.config import ProjectConfig
from courier.errors import CourierError, SmtpDisconnectedError, Step
from courier.message import CourierMessage, build_email, envelope_recipient, envelope_sender
from courier.templates import render
from courier.transport import Transport

__all__ = ["Connections", "OutgoingMail", "compose"]


@dataclass(frozen=True, kw_only=True)
class OutgoingMail:
    """A mail ready for SMTP: the MIME message and its envelope."""

    email: EmailMessage
    sender: str
    recipient: str


def compose(message: CourierMessage, config: ProjectConfig) -> OutgoingMail:
    """Render ``message`` with ``config``'s templates and sender into an :class:`OutgoingMail`.

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
    email = build_email(
        subject=subject,
        plaintext=plaintext,
        html=html,
        from_address=config.from_address,
        from_name=config.from_name,
        recipient=message.recipient,
        headers=config.headers,
    )
    return OutgoingMail(
        email=email,
        sender=envelope_sender(config.from_address),
        recipient=envelope_recipient(message.recipient),
    )


class Connections:
    """The SMTP sessions of one batch: one per project, opened on first use, closed by
    :meth:`close_all`.

    A project whose session cannot be opened (bad credentials, TLS refused) fails its other
    messages in the batch with the same error instead of trying again for each.

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

    def send(self, mail: OutgoingMail, config: ProjectConfig) -> None:
        """Send ``mail`` over ``config``'s project session.

        Raises
        ------
        SmtpError, ConfigError, MessageError
            As :meth:`Transport.send`; a session the server dropped while idle is reopened
            once first.
        """
        transport = self._open(config)
        try:
            transport.send(mail.email, sender=mail.sender, recipient=mail.recipient)
        except SmtpDisconnectedError as error:
            # Nothing of the message was accepted before MAIL: safe to reconnect and resend.
            if error.step is not Step.MAIL:
                raise
            transport.close()
            self._open(config).send(mail.email, sender=mail.sender, recipient=mail.recipient)

    def close_all(self) -> None:
        """QUIT every session; never raises."""
        for transport in self._transports.values():
            transport.close()

    def _open(self, config: ProjectConfig) -> Transport:
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
            )
            self._transports[project] = transport
        try:
            transport.open()
        except CourierError as error:
            self._open_failures[project] = error
            raise
        return transport
