"""From a parsed message and its project's configuration to a mail ready for SMTP.

:func:`compose` renders the template (or takes the pre-rendered parts) and builds the MIME mail
with its envelope (:class:`~courier.transport.OutgoingMail`); :mod:`courier.sessions` sends it.
"""

from __future__ import annotations

from courier.config import ProjectConfig
from courier.errors import ConfigError, MessageError
from courier.message import CourierMessage, build_email, envelope_recipient, envelope_sender
from courier.templates import render
from courier.transport import OutgoingMail

__all__ = ["OutgoingMail", "compose"]


# What build_email checks that comes from the message, not from the project's settings.
_MESSAGE_FIELDS = frozenset({"subject", "recipient"})


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
