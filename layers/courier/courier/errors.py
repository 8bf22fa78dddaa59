"""The courier error tree.

Every failure the library reports is a :class:`CourierError`. Configuration mistakes are
:class:`ConfigError` (they name the field and the fix); delivery failures are :class:`SmtpError`
(they name the SMTP step, the server's reply and whether the server may already have accepted
the message). Library exceptions (``smtplib``, ``ssl``, ``socket``, boto) are translated into
this tree where they are raised and chained with ``from``, so nothing above the transport or the
config loader sees them.

Errors carry facts only. Whether a failure is retried, and when, is decided in one place:
:func:`courier.outcomes.decide`.

No message built here ever contains a password: endpoints are shown in their redacted form.
"""

from __future__ import annotations

import re
from enum import StrEnum

__all__ = [
    "ConfigError",
    "ConfigUnavailableError",
    "CourierError",
    "DeliveryInProgressError",
    "FieldError",
    "IdempotencyStoreError",
    "MessageError",
    "OutOfTimeError",
    "SmtpAuthError",
    "SmtpConnectError",
    "SmtpDataError",
    "SmtpDisconnectedError",
    "SmtpError",
    "SmtpHeloError",
    "SmtpProtocolError",
    "SmtpRecipientRefusedError",
    "SmtpSenderRefusedError",
    "SmtpTimeoutError",
    "SmtpTlsError",
    "Step",
    "TokenUnavailableError",
    "step_error",
]

_ENHANCED_STATUS = re.compile(r"^([245]\.\d{1,3}\.\d{1,3})\b")


class Step(StrEnum):
    """The step of an SMTP session at which a failure happened."""

    CONNECT = "connect"
    TLS = "TLS"
    EHLO = "EHLO"
    AUTH = "AUTH"
    MAIL = "MAIL"
    RCPT = "RCPT"
    DATA = "DATA"


class CourierError(Exception):
    """Root of every error courier raises."""


class FieldError(CourierError, ValueError):
    """A value is wrong: names the field, a stable code, and what to do about it.

    Parameters
    ----------
    field:
        The setting or message part at fault, e.g. ``connection_uri.port`` or ``recipient``.
    code:
        A stable, machine-readable name of the mistake, e.g. ``uri_bad_port``.
    message:
        What is wrong and how to fix it, for a person.
    """

    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.code = code
        self.message = message


class ConfigError(FieldError):
    """A configuration value is wrong (an operator may fix it).

    Attributes
    ----------
    message_retries:
        The project's ``message_retries``, when its settings could be read before this error was
        found (a bad connection URI beside a valid config); ``None`` otherwise.
    """

    message_retries: int | None = None


class ConfigUnavailableError(CourierError):
    """The configuration could not be read (SSM throttled, unreachable, access denied).

    Its message names the parameters, never their values.
    """


class TokenUnavailableError(CourierError):
    """The OAuth 2.0 token endpoint gave no token: down, slow, a 5xx or 429, or an answer that
    is not a token (transient: retried). One that refuses the client is a
    :class:`ConfigError` (``oauth_client_refused``) instead.

    Its message names the endpoint by its host, never a secret, an assertion or a token.
    """


class IdempotencyStoreError(CourierError):
    """The idempotency store (DynamoDB) failed before the message was sent."""


class DeliveryInProgressError(CourierError):
    """Another attempt holds this message's idempotency record: it may be sending it right now."""


class OutOfTimeError(CourierError):
    """The invocation has too little time left to start this message.

    Parameters
    ----------
    remaining_seconds:
        What the invocation had left.
    needed_seconds:
        What a message needs: ``SmtpTimeoutSeconds`` plus the time kept to record outcomes.
    """

    def __init__(self, message: str, *, remaining_seconds: float, needed_seconds: float) -> None:
        super().__init__(message)
        self.remaining_seconds = remaining_seconds
        self.needed_seconds = needed_seconds


