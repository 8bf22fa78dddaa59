"""The status table: the sender's record of each invocation's messages (docs/design.md §9).

:class:`StatusBatch` is the account of one invocation: :meth:`~StatusBatch.begin` reads the
heads of the batch's messages and marks them ``processing`` (one ``BatchGetItem``, one
``BatchWriteItem`` per 25 heads); each outcome appends its dispatch to the head read, and
:meth:`~StatusBatch.flush` writes the heads again, history and all (one ``BatchWriteItem`` per
25, side by side, unprocessed items tried again): ``1 + 2 * ceil(n / 25)`` calls for ``n``
messages. A failing status table costs the status, never the mail: both log it, count
``StatusWriteFailures`` and carry on.

Example
-------
>>> table = StatusTable(table_name="MessageStatusTable", client=ddb)  # doctest: +SKIP
>>> batch = StatusBatch(table)  # doctest: +SKIP
>>> batch.begin([ref])  # doctest: +SKIP
>>> batch.delivered(ref, reply="2.0.0 Ok: queued as 4F2A1", smtp_message_id=None)  # doctest: +SKIP
>>> batch.flush()  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeSerializer

from courier.lazy import on_first_use
from courier.observability import count_status_write_failure, logger
from courier.outcomes import Cause
from courier.status import (
    HEAD_SORT_KEY,
    MAX_DISPATCHES,
    Dispatch,
    Head,
    MessageRef,
    Status,
    from_item,
    head_of,
    partition_key,
    timestamp,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["BATCH_WRITE_ITEMS", "TRIES", "StatusBatch", "StatusTable", "StatusTableError"]

BATCH_WRITE_ITEMS = 25
"""DynamoDB's most items per ``BatchWriteItem``."""
BATCH_GET_KEYS = 100
TRIES = 3
"""Calls per chunk, while DynamoDB hands back unprocessed items (boto3 retries errors itself)."""
_PARALLEL_WRITES = 4
"""``BatchWriteItem`` calls in flight at once (a batch of 100 heads is 4 of them)."""
_serializer = TypeSerializer()


class StatusTableError(Exception):
    """The status table could not be read or written."""


