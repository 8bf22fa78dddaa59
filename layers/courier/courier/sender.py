"""The sender: one SQS batch in, every message delivered, retried or dead-lettered.

The batch runs through Powertools' ``BatchProcessor`` (partial batch responses). For each record
:meth:`Sender.handle_record` parses the message, reads the project's configuration, composes the
mail and sends it over the project's session for this batch, at most once per idempotency key.
Any failure becomes an outcome of DESIGN §5 (:mod:`courier.outcomes`): dead-lettered with its
cause (then acknowledged), or handed back to SQS with a backoff set through the message's
visibility timeout. A message is acknowledged only when it was delivered or its DLQ write
succeeded.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

from courier.config import ProjectConfig
from courier.config_provider import ConfigProvider
from courier.delivery import Connections, compose
from courier.errors import CourierError
from courier.message import CourierMessage, parse_message
from courier.observability import count_outcome, logger
from courier.outcomes import (
    BACKOFF_BASE_SECONDS,
    Cause,
    DeadLetterReason,
    Outcome,
    backoff_seconds,
    classify,
    dead_letter_attributes,
)

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_sqs import SQSClient

__all__ = ["HandedBack", "Sender", "SenderSettings"]

DEFAULT_MESSAGE_RETRIES = 5
IDEMPOTENCY_EXPIRY_SECONDS = 24 * 60 * 60


class HandedBack(CourierError):
    """A record goes back to SQS for a later attempt (``Cause`` says why)."""

    def __init__(self, cause: Cause) -> None:
        super().__init__(cause.message)
        self.cause = cause


@dataclass(frozen=True, kw_only=True)
class SenderSettings:
    """The sender's stack settings (environment variables set by ``template.yaml``)."""

    dead_letter_queue_url: str
    default_project: str = "default"
    smtp_timeout: float = 10.0
    allow_private_hosts: bool = False
    max_receive_count: int = 21
    """The queue's ``maxReceiveCount``: courier dead-letters with the cause before SQS would
    without one."""
    backoff_base_seconds: int = BACKOFF_BASE_SECONDS
    """The first retry's delay; each later one doubles it (local demos shorten it)."""

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> SenderSettings:
        return cls(
            dead_letter_queue_url=environ["COURIER_DLQ_URL"],
            default_project=environ.get("COURIER_DEFAULT_PROJECT", "default"),
            smtp_timeout=float(environ.get("COURIER_SMTP_TIMEOUT_SECONDS", "10")),
            allow_private_hosts=environ.get("COURIER_ALLOW_PRIVATE_SMTP_HOSTS", "false").lower()
            == "true",
            max_receive_count=int(environ.get("COURIER_MAX_RECEIVE_COUNT", "21")),
            backoff_base_seconds=int(
                environ.get("COURIER_RETRY_BACKOFF_BASE_SECONDS", str(BACKOFF_BASE_SECONDS))
            ),
        )