class MessageError(FieldError):
    """A message cannot be sent as it is (bad address, CR/LF in a header, ...): never retried."""


class SmtpError(CourierError):
    """An SMTP session failed at one step.

    Parameters
    ----------
    endpoint:
        The redacted connection URI (never the password).
    code:
        The server's reply code, when the server replied.
    reply:
        The server's reply text, or a description of what went wrong when it did not reply.
    hint:
        What the operator can do about it, when courier can tell.
    maybe_accepted:
        The whole message had been sent (the final ``.`` of DATA) when the connection was lost
        or timed out: the server may have kept it.

    Attributes
    ----------
    step:
        The :class:`Step` that failed.
    enhanced_status:
        The RFC 3463 status at the start of the reply (``5.7.8``), if any.
    """

    step: Step

    def __init__(
        self,
        reply: str,
        *,
        endpoint: str,
        code: int | None = None,
        hint: str | None = None,
        step: Step | None = None,
        maybe_accepted: bool = False,
    ) -> None:
        if step is not None:
            self.step = step
        self.endpoint = endpoint
        self.code = code
        self.reply = reply
        self.hint = hint
        self.maybe_accepted = maybe_accepted
        match = _ENHANCED_STATUS.match(reply)
        self.enhanced_status = match.group(1) if match else None
        super().__init__(str(self))

    def __str__(self) -> str:
        detail = self.reply if self.code is None else f"{self.code} {self.reply}"
        text = f"SMTP {self.step} failed at {self.endpoint}: {detail}"
        return f"{text}. {self.hint}" if self.hint else text


class SmtpConnectError(SmtpError, ConnectionError):
    """The TCP connection could not be made, or the server's greeting was a refusal."""

    step = Step.CONNECT


class SmtpTimeoutError(SmtpError, TimeoutError):
    """The server did not answer in time (at the step given)."""


class SmtpDisconnectedError(SmtpError, ConnectionError):
    """The server closed the connection (at the step given)."""


class SmtpProtocolError(SmtpError):
    """The server's answer is not SMTP (a garbage greeting, a reply without a code)."""


class SmtpTlsError(SmtpError):
    """TLS could not be set up: STARTTLS missing, certificate not trusted, protocol mismatch."""

    step = Step.TLS


class SmtpHeloError(SmtpError):
    """The server refused EHLO."""

    step = Step.EHLO


class SmtpAuthError(SmtpError):
    """The server refused the credentials, or offers no AUTH at all."""

    step = Step.AUTH


class SmtpSenderRefusedError(SmtpError):
    """The server refused the envelope sender (MAIL FROM)."""

    step = Step.MAIL


class SmtpRecipientRefusedError(SmtpError):
    """The server refused the recipient (RCPT TO)."""

    step = Step.RCPT


class SmtpDataError(SmtpError):
    """The server refused the message content (DATA)."""

    step = Step.DATA


_STEP_ERRORS: dict[Step, type[SmtpError]] = {
    Step.CONNECT: SmtpConnectError,
    Step.TLS: SmtpTlsError,
    Step.EHLO: SmtpHeloError,
    Step.AUTH: SmtpAuthError,
    Step.MAIL: SmtpSenderRefusedError,
    Step.RCPT: SmtpRecipientRefusedError,
    Step.DATA: SmtpDataError,
}


def step_error(
    step: Step,
    code: int | None,
    reply: str | bytes,
    *,
    endpoint: str,
    hint: str | None = None,
) -> SmtpError:
    """Build the error of ``step`` for an unexpected server reply (or, without ``code``, a
    failure the server did not reply to).

    Example
    -------
    >>> str(step_error(Step.RCPT, 550, b"5.1.1 no such user", endpoint="smtp://mx:587/"))
    'SMTP RCPT failed at smtp://mx:587/: 550 5.1.1 no such user'
    """
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return _STEP_ERRORS[step](" ".join(text.split()), endpoint=endpoint, code=code, hint=hint)
