"""The SQS event source mapping, played locally: queue → batches → the function → deletes.

It does what Lambda's poller does for a standard queue:

- receives up to ``BatchSize`` messages, waiting up to ``MaximumBatchingWindowInSeconds`` to
  fill a batch, and invokes the function with them as one SQS event;
- when the function returns and ``ReportBatchItemFailures`` is on, deletes every message not
  listed in ``batchItemFailures``; an invalid response (an unknown or empty
  ``itemIdentifier``, not an object) fails the whole batch; without the setting, a return
  deletes the whole batch;
- when the invocation fails (an unhandled error, the timeout), deletes nothing: the messages
  come back when their visibility timeout ends;
- leaves redrive to the queue: SQS (moto) moves a message to the dead-letter queue once it was
  received ``maxReceiveCount`` times.

Up to ``MaximumConcurrency`` batches run at once (capped by ``max_workers``).

Example
-------
>>> mapping = EventSourceMapping(sqs=sqs, queue_url=url, queue_arn=arn, source=source,
...                              invoke=lambda event: invoke(spec, event))  # doctest: +SKIP
>>> mapping.poll_once()  # doctest: +SKIP
BatchReport(message_ids=('…',), failed_ids=(), error_type=None, ...)
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from local.invoke import InvokeResult
from local.sqs import receive_event
from local.template import SqsEventSource

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

__all__ = ["BatchReport", "EventSourceMapping", "failed_records"]


@dataclass(frozen=True)
class BatchReport:
    """One invocation of the mapping, for progress and summaries."""

    message_ids: tuple[str, ...]
    failed_ids: tuple[str, ...]
    """Messages left on the queue (reported, or all of them on a failed invoke)."""
    error_type: str | None
    """Why the whole batch failed: the function's ``errorType`` or ``InvalidBatchResponse``."""
    result: InvokeResult
    receive_counts: dict[str, int]
    """``ApproximateReceiveCount`` of each message: 1 on its first attempt."""


def failed_records(
    result: InvokeResult, message_ids: Sequence[str], *, report_batch_item_failures: bool
) -> tuple[set[str], str | None]:
    """The messages of a batch that stay on the queue, and why the whole batch failed if it did.

    Parameters
    ----------
    result:
        The invocation.
    message_ids:
        The batch's message IDs.
    report_batch_item_failures:
        The mapping's ``FunctionResponseTypes`` has ``ReportBatchItemFailures``.
    """
    everything = set(message_ids)
    if result.failed:
        return everything, result.error_type
    if not report_batch_item_failures:
        return set(), None
    payload = result.payload
    if payload is None or payload == {}:
        return set(), None
    if not isinstance(payload, dict):
        return everything, "InvalidBatchResponse"
    items = payload.get("batchItemFailures")
    if items is None or items == []:
        return set(), None
    if not isinstance(items, list):
        return everything, "InvalidBatchResponse"
    failed: set[str] = set()
    for item in items:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not identifier or identifier not in everything:
            return everything, "InvalidBatchResponse"
        failed.add(str(identifier))
    return failed, None


class EventSourceMapping:
    """Polls one queue and feeds the function, as Lambda's SQS event source mapping.

    Parameters
    ----------
    sqs:
        A client of the (embedded) SQS.
    queue_url, queue_arn:
        The queue.
    source:
        The function's SQS event (batch size, window, response types, concurrency).
    invoke:
        Runs the function on an event (JSON text).
    max_workers:
        The most batches in flight here, below the template's ``MaximumConcurrency``.
    on_batch:
        Called after each batch with its :class:`BatchReport` (from a worker thread).
    """

    def __init__(
        self,
        *,
        sqs: SQSClient,
        queue_url: str,
        queue_arn: str,
        source: SqsEventSource,
        invoke: Callable[[str], InvokeResult],
        max_workers: int = 2,
        on_batch: Callable[[BatchReport], None] | None = None,
    ) -> None:
        self._sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.source = source
        self._invoke = invoke
        self.workers = max(1, min(max_workers, source.maximum_concurrency))
        self._on_batch = on_batch
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def poll_once(self, *, wait_seconds: int = 0) -> BatchReport | None:
        """Receive one batch and run it through the function; ``None`` when the queue is empty."""
        records = self._receive(wait_seconds)
        if not records:
            return None
        ids = [record["messageId"] for record in records]
        result = self._invoke(json.dumps({"Records": records}))
        failed, error_type = failed_records(
            result, ids, report_batch_item_failures=self.source.report_batch_item_failures
        )
        done = [record for record in records if record["messageId"] not in failed]
        for start in range(0, len(done), 10):
            self._sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": record["receiptHandle"]}
                    for n, record in enumerate(done[start : start + 10])
                ],
            )
        report = BatchReport(
            message_ids=tuple(ids),
            failed_ids=tuple(i for i in ids if i in failed),
            error_type=error_type,
            result=result,
            receive_counts={
                record["messageId"]: int(record["attributes"].get("ApproximateReceiveCount", 1))
                for record in records
            },
        )
        if self._on_batch is not None:
            self._on_batch(report)
        return report

    def _receive(self, wait_seconds: int) -> list[dict[str, Any]]:
        wanted = self.source.batch_size
        deadline = time.monotonic() + self.source.batching_window_seconds
        records: list[dict[str, Any]] = []
        wait = wait_seconds
        while len(records) < wanted:
            event = receive_event(
                self._sqs,
                queue_url=self.queue_url,
                queue_arn=self.queue_arn,
                max_messages=min(10, wanted - len(records)),
                wait_seconds=wait,
            )
            records += event["Records"]
            remaining = deadline - time.monotonic()
            if (not event["Records"] and not records) or remaining <= 0:
                break
            wait = max(0, min(int(remaining), 20))
            if not event["Records"] and wait == 0:
                break
        return records

    def start(self) -> None:
        """Poll in background threads until :meth:`stop`."""
        self._stop.clear()
        for n in range(self.workers):
            thread = threading.Thread(target=self._run, name=f"esm-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Stop polling; waits for the batches in flight."""
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self._threads.clear()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once(wait_seconds=1)
            except Exception as exc:  # the queue's endpoint went away, or a bug: keep polling
                print(f"event source mapping: {type(exc).__name__}: {exc}", file=sys.stderr)
                self._stop.wait(1)