class Sender:
    """Delivers SQS batches of courier messages.

    Parameters
    ----------
    settings:
        The stack's settings.
    config_provider:
        Where projects' configurations come from (cached).
    sqs_client:
        For DLQ writes and visibility changes.
    persistence_store:
        Powertools idempotency store (DynamoDB); ``None`` turns duplicate suppression off.

    Example
    -------
    >>> sender = Sender(settings=..., config_provider=..., sqs_client=...)  # doctest: +SKIP
    >>> sender.handle(event, context)  # doctest: +SKIP
    {'batchItemFailures': [{'itemIdentifier': '...'}]}
    """

    def __init__(
        self,
        *,
        settings: SenderSettings,
        config_provider: ConfigProvider,
        sqs_client: SQSClient,
        persistence_store: BasePersistenceLayer | None,
    ) -> None:
        self.settings = settings
        self._config_provider = config_provider
        self._sqs = sqs_client
        self._idempotency = IdempotencyConfig(
            event_key_jmespath="key",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=IDEMPOTENCY_EXPIRY_SECONDS,
            response_hook=_mark_duplicate,
        )
        self._deliver_once = (
            idempotent_function(
                data_keyword_argument="delivery",
                persistence_store=persistence_store,
                config=self._idempotency,
            )(_deliver)
            if persistence_store is not None
            else _deliver
        )

    def handle(self, event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
        """Process one SQS event; return the partial batch response."""
        self._idempotency.register_lambda_context(context)
        batch = _Batch(
            settings=self.settings,
            config_provider=self._config_provider,
            sqs_client=self._sqs,
            deliver_once=self._deliver_once,
            context=context,
        )
        processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        try:
            return process_partial_response(
                event=event, record_handler=batch.handle_record, processor=processor
            )
        finally:
            batch.finish()


def _deliver(
    *, delivery: dict[str, str], mail_message: CourierMessage, config: ProjectConfig, batch: _Batch
) -> dict[str, str]:
    """Send one message (wrapped by Powertools idempotency: once per ``delivery["key"]``)."""
    mail = compose(mail_message, config)
    batch.connections.send(mail, config)
    return {"message_id": str(mail.email["Message-ID"])}


def _mark_duplicate(response: Any, idempotent_data: DataRecord) -> Any:
    return {**response, "duplicate": True} if isinstance(response, dict) else response


class _Batch:
    """The state of one invocation: its SMTP sessions and the visibility changes to make."""

    def __init__(
        self,
        *,
        settings: SenderSettings,
        config_provider: ConfigProvider,
        sqs_client: SQSClient,
        deliver_once: Callable[..., dict[str, Any]],
        context: LambdaContext,
    ) -> None:
        self._settings = settings
        self._config_provider = config_provider
        self._sqs = sqs_client
        self._deliver_once = deliver_once
        self._context = context
        self._visibility: list[tuple[str, str, int]] = []
        self._socket_timeout = self._fit_socket_timeout()
        self.connections = Connections(
            timeout=self._socket_timeout,
            allow_private_hosts=self._settings.allow_private_hosts,
        )

    def handle_record(self, record: SQSRecord) -> str:
        attempt = int(record.attributes.approximate_receive_count or "1")
        # Keys of the previous record must not leak into this record's logs.
        logger.set_correlation_id(record.message_id)
        logger.append_keys(sqs_message_id=record.message_id, attempt=attempt, project_id=None)
        if self._out_of_time():
            self._hand_back(record, delay=0)
            raise HandedBack(
                Cause(
                    kind="lambda",
                    code="out_of_time",
                    message="stopped before the function's timeout",
                    permanent=False,
                )
            )
        project_id = self._settings.default_project
        retries = DEFAULT_MESSAGE_RETRIES
        try:
            message = parse_message(record.body)
            project_id = message.project_id or project_id
            message_key = message.id or record.message_id
            logger.set_correlation_id(message_key)
            logger.append_keys(project_id=project_id)
            config = self._config_provider.get(project_id)
            retries = config.message_retries
            result = self._deliver_once(
                delivery={"key": f"{project_id}:{message_key}"},
                mail_message=message,
                config=config,
                batch=self,
            )
        except Exception as error:  # every failure must end as an outcome, bugs included
            return self._fail(record, classify(error), attempt, project_id, retries)
        outcome = Outcome.DUPLICATE if result.get("duplicate") else Outcome.DELIVERED
        logger.info(f"message {outcome}", extra={"smtp_message_id": result.get("message_id")})
        count_outcome(outcome)
        return str(outcome)

    def finish(self) -> None:
        self.connections.close_all()
        self._apply_visibility()

    def _fail(
        self, record: SQSRecord, cause: Cause, attempt: int, project_id: str, retries: int
    ) -> str:
        max_attempts = min(retries + 1, self._settings.max_receive_count)
        log = {"error_kind": cause.kind, "error_code": cause.code, "smtp_step": cause.step}
        if cause.permanent or attempt >= max_attempts:
            reason = (
                DeadLetterReason.PERMANENT
                if cause.permanent
                else DeadLetterReason.ATTEMPTS_EXHAUSTED
            )
            self._dead_letter(record, cause, reason, attempt, project_id)
            logger.error(f"message dead-lettered ({reason}): {cause.message}", extra=log)
            count_outcome(Outcome.DEAD_LETTERED, cause)
            return str(Outcome.DEAD_LETTERED)
        delay = backoff_seconds(attempt, base=self._settings.backoff_base_seconds)
        self._hand_back(record, delay=delay)
        logger.warning(f"message retried in {delay}s: {cause.message}", extra=log)
        count_outcome(Outcome.RETRIED, cause)
        raise HandedBack(cause)

    def _dead_letter(
        self,
        record: SQSRecord,
        cause: Cause,
        reason: DeadLetterReason,
        attempt: int,
        project_id: str,
    ) -> None:
        """Write the original body with its cause to the DLQ; raises if SQS refuses (so the
        record is retried rather than lost)."""
        self._sqs.send_message(
            QueueUrl=self._settings.dead_letter_queue_url,
            MessageBody=record.body,
            MessageAttributes=dead_letter_attributes(
                cause,
                reason=reason,
                attempts=attempt,
                project_id=project_id,
                source_message_id=record.message_id,
            ),
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
                    self._sqs.change_message_visibility_batch(
                        QueueUrl=queue_url,
                        Entries=[
                            {"Id": str(n), "ReceiptHandle": handle, "VisibilityTimeout": delay}
                            for n, (handle, delay) in enumerate(chunk)
                        ],
                    )
                except Exception:
                    logger.exception("could not set the backoff of retried messages")

    def _remaining_seconds(self) -> float:
        return float(self._context.get_remaining_time_in_millis()) / 1000

    def _fit_socket_timeout(self) -> float:
        """The batch's socket timeout: ``SmtpTimeoutSeconds``, shrunk so that a message can
        start with the time this invocation has (see :meth:`_out_of_time`)."""
        return max(1.0, min(self._settings.smtp_timeout, (self._remaining_seconds() - 2) / 3))

    def _out_of_time(self) -> bool:
        # A message may wait on a couple of socket timeouts (e.g. a reopen, then DATA), and its
        # outcome must still be recorded before the function is stopped.
        return self._remaining_seconds() < 2 * self._socket_timeout + 2
