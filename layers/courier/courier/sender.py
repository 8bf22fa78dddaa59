"""The sender: one SQS batch in, every message delivered, retried or dead-lettered.

A batch goes in phases, so that its mails can travel together:

1. each record's message is parsed, its project's configuration read and the invocation's time
   checked;
2. :class:`~courier.sessions.Sessions` starts opening the batch's SMTP sessions (each project
   its own, all projects side by side) and, while they open, each message's idempotency record
   is claimed (:class:`~courier.once.DeliverOnce`: at most one delivery per key), all at once;
3. the claimed messages are composed and handed to the sessions, which send them one round trip
   per mail where the server pipelines;
4. each claim records what the server said, all at once;
5. each record's outcome is carried out, in the batch's order, in this thread (so every log
   line carries its own message's keys): a delivery is logged, counted and recorded; a failure
   goes to :class:`~courier.settlement.Settlement`, which dead-letters the message with its
   cause (then it is acknowledged) or hands it back to SQS with a backoff. A message is
   acknowledged only when it was delivered or its DLQ write succeeded.

The answer is SQS's partial batch response (``batchItemFailures``). Powertools'
``BatchProcessor`` is not used: it runs one record's handler after another, where a batch's
mails must be sent together.

Every SMTP session ends by a deadline that leaves the invocation
:data:`~courier.deadline.RESERVE_SECONDS` to record the outcomes.

With a status table, each message's status record (:mod:`courier.status`) is marked
``processing`` when the batch starts and gets the attempt's dispatch when it ends; the outcome
log lines name the template type and the recipient masked.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar

from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer

from courier.config import ProjectConfig
from courier.config_provider import ConfigProvider
from courier.dead_letters import message_key
from courier.deadline import RESERVE_SECONDS, Deadline, fits, seconds_needed
from courier.delivery import compose
from courier.delivery_log import DeliveryLog
from courier.errors import ConfigError, CourierError, OutOfTimeError
from courier.lazy import on_first_use
from courier.message import CourierMessage, parse_message
from courier.oauth import Tokens
from courier.observability import count_outcome, logger, mask_recipient
from courier.once import Claim, Delivered, DeliverOnce
from courier.outcomes import (
    Outcome,
)
from courier.sessions import Delivery, Sessions
from courier.settlement import Failure, HandedBack, Settlement
from courier.sqs_record import SqsRecord
from courier.stack import StackSettings
from courier.status import MessageRef, Status
from courier.status_table import StatusBatch, StatusTable

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_sqs import SQSClient

__all__ = ["BatchResponse", "HandedBack", "Sender"]

_T = TypeVar("_T")
_PARALLEL_WRITES = 10
"""Idempotency writes in flight at once (a batch has at most 10 messages)."""


class BatchItemFailure(TypedDict):
    itemIdentifier: str


class BatchResponse(TypedDict):
    """SQS's partial batch response: the records to hand back (all others are deleted)."""

    batchItemFailures: list[BatchItemFailure]


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
        For DLQ writes and visibility changes: the client, or a function that makes it when
        it is first needed (a batch that delivers everything never needs it).
    persistence_store:
        Powertools idempotency store (DynamoDB), or how to make it on first use; ``None`` turns
        duplicate suppression off.
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
        sqs_client: SQSClient | Callable[[], SQSClient],
        persistence_store: BasePersistenceLayer | Callable[[], BasePersistenceLayer] | None,
        delivery_log: DeliveryLog | None = None,
        status_table: StatusTable | None = None,
    ) -> None:
        settings.required("dead_letter_queue_url")  # fail at construction, not at a DLQ write
        self.settings = settings
        self.config_provider = config_provider
        self._made_sqs_client = on_first_use(sqs_client)
        self.once = DeliverOnce(persistence_store)
        self.delivery_log = delivery_log
        self.status_table = status_table
        self.sessions = Sessions(
            timeout=settings.smtp_timeout,
            allow_private_hosts=settings.allow_private_hosts,
            connections_for=settings.connections_for,
            tokens=Tokens(allow_private_hosts=settings.allow_private_hosts),
        )

    @property
    def sqs(self) -> SQSClient:
        """The SQS client, made on first use."""
        return self._made_sqs_client()

    def handle(self, event: dict[str, Any], context: LambdaContext) -> BatchResponse:
        """Process one SQS event; return the partial batch response."""
        records = [SqsRecord(raw) for raw in event.get("Records") or []]
        batch = _Batch(self, context)
        try:
            batch.identify(records)
            # The processing marks go out while the mail does; the outcomes read what they read.
            with ThreadPoolExecutor(max_workers=1) as marker:
                marking = marker.submit(batch.begin, records)
                items = batch.deliver(records)
                marking.result()
            handed_back = [item.record.message_id for item in items if not batch.report(item)]
        finally:
            batch.finish()
        return {"batchItemFailures": [{"itemIdentifier": id_} for id_ in handed_back]}


