"""Where a message ends: delivered, retried with backoff, or dead-lettered with its cause.

This module is the only place that maps what went wrong to what happens next. Errors carry
facts (:mod:`courier.errors`); :func:`cause_of` reads them into a :class:`Cause`;
:data:`OUTCOME_TABLE` says, row by row, which causes are dead-lettered at once, which are
retried until the attempts run out and which wait for another attempt to finish; and
:func:`decide` applies the table to one attempt. The sender only carries the decision out.

The README's table "What happens to a message" is :func:`outcome_table_markdown`, checked by a
test.

Example
-------
>>> from courier.errors import MessageError
>>> limits = Limits(message_retries=5, max_receive_count=21)
>>> decision = decide(MessageError("recipient", "recipient_invalid", "no @"), attempt=1,
...                   limits=limits)
>>> decision.outcome, decision.reason
(<Outcome.DEAD_LETTERED: 'dead-lettered'>, <DeadLetterReason.PERMANENT: 'permanent'>)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum

from courier.config import DEFAULT_MESSAGE_RETRIES
from courier.errors import (
    ConfigError,
    ConfigUnavailableError,
    DeliveryInProgressError,
    IdempotencyStoreError,
    MessageError,
    OutOfTimeError,
    SmtpDisconnectedError,
    SmtpError,
    SmtpProtocolError,
    SmtpTimeoutError,
    Step,
    TokenUnavailableError,
)

__all__ = [
    "OUTCOME_TABLE",
    "Cause",
    "DeadLetterReason",
    "Decision",
    "Limits",
    "Outcome",
    "Policy",
    "Row",
    "backoff_seconds",
    "cause_of",
    "decide",
    "outcome_table_markdown",
]

BACKOFF_BASE_SECONDS = 30
BACKOFF_CAP_SECONDS = 900
_SESSION_STEPS = frozenset({Step.CONNECT, Step.TLS, Step.EHLO, Step.AUTH})
_ENVELOPE_STEPS = frozenset({Step.MAIL, Step.RCPT, Step.DATA})


class Outcome(StrEnum):
    """How a message left the sender."""

    DELIVERED = "delivered"
    DUPLICATE = "duplicate"
    """Delivered, or dead-lettered, by an earlier attempt; not done again."""
    RETRIED = "retried"
    DEAD_LETTERED = "dead-lettered"


class DeadLetterReason(StrEnum):
    PERMANENT = "permanent"
    """Retrying cannot help (bad message, 5xx to the envelope or content)."""
    ATTEMPTS_EXHAUSTED = "attempts-exhausted"
    """Retryable, but the project's attempts (or the queue's receives) ran out."""


class Policy(StrEnum):
    """What a row of the outcome table does with a failed attempt."""

    DEAD_LETTER = "dead-letter"
    """At once: no later attempt can succeed."""
    RETRY = "retry"
    """With backoff; dead-lettered with the last cause when the attempts run out."""
    WAIT = "wait"
    """Another attempt holds the message: try after it ends; not dead-lettered for this."""


@dataclass(frozen=True, kw_only=True)
class Cause:
    """Why an attempt failed, in the words of the DLQ attributes, the logs and the metrics.

    Attributes
    ----------
    kind:
        ``message``, ``config``, ``smtp``, ``aws``, ``oauth``, ``lambda`` or ``internal``.
    code:
        A stable name: a ``ConfigError``/``MessageError`` code, ``smtp_<step>``,
        ``smtp_timeout``, ``smtp_disconnected``, ``smtp_protocol``, ``smtp_outcome_unknown``,
        ``config_unavailable``, ``idempotency_unavailable``, ``idempotency_in_progress``,
        ``oauth_token_unavailable``, ``out_of_time`` or ``internal_error``.
    message:
        The error, for a person (redacted: never a password).
    step, smtp_code, smtp_reply:
        The SMTP step and the server's reply, for SMTP failures.
    maybe_delivered:
        The server may have kept the message (the connection was lost after the whole message
        was sent), or another attempt may be sending it.
    """

    kind: str
    code: str
    message: str
    step: str | None = None
    smtp_code: int | None = None
    smtp_reply: str | None = None
    maybe_delivered: bool = False


@dataclass(frozen=True, kw_only=True)
class Limits:
    """What bounds the retries of one attempt.

    Attributes
    ----------
    message_retries:
        The project's ``message_retries``; ``None`` when its settings could not be read (then
        the default, 5, applies).
    max_receive_count:
        The queue's ``maxReceiveCount``: SQS moves a message to the DLQ itself, without a cause,
        after that many receives.
    backoff_base_seconds:
        The first retry's delay; each later one doubles it.
    min_delay_seconds:
        The least delay of a retry (past an idempotency record this attempt left in progress).
    in_progress_seconds:
        How long another attempt may hold a message's idempotency record (the function's
        timeout).
    """

    message_retries: int | None
    max_receive_count: int
    backoff_base_seconds: int = BACKOFF_BASE_SECONDS
    min_delay_seconds: int = 0
    in_progress_seconds: int = 60

    @property
    def max_attempts(self) -> int:
        """``message_retries + 1``, at most the queue's ``max_receive_count``."""
        retries = DEFAULT_MESSAGE_RETRIES if self.message_retries is None else self.message_retries
        return min(retries + 1, self.max_receive_count)


