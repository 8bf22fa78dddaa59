"""Where a message ends: delivered, retried with backoff, or dead-lettered with its cause.

This module is the outcome table of DESIGN §5 as code: :func:`classify` decides, for any error
the delivery path raises, whether the message goes to the dead-letter queue at once or is
retried; :func:`backoff_seconds` spaces the retries; :func:`dead_letter_attributes` is what a
DLQ message carries about its cause.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from courier.errors import (
    ConfigError,
    ConfigUnavailableError,
    MessageError,
    SmtpDisconnectedError,
    SmtpError,
    SmtpTimeoutError,
    Step,
)

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import MessageAttributeValueTypeDef

__all__ = [
    "Cause",
    "DeadLetterReason",
    "Outcome",
    "backoff_seconds",
    "classify",
    "dead_letter_attributes",
]

BACKOFF_BASE_SECONDS = 30
BACKOFF_CAP_SECONDS = 900
_ENVELOPE_STEPS = (Step.MAIL, Step.RCPT, Step.DATA)
_MAX_ATTRIBUTE_TEXT = 1024


class Outcome(StrEnum):
    """How a message left the sender."""

    DELIVERED = "delivered"
    DUPLICATE = "duplicate"
    """Delivered by an earlier attempt; not sent again."""
    RETRIED = "retried"
    DEAD_LETTERED = "dead-lettered"


class DeadLetterReason(StrEnum):
    PERMANENT = "permanent"
    """Retrying cannot help (bad message, 5xx to the envelope or content)."""
    ATTEMPTS_EXHAUSTED = "attempts-exhausted"
    """Retryable, but the project's attempts ran out."""


@dataclass(frozen=True, kw_only=True)
class Cause:
    """Why a message was not delivered, in the words of the DLQ attributes and the logs.

    Attributes
    ----------
    kind:
        ``message``, ``config``, ``smtp`` or ``aws``.
    code:
        A stable name: a ``ConfigError``/``MessageError`` code, or ``smtp_<step>`` (with
        ``smtp_timeout`` and ``smtp_disconnected`` for network faults).
    message:
        The error, for a person (redacted: never a password).
    permanent:
        ``True``: dead-letter at once. ``False``: retry with backoff until attempts run out.
    step, smtp_code, smtp_reply:
        The SMTP step and the server's reply, for SMTP failures.
    """

    kind: str
    code: str
    message: str
    permanent: bool
    step: str | None = None
    smtp_code: int | None = None
    smtp_reply: str | None = None


def classify(error: Exception) -> Cause:
    """Map an error of the delivery path to its :class:`Cause` (the table of DESIGN §5).

    - A bad message (not JSON, fails the schema, unknown template, render error, bad
      recipient): permanent.
    - An SMTP 5xx to MAIL, RCPT or DATA: permanent.
    - 4xx replies, timeouts, lost connections, DNS, SSM or DynamoDB errors: retry.
    - TLS verification, STARTTLS missing, AUTH rejected, a bad URI or config: retry, since an
      operator may fix the configuration; the message is dead-lettered when attempts run out.

    Example
    -------
    >>> classify(MessageError("recipient", "recipient_invalid", "not an address")).permanent
    True
    """
    if isinstance(error, MessageError):
        return Cause(kind="message", code=error.code, message=str(error), permanent=True)
    if isinstance(error, ConfigError):
        return Cause(kind="config", code=error.code, message=str(error), permanent=False)
    if isinstance(error, SmtpError):
        return Cause(
            kind="smtp",
            code=_smtp_code(error),
            message=str(error),
            permanent=error.step in _ENVELOPE_STEPS and not error.transient,
            step=str(error.step),
            smtp_code=error.code,
            smtp_reply=f"{error.code} {error.reply}" if error.code is not None else None,
        )
    if isinstance(error, ConfigUnavailableError):
        return Cause(kind="aws", code="config_unavailable", message=str(error), permanent=False)
    return Cause(kind="aws", code=type(error).__name__, message=str(error), permanent=False)


def _smtp_code(error: SmtpError) -> str:
    if isinstance(error, SmtpTimeoutError):
        return "smtp_timeout"
    if isinstance(error, SmtpDisconnectedError):
        return "smtp_disconnected"
    return f"smtp_{error.step.lower()}"


def backoff_seconds(attempt: int, *, base: int = BACKOFF_BASE_SECONDS) -> int:
    """Seconds a message waits before attempt ``attempt + 1``: 30, 60, 120, ... up to 15 min.

    Example
    -------
    >>> [backoff_seconds(n) for n in (1, 2, 3, 6)]
    [30, 60, 120, 900]
    """
    return int(min(base * 2 ** max(attempt - 1, 0), BACKOFF_CAP_SECONDS))


def dead_letter_attributes(
    cause: Cause,
    *,
    reason: DeadLetterReason,
    attempts: int,
    project_id: str,
    source_message_id: str,
) -> dict[str, MessageAttributeValueTypeDef]:
    """The SQS message attributes of a dead-lettered message: its cause, for people and alarms.

    Every attribute is named ``courier.*``; SMTP failures add the step, the reply code and the
    reply text. At most 10 attributes (the SQS limit).
    """
    values: dict[str, str | int | None] = {
        "courier.reason": str(reason),
        "courier.error_kind": cause.kind,
        "courier.error_code": cause.code,
        "courier.error_message": cause.message,
        "courier.attempts": attempts,
        "courier.project_id": project_id,
        "courier.source_message_id": source_message_id,
        "courier.smtp_step": cause.step,
        "courier.smtp_code": cause.smtp_code,
        "courier.smtp_reply": cause.smtp_reply,
    }
    attributes: dict[str, MessageAttributeValueTypeDef] = {}
    for name, value in values.items():
        if value is None or value == "":
            continue
        if isinstance(value, int):
            attributes[name] = {"DataType": "Number", "StringValue": str(value)}
        else:
            attributes[name] = {"DataType": "String", "StringValue": value[:_MAX_ATTRIBUTE_TEXT]}
    return attributes