@dataclass(eq=False)
class _Item:
    """One record of the batch and everything its outcome is decided from."""

    record: SqsRecord
    ref: MessageRef
    attempt: int
    message: CourierMessage | None = None
    key: str | None = None
    retries: int | None = None
    config: ProjectConfig | None = None
    dead_lettered_already: bool = False
    claim: Claim | None = None
    delivery: Delivery | None = None
    delivered: Delivered | None = None
    error: Exception | None = None
    """Why the message was not delivered (``None``: it was, or it is still under way)."""
    holds_record: bool = False
    """The idempotency record could not be released after the failure."""
    smtp_message_id: str | None = None
    reply: str | None = field(default=None, repr=False)


class _Batch:
    """The state of one invocation: its deadline, its records and the visibility changes to
    make."""

    def __init__(self, sender: Sender, context: LambdaContext) -> None:
        self._sender = sender
        self._settings = sender.settings
        self._context = context
        self._messages: dict[str, CourierMessage | Exception] = {}
        self._refs: dict[str, MessageRef] = {}
        self.status = StatusBatch(sender.status_table)
        started_with = self._remaining_seconds()
        self.deadline = Deadline.after(started_with - RESERVE_SECONDS)
        """When every SMTP session of this invocation must be done."""
        # Another attempt's idempotency record lasts until its invocation ended: at most the
        # function's timeout, which is about what this invocation started with.
        self.settlement = Settlement(
            settings=self._settings,
            sqs=lambda: sender.sqs,
            delivery_log=sender.delivery_log,
            status=self.status,
            in_progress_seconds=math.ceil(started_with) + 1,
        )

    def identify(self, records: Sequence[SqsRecord]) -> None:
        """Read every record's message once: whom it is for, and its id."""
        for record in records:
            self._identify(record)

    def begin(self, records: Sequence[SqsRecord]) -> None:
        """Mark the batch's messages ``processing`` (in a thread of its own, while
        :meth:`deliver` runs: their records are read here, but not written until
        :meth:`report`)."""
        self.status.begin([self._refs[record.message_id] for record in records])

    def deliver(self, records: Sequence[SqsRecord]) -> list[_Item]:
        """Phases 1 to 4: every record's message sent or failed, its claim written."""
        refs = [self._identify(record) for record in records]
        # Each project's configuration is one SSM call when not cached: read them side by side.
        if self._sender.config_provider.max_age > 0:
            projects = {ref.project_id for ref in refs}
            _in_parallel(self._read_config, sorted(projects))
        items = [self._prepare(record) for record in records]
        ready = [item for item in items if item.error is None and not item.dead_lettered_already]
        claimed: list[_Item] = []
        try:
            # The sessions open (network waits) while the claims are written and the mails
            # composed (AWS calls and CPU).
            expected = [item.config for item in ready if item.config is not None]
            with self._sender.sessions.start(expected, deadline=self.deadline) as outbox:
                remaining_millis = int(self._context.get_remaining_time_in_millis())
                _in_parallel(lambda item: self._claim(item, remaining_millis), ready)
                claimed = [item for item in ready if item.claim is not None]
                for item in claimed:
                    if item.claim is not None and item.claim.duplicate is not None:
                        item.delivered = item.claim.duplicate
                    elif self._compose(item) and item.delivery is not None:
                        outbox.add(item.delivery)
        except Exception:  # a bug: what a session left without a result is retried
            logger.exception("the batch's SMTP sessions failed")
        for item in claimed:
            if item.delivered is None and item.error is None:
                result = item.delivery.result if item.delivery is not None else None
                if isinstance(result, str):
                    item.reply = result
                else:
                    item.error = result or CourierError("the message was not sent (internal error)")
        _in_parallel(self._record, [item for item in claimed if item.delivered is None])
        return items

    def report(self, item: _Item) -> bool:
        """Phase 5: carry out ``item``'s outcome; ``True`` if its record is acknowledged."""
        record, ref = item.record, item.ref
        # Keys of the previous record must not leak into this record's logs.
        logger.set_correlation_id(record.message_id)
        logger.append_keys(
            sqs_message_id=record.message_id,
            attempt=item.attempt,
            project_id=None,
            template_type=ref.template_type,
            recipient=mask_recipient(ref.recipient),
        )
        try:
            if item.dead_lettered_already:
                # SQS handed over again a message whose delete was lost after its DLQ write.
                logger.info("message dead-lettered by an earlier attempt: acknowledged")
                count_outcome(Outcome.DUPLICATE)
                self.status.unchanged(ref, otherwise=Status.DEAD_LETTERED)
                return True
            if item.message is not None:
                logger.set_correlation_id(ref.message_id)
                logger.append_keys(project_id=ref.project_id)
            self._log_write_failures(item.claim)
            if item.delivered is None:
                assert item.error is not None
                self.settlement.failed(
                    Failure(
                        record=record,
                        ref=ref,
                        attempt=item.attempt,
                        key=item.key,
                        error=item.error,
                        retries=item.retries,
                        holds_record=item.holds_record,
                        smtp_message_id=item.smtp_message_id,
                    )
                )
                return True
        except HandedBack:
            return False
        except Exception:
            logger.exception("the outcome could not be carried out: the message is retried")
            return False
        delivered = item.delivered
        outcome = Outcome.DUPLICATE if delivered.duplicate else Outcome.DELIVERED
        logger.info(f"message {outcome}", extra={"smtp_message_id": delivered.message_id})
        count_outcome(outcome)
        if delivered.duplicate:
            self.status.unchanged(ref, otherwise=Status.DELIVERED)
        else:
            self.status.delivered(ref, reply=item.reply, smtp_message_id=delivered.message_id)
        return True

    def finish(self) -> None:
        self.settlement.apply_visibility()
        self.status.flush()  # last: whatever the status table does, the mail's fate is settled

    # The phases, per message.

    def _prepare(self, record: SqsRecord) -> _Item:
        ref = self._identify(record)
        item = _Item(
            record=record,
            ref=ref,
            attempt=record.receive_count,
        )
        if item.attempt > 1 and self.settlement.dead_lettered_already(record):
            item.dead_lettered_already = True
            return item
        try:
            item.message = self._message(record)
            item.key = f"{ref.project_id}:{ref.message_id}"
            try:
                item.config = self._sender.config_provider.get(ref.project_id)
            except ConfigError as error:
                item.retries = error.message_retries
                raise
            item.retries = item.config.message_retries
            if (broken := item.config.template_error(item.message.template_type)) is not None:
                raise broken  # this type's template only: the project's other mail goes out
            self._check_time()
        except Exception as error:  # every failure must end as an outcome, bugs included
            item.error = error
        return item

    def _read_config(self, project_id: str) -> None:
        """Fill the configuration cache (a failure is the message's, raised again by
        :meth:`_prepare`)."""
        with contextlib.suppress(Exception):  # the same read, in _prepare, reports it
            self._sender.config_provider.get(project_id)

    def _claim(self, item: _Item, remaining_millis: int) -> None:
        assert item.key is not None
        try:
            item.claim = self._sender.once.claim(item.key, remaining_millis=remaining_millis)
        except Exception as error:
            item.error = error

    def _compose(self, item: _Item) -> bool:
        assert item.message is not None
        assert item.config is not None
        assert item.key is not None
        try:
            mail = compose(item.message, item.config, key=item.key)
        except Exception as error:
            item.error = error
            return False
        item.smtp_message_id = str(mail.email["Message-ID"])
        item.delivery = Delivery(mail=mail, config=item.config)
        return True

    def _record(self, item: _Item) -> None:
        """Write what became of a claimed message into its idempotency record."""
        assert item.claim is not None
        once = self._sender.once
        if item.error is None:
            item.delivered = once.delivered(item.claim, message_id=item.smtp_message_id)
        else:
            item.holds_record = not once.failed(item.claim, item.error)

    def _identify(self, record: SqsRecord) -> MessageRef:
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

    def _message(self, record: SqsRecord) -> CourierMessage:
        parsed = self._messages[record.message_id]
        if isinstance(parsed, Exception):
            raise parsed
        return parsed

    def _log_write_failures(self, claim: Claim | None) -> None:
        if claim is None:
            return
        for failure in claim.write_failures:
            logger.warning(failure)
        if claim.unrecorded is not None:
            logger.error(
                f"the idempotency record could not be updated ({claim.unrecorded}); the "
                "outcome stands",
                extra={"idempotency_write": claim.unrecorded},
            )

    # Time.

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


def _in_parallel(work: Callable[[_T], None], items: Iterable[_T]) -> None:
    """Run ``work`` on each item, several at once (each is a call to AWS and its wait)."""
    batch = list(items)
    if len(batch) <= 1:
        for item in batch:
            work(item)
        return
    with ThreadPoolExecutor(max_workers=min(len(batch), _PARALLEL_WRITES)) as pool:
        for future in [pool.submit(work, item) for item in batch]:
            future.result()