@dataclass(frozen=True, kw_only=True)
class Row:
    """One row of the outcome table.

    Attributes
    ----------
    failure:
        What went wrong, for the README.
    policy:
        What happens to the message.
    matches:
        Whether a :class:`Cause` belongs to this row.
    note:
        What the README adds about the outcome, if anything.
    """

    failure: str
    policy: Policy
    matches: Callable[[Cause], bool]
    note: str = ""


def _is_4xx(cause: Cause) -> bool:
    return cause.smtp_code is not None and 400 <= cause.smtp_code < 500


def _is_5xx(cause: Cause) -> bool:
    return cause.smtp_code is not None and 500 <= cause.smtp_code < 600


def _refused_content(cause: Cause) -> bool:
    return cause.kind == "smtp" and cause.step in _ENVELOPE_STEPS and _is_5xx(cause)


def _operator_fixable(cause: Cause) -> bool:
    """TLS, AUTH or a refusal of the session: the project's settings or its server must change."""
    if cause.kind == "config":
        return True
    if cause.kind != "smtp" or cause.step not in _SESSION_STEPS or _is_4xx(cause):
        return False
    return _is_5xx(cause) or cause.code in {"smtp_tls", "smtp_auth"}


OUTCOME_TABLE: tuple[Row, ...] = (
    Row(
        failure="body not JSON, fails the schema, unknown template, render error, bad "
        "recipient, an envelope the server cannot take",
        policy=Policy.DEAD_LETTER,
        matches=lambda cause: cause.kind == "message",
    ),
    Row(
        failure="SMTP 5xx reply to MAIL, RCPT or DATA",
        policy=Policy.DEAD_LETTER,
        matches=_refused_content,
        note="the reply is in its attributes",
    ),
    Row(
        failure="connection lost or timed out after the whole message was sent "
        "(`smtp_outcome_unknown`): the server may have kept it",
        policy=Policy.RETRY,
        matches=lambda cause: cause.code == "smtp_outcome_unknown",
        note="with the same `Message-ID`; dead-lettered with `courier.maybe_delivered=true`",
    ),
    Row(
        failure="TLS (untrusted certificate, STARTTLS missing), AUTH refused, a 5xx greeting "
        "or EHLO, a bad connection URI or project setting",
        policy=Policy.RETRY,
        matches=_operator_fixable,
        note="you may fix the settings meanwhile",
    ),
    Row(
        failure="4xx reply at any step, a timeout, a lost or refused connection, DNS, a reply "
        "that is not SMTP",
        policy=Policy.RETRY,
        matches=lambda cause: cause.kind == "smtp",
    ),
    Row(
        failure="another attempt holds the message (its idempotency record is in progress)",
        policy=Policy.WAIT,
        matches=lambda cause: cause.code == "idempotency_in_progress",
        note="never dead-lettered for this, but at the queue's last receive",
    ),
    Row(
        failure="SSM or DynamoDB could not be read or written before the message was sent",
        policy=Policy.RETRY,
        matches=lambda cause: cause.kind == "aws",
    ),
    Row(
        failure="the OAuth 2.0 token endpoint is down, slow or gives no token "
        "(`oauth_token_unavailable`)",
        policy=Policy.RETRY,
        matches=lambda cause: cause.kind == "oauth",
    ),
    Row(
        failure="the invocation has too little time left to start the message "
        "(`out_of_time`: the function's timeout against `SmtpTimeoutSeconds`)",
        policy=Policy.RETRY,
        matches=lambda cause: cause.code == "out_of_time",
    ),
    Row(
        failure="anything else (a bug: `internal_error`)",
        policy=Policy.RETRY,
        matches=lambda cause: True,
    ),
)


@dataclass(frozen=True, kw_only=True)
class Decision:
    """What to do with a failed attempt.

    Attributes
    ----------
    outcome:
        :attr:`Outcome.RETRIED` or :attr:`Outcome.DEAD_LETTERED`.
    cause:
        Why (``maybe_delivered`` set when the message may have been delivered).
    row:
        The row of :data:`OUTCOME_TABLE` that decided.
    reason:
        Why it was dead-lettered (``None`` when retried).
    delay:
        Seconds until the retry (``None`` when dead-lettered).
    """

    outcome: Outcome
    cause: Cause
    row: Row
    reason: DeadLetterReason | None = None
    delay: int | None = None