class StatusTable:
    """The status table, through a DynamoDB client.

    Parameters
    ----------
    table_name, client:
        Where (``COURIER_STATUS_TABLE``), and how: a DynamoDB client, or how to make it on
        first use.
    retention_days:
        How long items are kept (their ``expires_at``, the table's TTL attribute).
    clock:
        Seconds since the epoch (tests pass a clock that ticks).
    """

    def __init__(
        self,
        *,
        table_name: str,
        client: DynamoDBClient | Callable[[], DynamoDBClient],
        retention_days: int = 30,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.table_name = table_name
        self._made_client = on_first_use(client)
        self.retention_days = retention_days
        self.clock = clock

    @property
    def client(self) -> DynamoDBClient:
        return self._made_client()

    def expires_at(self, now: float) -> int:
        return int(now) + self.retention_days * 86400

    def read_heads(self, pks: Iterable[str]) -> dict[str, Head]:
        """The heads there are of ``pks``; raises :class:`StatusTableError` for any not read."""
        wanted = list(dict.fromkeys(pks))
        found: dict[str, Head] = {}
        for start in range(0, len(wanted), BATCH_GET_KEYS):
            keys: list[Any] = [
                {"pk": {"S": pk}, "sk": {"S": HEAD_SORT_KEY}}
                for pk in wanted[start : start + BATCH_GET_KEYS]
            ]
            for _ in range(TRIES):
                answer = self._call(
                    self.client.batch_get_item,
                    RequestItems={self.table_name: {"Keys": keys, "ConsistentRead": True}},
                )
                for item in answer.get("Responses", {}).get(self.table_name, []):
                    head = head_of(from_item(item))
                    found[partition_key(head.project_id, head.id)] = head
                keys = list(
                    answer.get("UnprocessedKeys", {}).get(self.table_name, {}).get("Keys", [])
                )
                if not keys:
                    break
            if keys:
                raise StatusTableError(f"{len(keys)} heads unread after {TRIES} tries")
        return found

    def write(self, items: list[dict[str, Any]]) -> int:
        """Put ``items`` (plain values), 25 a call, the calls side by side; returns how many
        could not be written."""
        chunks = [
            items[start : start + BATCH_WRITE_ITEMS]
            for start in range(0, len(items), BATCH_WRITE_ITEMS)
        ]
        if len(chunks) <= 1:
            return sum(self._write_chunk(chunk) for chunk in chunks)
        with ThreadPoolExecutor(max_workers=min(len(chunks), _PARALLEL_WRITES)) as pool:
            return sum(pool.map(self._write_chunk, chunks))

    def _write_chunk(self, chunk: list[dict[str, Any]]) -> int:
        requests: list[Any] = [
            {"PutRequest": {"Item": {k: _serializer.serialize(v) for k, v in item.items()}}}
            for item in chunk
        ]
        try:
            for _ in range(TRIES):
                answer = self._call(
                    self.client.batch_write_item, RequestItems={self.table_name: requests}
                )
                requests = list(answer.get("UnprocessedItems", {}).get(self.table_name, []))
                if not requests:
                    break
        except StatusTableError:
            logger.exception("could not write message status items")
        return len(requests)

    def _call(self, operation: Callable[..., Any], **arguments: Any) -> Any:
        try:
            return operation(**arguments)
        except Exception as exc:  # any boto failure: the status is lost, never the mail
            raise StatusTableError(f"{type(exc).__name__}: {exc}") from exc


class StatusBatch:
    """The status of one invocation's heads, written at its start and at its end (see the
    module).

    Parameters
    ----------
    table:
        The status table; ``None``: nothing is recorded.

    No method raises: a status that cannot be read or written is logged and counted.
    """

    def __init__(self, table: StatusTable | None) -> None:
        self._table = table
        self._prior: dict[str, Head | None] = {}
        """Each known message's head as it was before this invocation."""
        self._heads: dict[str, Head] = {}
        self._pending: dict[str, Head] = {}
        self._expires_at = 0

    def begin(self, refs: Iterable[MessageRef]) -> None:
        """Read the heads of ``refs`` and mark each ``processing`` (a message whose head cannot
        be read is not recorded by this invocation: its history would be overwritten)."""
        if self._table is None:
            return
        with _guarded("the batch's start"):
            self._begin({ref.pk: ref for ref in refs})

    def _begin(self, by_pk: dict[str, MessageRef]) -> None:
        assert self._table is not None
        if not by_pk:
            return
        try:
            prior = self._table.read_heads(by_pk)
        except StatusTableError:
            logger.exception("could not read message status heads; this batch's are not recorded")
            count_status_write_failure(len(by_pk))
            return
        started = self._table.clock()
        self._expires_at = self._table.expires_at(started)
        now = timestamp(started)
        for pk, ref in by_pk.items():
            head = prior.get(pk) or Head(
                project_id=ref.project_id,
                id=ref.message_id,
                template_type=ref.template_type,
                recipient=ref.recipient,
                status=Status.PROCESSING,
                send_count=0,
                created_at=now,
                updated_at=now,
            )
            self._prior[pk] = prior.get(pk)
            self._heads[pk] = replace(head, status=Status.PROCESSING, updated_at=now)
        self._write([head.item(expires_at=self._expires_at) for head in self._heads.values()])

    def delivered(self, ref: MessageRef, *, reply: str | None, smtp_message_id: str | None) -> None:
        """The server accepted the message (``reply``: its text after the ``250``)."""
        if ref.pk in self._heads:
            with _guarded("a delivery"):
                at = self._now()
                dispatch = Dispatch.succeeded(at=at, reply=reply, smtp_message_id=smtp_message_id)
                self._dispatch(ref, Status.DELIVERED, dispatch)

    def failed(
        self, ref: MessageRef, status: Status, cause: Cause, *, smtp_message_id: str | None
    ) -> None:
        """An attempt failed with ``cause``; the message is now ``status``."""
        if ref.pk in self._heads:
            with _guarded("a failure"):
                at = self._now()
                dispatch = Dispatch.failed(at=at, cause=cause, smtp_message_id=smtp_message_id)
                self._dispatch(ref, status, dispatch)

    def unchanged(self, ref: MessageRef, *, otherwise: Status) -> None:
        """Nothing was attempted (an earlier attempt delivered or dead-lettered the message):
        the head goes back to its status before this invocation, or to ``otherwise`` when it
        had none (or only ``processing``)."""
        head = self._heads.get(ref.pk)
        if head is None or head.status is not Status.PROCESSING:
            return
        prior = self._prior.get(ref.pk)
        known = prior is not None and prior.status is not Status.PROCESSING
        head = replace(head, status=prior.status if prior and known else otherwise)
        self._heads[ref.pk] = self._pending[ref.pk] = head

    def flush(self) -> None:
        """Write the outcomes collected (the heads, each with its dispatches)."""
        if self._table is None or not self._pending:
            return
        with _guarded("the batch's outcomes"):
            self._write([head.item(expires_at=self._expires_at) for head in self._pending.values()])
        self._pending.clear()

    def _dispatch(self, ref: MessageRef, status: Status, dispatch: Dispatch) -> None:
        head = self._heads.get(ref.pk)
        if head is None:  # not recorded by this invocation (see begin)
            return
        number = head.send_count + 1
        head = replace(
            head,
            status=status,
            send_count=number,
            updated_at=dispatch.created_at,
            last_error_code=dispatch.error_code or head.last_error_code,
            smtp_message_id=dispatch.smtp_message_id or head.smtp_message_id,
            dispatches=(*head.dispatches, replace(dispatch, attempt=number))[-MAX_DISPATCHES:],
        )
        self._heads[ref.pk] = self._pending[ref.pk] = head

    def _write(self, items: list[dict[str, Any]]) -> None:
        assert self._table is not None
        lost = self._table.write(items)
        if lost:
            logger.error(f"{lost} message status items were not written", extra={"lost": lost})
            count_status_write_failure(lost)

    def _now(self) -> str:
        assert self._table is not None
        return timestamp(self._table.clock())


@contextmanager
def _guarded(what: str) -> Iterator[None]:
    """A bug in recording a status must not become the message's failure."""
    try:
        yield
    except Exception:
        logger.exception(f"could not record the message status of {what}")
        count_status_write_failure()
