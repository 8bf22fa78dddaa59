"""The courier error tree.

Every failure the library reports is a :class:`CourierError`. Configuration mistakes are
:class:`ConfigError` (they name the field and the fix); delivery failures are :class:`SmtpError`
(they name the SMTP step, the server's reply and whether a retry can help). Library exceptions
(``smtplib``, ``ssl``, ``socket``, boto) are translated into this tree where they are raised and
chained with ``from``, so nothing above the transport or the config loader sees them.

No message built here ever contains a password: endpoints are shown in their redacted form.
"""

from __future__ import annotations

import re
from enum import StrEnum

__all__ = [
    "ConfigError",
    "ConfigUnavailableError",
    "CourierError",
    "FieldError",
    "MessageError",
    "SmtpAuthError",
    "SmtpConnectError",
    "SmtpDataError",
    "SmtpDisconnectedError",
    "SmtpError",
    "SmtpHeloError",
    "SmtpRecipientRefusedError",
    "SmtpSenderRefusedError",
    "SmtpTimeoutError",
    "SmtpTlsError",
    "Step",
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
    """A configuration value is wrong: retried, since an operator may fix it."""


class ConfigUnavailableError(CourierError):
    """The configuration could not be read (SSM throttled, unreachable, access denied): transient.

    Its message names the parameters, never their values.
    """

    transient = True


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

    Attributes
    ----------
    step:
        The :class:`Step` that failed.
    enhanced_status:
        The RFC 3463 status at the start of the reply (``5.7.8``), if any.
    transient:
        Whether trying again later can succeed: 4xx replies and network faults are transient,
        5xx replies and TLS or protocol mismatches are permanent.
    """

    step: Step
    transient_without_reply: bool = True

    def __init__(
        self,
        reply: str,
        *,
        endpoint: str,
        code: int | None = None,
        hint: str | None = None,
        step: Step | None = None,
    ) -> None:
        if step is not None:
            self.step = step
        self.endpoint = endpoint
        self.code = code
        self.reply = reply
        self.hint = hint
        match = _ENHANCED_STATUS.match(reply)
        self.enhanced_status = match.group(1) if match else None
        if code is None:
            self.transient = self.transient_without_reply
        else:
            self.transient = 400 <= code < 500
        super().__init__(str(self))

    def __str__(self) -> str:
        detail = self.reply if self.code is None else f"{self.code} {self.reply}"
        kind = "transient" if self.transient else "permanent"
        text = f"SMTP {self.step} failed ({kind}) at {self.endpoint}: {detail}"
        return f"{text}. {self.hint}" if self.hint else text


class SmtpConnectError(SmtpError, ConnectionError):
    """The TCP connection could not be made, or the server's greeting was a refusal."""

    step = Step.CONNECT


class SmtpTimeoutError(SmtpError, TimeoutError):
    """The server did not answer in time (at the step given)."""


class SmtpDisconnectedError(SmtpError, ConnectionError):
    """The server closed the connection (at the step given)."""


class SmtpTlsError(SmtpError):
    """TLS could not be set up: STARTTLS missing, certificate not trusted, protocol mismatch."""

    step = Step.TLS
    transient_without_reply = False


class SmtpHeloError(SmtpError):
    """The server refused EHLO."""

    step = Step.EHLO


class SmtpAuthError(SmtpError):
    """The server refused the credentials, or offers no AUTH at all."""

    step = Step.AUTH
    transient_without_reply = False


class SmtpSenderRefusedError(SmtpError):
    """The server refused the envelope sender (MAIL FROM)."""

    step = Step.MAIL
    transient_without_reply = False


class SmtpRecipientRefusedError(SmtpError):
    """The server refused the recipient (RCPT TO)."""

    step = Step.RCPT
    transient_without_reply = False


class SmtpDataError(SmtpError):
    """The server refused the message content (DATA)."""

    step = Step.DATA
    transient_without_reply = False


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
    'SMTP RCPT failed (permanent) at smtp://mx:587/: 550 5.1.1 no such user'
    """
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return _STEP_ERRORS[step](" ".join(text.split()), endpoint=endpoint, code=code, hint=hint)