def decide(
    error: BaseException,
    *,
    attempt: int,
    limits: Limits,
    earlier_maybe_delivered: bool = False,
) -> Decision:
    """Decide the outcome of an attempt that failed with ``error``.

    Parameters
    ----------
    error:
        What the attempt raised.
    attempt:
        This attempt's number (the record's ``ApproximateReceiveCount``, 1 at first).
    limits:
        The project's attempts, the queue's receives and the delays.
    earlier_maybe_delivered:
        An earlier attempt may have delivered the message: a dead-lettered message says so.

    Example
    -------
    >>> from courier.errors import step_error
    >>> busy = step_error(Step.RCPT, 450, "4.2.1 busy", endpoint="smtp://mx:587/")
    >>> limits = Limits(message_retries=2, max_receive_count=21)
    >>> [decide(busy, attempt=n, limits=limits).delay for n in (1, 2, 3)]
    [30, 60, None]
    """
    cause = cause_of(error)
    if earlier_maybe_delivered:
        cause = replace(cause, maybe_delivered=True)
    row = next(row for row in OUTCOME_TABLE if row.matches(cause))
    if row.policy is Policy.DEAD_LETTER:
        return _dead_letter(cause, row, DeadLetterReason.PERMANENT)
    if row.policy is Policy.WAIT:
        if attempt >= limits.max_receive_count:  # SQS would move it without a cause
            return _dead_letter(cause, row, DeadLetterReason.ATTEMPTS_EXHAUSTED)
        delay = max(limits.in_progress_seconds, limits.min_delay_seconds)
        return Decision(outcome=Outcome.RETRIED, cause=cause, row=row, delay=delay)
    if attempt >= limits.max_attempts:
        return _dead_letter(cause, row, DeadLetterReason.ATTEMPTS_EXHAUSTED)
    delay = max(
        backoff_seconds(attempt, base=limits.backoff_base_seconds), limits.min_delay_seconds
    )
    return Decision(outcome=Outcome.RETRIED, cause=cause, row=row, delay=delay)


def _dead_letter(cause: Cause, row: Row, reason: DeadLetterReason) -> Decision:
    return Decision(outcome=Outcome.DEAD_LETTERED, cause=cause, row=row, reason=reason)


def cause_of(error: BaseException) -> Cause:
    """The facts of ``error`` as a :class:`Cause` (no policy: that is :func:`decide`'s).

    Example
    -------
    >>> cause_of(MessageError("recipient", "recipient_invalid", "not an address")).code
    'recipient_invalid'
    """
    if isinstance(error, MessageError):
        return Cause(kind="message", code=error.code, message=str(error))
    if isinstance(error, ConfigError):
        return Cause(kind="config", code=error.code, message=str(error))
    if isinstance(error, SmtpError):
        return Cause(
            kind="smtp",
            code=_smtp_code(error),
            message=str(error),
            step=str(error.step),
            smtp_code=error.code,
            smtp_reply=f"{error.code} {error.reply}" if error.code is not None else None,
            maybe_delivered=error.maybe_accepted,
        )
    if isinstance(error, ConfigUnavailableError):
        return Cause(kind="aws", code="config_unavailable", message=str(error))
    if isinstance(error, IdempotencyStoreError):
        return Cause(kind="aws", code="idempotency_unavailable", message=str(error))
    if isinstance(error, TokenUnavailableError):
        return Cause(kind="oauth", code="oauth_token_unavailable", message=str(error))
    if isinstance(error, DeliveryInProgressError):
        return Cause(
            kind="aws", code="idempotency_in_progress", message=str(error), maybe_delivered=True
        )
    if isinstance(error, OutOfTimeError):
        return Cause(kind="lambda", code="out_of_time", message=str(error))
    # A bug: its text may quote anything it was given, so only its type is shown.
    return Cause(
        kind="internal",
        code="internal_error",
        message=f"unexpected {type(error).__name__} (the function's log has the traceback)",
    )


def _smtp_code(error: SmtpError) -> str:
    if error.maybe_accepted:
        return "smtp_outcome_unknown"
    if isinstance(error, SmtpTimeoutError):
        return "smtp_timeout"
    if isinstance(error, SmtpDisconnectedError):
        return "smtp_disconnected"
    if isinstance(error, SmtpProtocolError):
        return "smtp_protocol"
    return f"smtp_{error.step.lower()}"


def backoff_seconds(attempt: int, *, base: int = BACKOFF_BASE_SECONDS) -> int:
    """Seconds a message waits before attempt ``attempt + 1``: 30, 60, 120, ... up to 15 min.

    Example
    -------
    >>> [backoff_seconds(n) for n in (1, 2, 3, 6)]
    [30, 60, 120, 900]
    """
    return int(min(base * 2 ** max(attempt - 1, 0), BACKOFF_CAP_SECONDS))


_POLICY_TEXT = {
    Policy.DEAD_LETTER: "**DLQ at once**",
    Policy.RETRY: "**retried** with backoff, then **DLQ** when the attempts run out",
    Policy.WAIT: "**retried** after the other attempt's time is up",
}


def outcome_table_markdown() -> str:
    """The outcome table as the README shows it (a test keeps the two equal)."""
    lines = [
        "| what went wrong | where the message goes |",
        "|---|---|",
        "| nothing | **delivered** (the server accepted DATA) |",
        "| it was delivered, or dead-lettered, by an earlier attempt (SQS delivered it again) "
        "| acknowledged, **not sent again** |",
    ]
    for row in OUTCOME_TABLE:
        outcome = _POLICY_TEXT[row.policy] + (f"; {row.note}" if row.note else "")
        lines.append(f"| {row.failure} | {outcome} |")
    return "\n".join(lines) + "\n"
