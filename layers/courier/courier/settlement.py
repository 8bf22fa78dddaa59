"""Carrying out a failed message's decision: to the DLQ with its cause, or back to SQS.

:class:`Settlement` is one invocation's account of its failed messages. :meth:`~Settlement.failed`
asks :func:`courier.outcomes.decide` what to do, logs it (the message's keys are the caller's
logger keys), counts it and does it: the original body and its cause go to the dead-letter
queue (then the record is acknowledged), or the record is handed back with a backoff, set
through its visibility timeout by :meth:`~Settlement.apply_visibility` when the batch ends. A
DLQ write that SQS refuses hands the record back instead: nothing is lost. What a later receive
of the message must know (the server may have it; it was dead-lettered already) goes to the
:class:`~courier.delivery_log.DeliveryLog`; a failure to note or read it costs at most a repeat.

Example
-------
>>> settlement = Settlement(settings=settings, sqs=lambda: sqs, delivery_log=None,
...                         status=status, in_progress_seconds=61)  # doctest: +SKIP
>>> settlement.failed(Failure(record=record, ref=ref, attempt=1, key="acme:42",
...                           error=error))  # doctest: +SKIP
Traceback (most recent call last):
courier.settlement.HandedBack: SMTP RCPT failed ...: 451 4.7.1 greylisted
>>> settlement.apply_visibility()  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from courier.dead_letters import dead_letter_attributes, source_message_id
from courier.delivery_log import DeliveryLog
from courier.errors import CourierError
from courier.observability import count_outcome, logger, masked
from courier.outcomes import Cause, Decision, Limits, Outcome, Policy, backoff_seconds, decide
from courier.sqs_record import SqsRecord
from courier.stack import StackSettings
from courier.status import MessageRef, Status
from courier.status_table import StatusBatch

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

__all__ = ["Failure", "HandedBack", "Settlement"]

_VISIBILITY_BATCH = 10
"""SQS's most entries per ``ChangeMessageVisibilityBatch``."""


class HandedBack(CourierError):
    """A record goes back to SQS for a later attempt (``Cause`` says why)."""

    def __init__(self, cause: Cause) -> None:
        super().__init__(cause.message)
        self.cause = cause


@dataclass(frozen=True, kw_only=True)
class Failure:
    """A message that was not delivered, and what its decision depends on."""

    record: SqsRecord
    ref: MessageRef
    attempt: int
    """The record's receive count."""
    key: str | None
    """Its idempotency key (``None``: its body could not be read)."""
    error: Exception
    retries: int | None = None
    """The project's ``message_retries``, when its settings could be read."""
    holds_record: bool = False
    """The idempotency record could not be released: a retry must wait until it expires."""
    smtp_message_id: str | None = None


