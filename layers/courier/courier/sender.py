"""The sender: one SQS batch in, every message delivered, retried or dead-lettered.

The batch runs through Powertools' ``BatchProcessor`` (partial batch responses). For each record
:meth:`_Batch.handle_record` parses the message, reads the project's configuration, checks that
the invocation has time for it, composes the mail and sends it over the project's session for
this batch, at most once per idempotency key (Powertools idempotency on DynamoDB). Any failure
is handed to :func:`courier.outcomes.decide`, and the sender carries the decision out:
dead-lettered with its cause (then acknowledged), or handed back to SQS with a backoff set
through the message's visibility timeout. A message is acknowledged only when it was delivered
or its DLQ write succeeded.

Every message's SMTP session ends by a deadline that leaves the invocation
:data:`~courier.deadline.RESERVE_SECONDS` to record the outcomes.

With a status table, each message's status record (:mod:`courier.status`) is marked
``processing`` when the batch starts and gets the attempt's dispatch when it ends; the outcome
log lines name the template type and the recipient masked.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer

from courier.config import ProjectConfig
from courier.config_provider import ConfigProvider
from courier.dead_letters import dead_letter_attributes, message_key, source_message_id
from courier.deadline import RESERVE_SECONDS, Deadline, fits, seconds_needed
from courier.delivery import Connections, compose
from courier.delivery_log import DeliveryLog
from courier.errors import ConfigError, CourierError, OutOfTimeError
from courier.message import CourierMessage, parse_message
from courier.observability import count_outcome, logger, mask_recipient, masked
from courier.once import Attempt, AttemptFailed, DeliverOnce
from courier.outcomes import (
    Cause,
    Decision,
    Limits,
    Outcome,
    Policy,
    backoff_seconds,
    decide,
)
from courier.stack import StackSettings
from courier.status import MessageRef, Status
from courier.status_table import StatusBatch, StatusTable

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_sqs import SQSClient

__all__ = ["HandedBack", "Sender"]


class HandedBack(CourierError):
    """A record goes back to SQS for a later attempt (``Cause`` says why)."""

    def __init__(self, cause: Cause) -> None:
        super().__init__(cause.message)
        self.cause = cause


class Sender:
    """Delivers SQS batches of courier messages.

    Parameters
    ----------
    settings:
        The stack's settings (:meth:`StackSettings.from_environment
        <courier.stack.StackSettings.from_environment>` in the function); the sender requires
        ``dead_letter_queue_url``.
    config_provider:
        Where projects' configurations come from (cached).
    sqs_client:
        For DLQ writes and visibility changes.
    persistence_store:
        Powertools idempotency store (DynamoDB); ``None`` turns duplicate suppression off.
    delivery_log:
        What later receives of a message must know: that a server may have it, that it was
        dead-lettered already (``None``: each attempt knows only what it did).
    status_table:
        Where each message's status and attempts are recorded (``None``: not recorded).

    Example
    -------
    >>> sender = Sender(settings=..., config_provider=..., sqs_client=...)  # doctest: +SKIP
    >>> sender.handle(event, context)  # doctest: +SKIP
    {'batchItemFailures': [{'itemIdentifier': '...'}]}
    """

    def __init__(
        self,
        *,
        settings: StackSettings,
        config_provider: ConfigProvider,
        sqs_client: SQSClient,
        persistence_store: BasePersistenceLayer | None,
        delivery_log: DeliveryLog | None = None,
        status_table: StatusTable | None = None,
    ) -> None:
        settings.required("dead_letter_queue_url")  # fail at construction, not at a DLQ write
        self.settings = settings
        self.config_provider = config_provider
        self.sqs = sqs_client
        self.once = DeliverOnce(persistence_store)
        self.delivery_log = delivery_log
        self.status_table = status_table

    def handle(self, event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
        """Process one SQS event; return the partial batch response."""
        self.once.register_lambda_context(context)
        batch = _Batch(self, context)
        batch.begin(event.get("Records") or [])
        processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        try:
            return process_partial_response(
                event=event, record_handler=batch.handle_record, processor=processor
            )
        finally:
            batch.finish()


class _Batch:
    """The state of one invocation: its deadline, its SMTP sessions and the visibility changes
    to make."""

    def __init__(self, sender: Sender, context: LambdaContext) -> None:
        self._sender = sender
        self._settings = sender.settings
        self._context = context
        self._visibility: list[tuple[str, str, int]] = []
        self._messages: dict[str, CourierMessage | Exception] = {}
        self._refs: dict[str, MessageRef] = {}
        self.status = StatusBatch(sender.status_table)
        started_with = self._remaining_seconds()
        self.deadline = Deadline.after(started_with - RESERVE_SECONDS)
        """When every SMTP session of this invocation must be done."""
        # Another attempt's idempotency record lasts until its invocation ended: at most the
        # function's timeout, which is about what this invocation started with.
        self._in_progress_seconds = math.ceil(started_with) + 1
        self.connections = Connections(
            timeout=self._settings.smtp_timeout,
            allow_private_hosts=self._settings.allow_private_hosts,
        )

    def begin(self, records: list[dict[str, Any]]) -> None:
        """Read every record's message once, and mark the batch's messages ``processing``."""
        self.status.begin(self._identify(SQSRecord(raw)) for raw in records)

    def handle_record(self, record: SQSRecord) -> str:
        attempt = int(record.attributes.approximate_receive_count or "1")
        ref = self._identify(record)
        # Keys of the previous record must not leak into this record's logs.
        logger.set_correlation_id(record.message_id)
        logger.append_keys(
            sqs_message_id=record.message_id,
            attempt=attempt,
            project_id=None,
            template_type=ref.template_type,
            recipient=mask_recipient(ref.recipient),
        )
        project_id = self._settings.default_project
        retries: int | None = None
        key: str | None = None
        sent = _Sent()
        if attempt > 1 and self._dead_lettered_already(record):
            # SQS handed over again a message whose delete was lost after its DLQ write.
            logger.info("message dead-lettered by an earlier attempt: acknowledged")
            count_outcome(Outcome.DUPLICATE)
            self.status.unchanged(ref, otherwise=Status.DEAD_LETTERED)
            return str(Outcome.DUPLICATE)
        try:
            message = self._message(record)
            project_id = ref.project_id
            key = f"{project_id}:{ref.message_id}"
            logger.set_correlation_id(ref.message_id)
            logger.append_keys(project_id=project_id)
            try:
                config = self._sender.config_provider.get(project_id)
            except ConfigError as error:
                retries = error.message_retries
                raise
            retries = config.message_retries
            self._check_time()
            delivered = self._sender.once.deliver(key, self._send(message, config, key, sent))
        except Exception as error:  # every failure must end as an outcome, bugs included
            holds_record = isinstance(error, AttemptFailed) and error.holds_record
            failure = error.error if isinstance(error, AttemptFailed) else error
            limits = self._limits(retries, holds_record=holds_record)
            return self._failed(record, failure, attempt, limits, ref, sent, key)
        outcome = Outcome.DUPLICATE if delivered.duplicate else Outcome.DELIVERED
        logger.info(f"message {outcome}", extra={"smtp_message_id": delivered.message_id})
        count_outcome(outcome)
        if delivered.duplicate:
            self.status.unchanged(ref, otherwise=Status.DELIVERED)
        else:
            self.status.delivered(ref, reply=sent.reply, smtp_message_id=delivered.message_id)
        return str(outcome)

    def finish(self) -> None:
        self.connections.close_all(deadline=self.deadline)
        self._apply_visibility()
        self.status.flush()  # last: whatever the status table does, the mail's fate is settled

    def _identify(self, record: SQSRecord) -> MessageRef:
        """Who the record's message is for, and its id (the body is read once per batch)."""
        if record.message_id in self._refs:
            return self._refs[record.message_id]
        try:
            parsed: CourierMessage | Exception = parse_message(record.body)
        except Exception as error:  # raised again, as the record's failure, by _message
            parsed = error
        message = parsed if isinstance(parsed, CourierMessage) else None
        ref = MessageRef(
            project_id=(message and message.project_id) or self._settings.default_project,
            message_id=message_key(record, message.id if message else None),
            template_type=message.template_type if message else None,
            recipient=message.recipient if message else None,
        )
        self._messages[record.message_id] = parsed
        self._refs[record.message_id] = ref
        return ref

    def _message(self, record: SQSRecord) -> CourierMessage:
        parsed = self._messages[record.message_id]
        if isinstance(parsed, Exception):
            raise parsed
        return parsed

    def _send(
        self, message: CourierMessage, config: ProjectConfig, key: str, sent: _Sent
    ) -> Callable[[Attempt], None]:
        def send(attempt: Attempt) -> None:
            mail = compose(message, config, key=key)
            attempt.message_id = sent.message_id = str(mail.email["Message-ID"])
            sent.reply = self.connections.send(mail, config, deadline=self.deadline)

        return send

    # Carrying out a decision.

    def _failed(
        self,
        record: SQSRecord,
        error: Exception,
        attempt: int,
        limits: Limits,
        ref: MessageRef,
        sent: _Sent,
        key: str | None,
    ) -> str:
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
            try:
                self._dead_letter(record, decision, attempt, ref.project_id)
            except Exception:
                self._record_failure(ref, Status.RETRYING, decision, sent)
                raise
            logger.error(f"message dead-lettered ({decision.reason}): {why}", extra=log)
            count_outcome(Outcome.DEAD_LETTERED, decision.cause)
            final = Status.MAYBE_DELIVERED if decision.cause.maybe_delivered else None
            self._record_failure(ref, final or Status.DEAD_LETTERED, decision, sent)
            return str(Outcome.DEAD_LETTERED)
        assert decision.delay is not None
        if decision.cause.maybe_delivered and key is not None:
            self._remember(
                lambda log: log.note_maybe_delivered(key),
                "that the server may have kept the message",
            )
        self._hand_back(record, delay=decision.delay)
        logger.warning(f"message retried in {decision.delay}s: {why}", extra=log)
        count_outcome(Outcome.RETRIED, decision.cause)
        self._record_failure(ref, Status.RETRYING, decision, sent)
        raise HandedBack(decision.cause)

    def _record_failure(
        self, ref: MessageRef, status: Status, decision: Decision, sent: _Sent
    ) -> None:
        if decision.row.policy is Policy.WAIT and decision.outcome is Outcome.RETRIED:
            return  # another attempt holds the message: it records its own dispatch
        self.status.failed(ref, status, decision.cause, smtp_message_id=sent.message_id)

    def _dead_letter(
        self, record: SQSRecord, decision: Decision, attempt: int, project_id: str
    ) -> None:
        """Write the original body with its cause to the DLQ; if SQS refuses, hand the record
        back with backoff instead (so it is retried rather than lost)."""
        try:
            self._sender.sqs.send_message(
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
            raise
        self._remember(
            lambda log: log.note_dead_lettered(record.message_id),
            "that the message was dead-lettered",
        )

    def _hand_back(self, record: SQSRecord, *, delay: int) -> None:
        self._visibility.append((record.queue_url, record.receipt_handle, delay))

    def _apply_visibility(self) -> None:
        """Set each handed-back record's visibility timeout (its backoff); never raises: a
        record whose change fails comes back after the queue's own visibility timeout."""
        by_queue: dict[str, list[tuple[str, int]]] = {}
        for queue_url, receipt_handle, delay in self._visibility:
            by_queue.setdefault(queue_url, []).append((receipt_handle, delay))
        for queue_url, entries in by_queue.items():
            for start in range(0, len(entries), 10):
                chunk = entries[start : start + 10]
                try:
                    self._sender.sqs.change_message_visibility_batch(
                        QueueUrl=queue_url,
                        Entries=[
                            {"Id": str(n), "ReceiptHandle": handle, "VisibilityTimeout": delay}
                            for n, (handle, delay) in enumerate(chunk)
                        ],
                    )
                except Exception:
                    logger.exception("could not set the backoff of retried messages")

    # What later receives must know (a failure to note or read it costs at most a repeat).

    def _remember(self, note: Callable[[DeliveryLog], None], what: str) -> None:
        if self._sender.delivery_log is None:
            return
        try:
            note(self._sender.delivery_log)
        except Exception:
            logger.exception(f"could not note {what}")

    def _earlier_maybe_delivered(self, key: str) -> bool:
        log = self._sender.delivery_log
        if log is None:
            return False
        try:
            return log.maybe_delivered(key)
        except Exception:
            logger.exception("could not read whether an earlier attempt may have delivered")
            return True  # say "maybe" rather than invite a duplicate on redrive

    def _dead_lettered_already(self, record: SQSRecord) -> bool:
        log = self._sender.delivery_log
        if log is None:
            return False
        try:
            return log.dead_lettered(record.message_id)
        except Exception:
            logger.exception("could not read whether the message was dead-lettered already")
            return False  # handle it again: at worst a second DLQ entry

    # Time and limits.

    def _limits(self, retries: int | None, *, holds_record: bool) -> Limits:
        return Limits(
            message_retries=retries,
            max_receive_count=self._settings.max_receive_count,
            backoff_base_seconds=self._settings.backoff_base_seconds,
            min_delay_seconds=self._in_progress_seconds if holds_record else 0,
            in_progress_seconds=self._in_progress_seconds,
        )

    def _check_time(self) -> None:
        remaining = self._remaining_seconds()
        timeout = self._settings.smtp_timeout
        if not fits(remaining_seconds=remaining, smtp_timeout=timeout):
            raise OutOfTimeError(
                f"the invocation has {remaining:.1f}s left, and a message needs "
                f"SmtpTimeoutSeconds ({timeout:g}s) plus {RESERVE_SECONDS:g}s to record its "
                "outcome: if every invocation starts this short, raise the sender function's "
                "timeout or lower SmtpTimeoutSeconds",
                remaining_seconds=remaining,
                needed_seconds=seconds_needed(timeout),
            )

    def _remaining_seconds(self) -> float:
        return float(self._context.get_remaining_time_in_millis()) / 1000


class _Sent:
    """What an attempt's send saw: the mail's ``Message-ID`` and the server's ``250`` text."""

    message_id: str | None = None
    reply: str | None = None