class Settlement:
    """The failed messages of one invocation, each dead-lettered or handed back.

    Parameters
    ----------
    settings:
        The stack's settings (the DLQ, the queue's ``maxReceiveCount``, the backoff).
    sqs:
        Makes (or returns) the SQS client, when the first DLQ write or visibility change needs it.
    delivery_log:
        What later receives must know; ``None``: nothing is noted.
    status:
        The invocation's status records.
    in_progress_seconds:
        How long another attempt's idempotency record may stay in progress.
    """

    def __init__(
        self,
        *,
        settings: StackSettings,
        sqs: Callable[[], SQSClient],
        delivery_log: DeliveryLog | None,
        status: StatusBatch,
        in_progress_seconds: int,
    ) -> None:
        self._settings = settings
        self._sqs = sqs
        self._delivery_log = delivery_log
        self._status = status
        self._in_progress_seconds = in_progress_seconds
        self._visibility: list[tuple[str, str, int]] = []

    def failed(self, failure: Failure) -> None:
        """Dead-letter ``failure``'s message (returns), or hand it back (raises
        :class:`HandedBack`)."""
        record, ref, attempt, key, error = (
            failure.record,
            failure.ref,
            failure.attempt,
            failure.key,
            failure.error,
        )
        limits = self._limits(failure.retries, holds_record=failure.holds_record)
        decision = decide(error, attempt=attempt, limits=limits)
        if (
            decision.outcome is Outcome.DEAD_LETTERED
            and not decision.cause.maybe_delivered
            and attempt > 1
            and key is not None
            and self._earlier_maybe_delivered(key)
        ):
            decision = decide(error, attempt=attempt, limits=limits, earlier_maybe_delivered=True)
        log = {
            "error_kind": decision.cause.kind,
            "error_code": decision.cause.code,
            "smtp_step": decision.cause.step,
            "maybe_delivered": decision.cause.maybe_delivered,
        }
        why = masked(decision.cause.message, ref.recipient)
        if decision.cause.kind == "internal":
            logger.exception("unexpected error", exc_info=error)
        if decision.outcome is Outcome.DEAD_LETTERED:
            if not self._dead_letter(record, decision, attempt, ref.project_id):
                self._record(failure, Status.RETRYING, decision)
                raise HandedBack(decision.cause)
            logger.error(f"message dead-lettered ({decision.reason}): {why}", extra=log)
            count_outcome(Outcome.DEAD_LETTERED, decision.cause)
            final = Status.MAYBE_DELIVERED if decision.cause.maybe_delivered else None
            self._record(failure, final or Status.DEAD_LETTERED, decision)
            return
        assert decision.delay is not None
        if decision.cause.maybe_delivered and key is not None:
            self._remember(
                lambda log: log.note_maybe_delivered(key),
                "that the server may have kept the message",
            )
        self._hand_back(record, delay=decision.delay)
        logger.warning(f"message retried in {decision.delay}s: {why}", extra=log)
        count_outcome(Outcome.RETRIED, decision.cause)
        self._record(failure, Status.RETRYING, decision)
        raise HandedBack(decision.cause)

    def dead_lettered_already(self, record: SqsRecord) -> bool:
        """Whether an earlier attempt dead-lettered ``record``'s message (its delete was lost)."""
        log = self._delivery_log
        if log is None:
            return False
        try:
            return log.dead_lettered(record.message_id)
        except Exception:
            logger.exception("could not read whether the message was dead-lettered already")
            return False  # handle it again: at worst a second DLQ entry

    def apply_visibility(self) -> None:
        """Set each handed-back record's visibility timeout (its backoff); never raises: a
        record whose change fails comes back after the queue's own visibility timeout."""
        by_queue: dict[str, list[tuple[str, int]]] = {}
        for queue_url, receipt_handle, delay in self._visibility:
            by_queue.setdefault(queue_url, []).append((receipt_handle, delay))
        for queue_url, entries in by_queue.items():
            for start in range(0, len(entries), _VISIBILITY_BATCH):
                chunk = entries[start : start + _VISIBILITY_BATCH]
                try:
                    self._sqs().change_message_visibility_batch(
                        QueueUrl=queue_url,
                        Entries=[
                            {"Id": str(n), "ReceiptHandle": handle, "VisibilityTimeout": delay}
                            for n, (handle, delay) in enumerate(chunk)
                        ],
                    )
                except Exception:
                    logger.exception("could not set the backoff of retried messages")

    def _record(self, failure: Failure, status: Status, decision: Decision) -> None:
        if decision.row.policy is Policy.WAIT and decision.outcome is Outcome.RETRIED:
            return  # another attempt holds the message: it records its own dispatch
        self._status.failed(
            failure.ref, status, decision.cause, smtp_message_id=failure.smtp_message_id
        )

    def _dead_letter(
        self, record: SqsRecord, decision: Decision, attempt: int, project_id: str
    ) -> bool:
        """Write the original body with its cause to the DLQ; if SQS refuses, hand the record
        back with backoff instead (so it is retried rather than lost) and return ``False``."""
        try:
            self._sqs().send_message(
                QueueUrl=self._settings.required("dead_letter_queue_url"),
                MessageBody=record.body,
                MessageAttributes=dead_letter_attributes(
                    decision,
                    attempts=attempt,
                    project_id=project_id,
                    source_message_id=source_message_id(record) or record.message_id,
                ),
            )
        except Exception:
            logger.exception("could not write the message to the dead-letter queue")
            self._hand_back(
                record, delay=backoff_seconds(attempt, base=self._settings.backoff_base_seconds)
            )
            return False
        self._remember(
            lambda log: log.note_dead_lettered(record.message_id),
            "that the message was dead-lettered",
        )
        return True

    def _hand_back(self, record: SqsRecord, *, delay: int) -> None:
        self._visibility.append((record.queue_url, record.receipt_handle, delay))

    def _remember(self, note: Callable[[DeliveryLog], None], what: str) -> None:
        if self._delivery_log is None:
            return
        try:
            note(self._delivery_log)
        except Exception:
            logger.exception(f"could not note {what}")

    def _earlier_maybe_delivered(self, key: str) -> bool:
        log = self._delivery_log
        if log is None:
            return False
        try:
            return log.maybe_delivered(key)
        except Exception:
            logger.exception("could not read whether an earlier attempt may have delivered")
            return True  # say "maybe" rather than invite a duplicate on redrive

    def _limits(self, retries: int | None, *, holds_record: bool) -> Limits:
        return Limits(
            message_retries=retries,
            max_receive_count=self._settings.max_receive_count,
            backoff_base_seconds=self._settings.backoff_base_seconds,
            min_delay_seconds=self._in_progress_seconds if holds_record else 0,
            in_progress_seconds=self._in_progress_seconds,
        )
