"""What SQS cannot carry from one receive of a message to the next.

Two facts outlive an attempt and change what a later one must do:

- **A server may already have the mail.** When the connection is lost after the whole message
  was sent, the message is retried (at-least-once, as MTAs do) with the same ``Message-ID``. If
  a later attempt then dead-letters it for another reason (a 550, attempts exhausted), its DLQ
  attributes must still say ``courier.maybe_delivered=true``, or a redrive would send a second
  copy of a mail that arrived. Keyed by the message's idempotency key.
- **The message was dead-lettered already.** SQS delivers at least once: if the delete after a
  DLQ write is lost, the same SQS message comes back. It must be acknowledged, not dead-lettered
  (or delivered) a second time. Keyed by the SQS message id, so a redrive from the DLQ, which
  is a new SQS message, is handled afresh.

Both are items in the idempotency table (with its TTL attribute ``expiration``), written only on
those rare paths, and read only for a message SQS hands over again.

Example
-------
>>> log = DynamoDBDeliveryLog(table_name="IdempotencyTable", client=ddb)  # doctest: +SKIP
>>> log.note_maybe_delivered("acme:reset-42")  # doctest: +SKIP
>>> log.maybe_delivered("acme:reset-42")  # doctest: +SKIP
True
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from courier.lazy import on_first_use

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["RETENTION_SECONDS", "DeliveryLog", "DynamoDBDeliveryLog"]

RETENTION_SECONDS = 14 * 24 * 60 * 60
"""As long as a message can stay on the queue (``MessageRetentionSeconds`` at most)."""

_MAYBE_DELIVERED = "courier#maybe-delivered#"
_DEAD_LETTERED = "courier#dead-lettered#"


class DeliveryLog(Protocol):
    """Where the sender keeps what later receives of a message must know."""

    def note_maybe_delivered(self, key: str) -> None:
        """An attempt at the message with idempotency key ``key`` may have delivered it."""

    def maybe_delivered(self, key: str) -> bool:
        """Whether an earlier attempt at ``key`` may have delivered it."""

    def note_dead_lettered(self, sqs_message_id: str) -> None:
        """The SQS message ``sqs_message_id`` was written to the DLQ."""

    def dead_lettered(self, sqs_message_id: str) -> bool:
        """Whether the SQS message ``sqs_message_id`` was written to the DLQ already."""


class DynamoDBDeliveryLog:
    """:class:`DeliveryLog` in a DynamoDB table keyed by ``id`` (the idempotency table).

    Parameters
    ----------
    table_name:
        The table.
    client:
        A DynamoDB client, or how to make it on first use.
    """

    def __init__(
        self, *, table_name: str, client: DynamoDBClient | Callable[[], DynamoDBClient]
    ) -> None:
        self.table_name = table_name
        self._made_client = on_first_use(client)

    @property
    def _client(self) -> DynamoDBClient:
        return self._made_client()

    def note_maybe_delivered(self, key: str) -> None:
        self._put(_MAYBE_DELIVERED + key)

    def maybe_delivered(self, key: str) -> bool:
        return self._exists(_MAYBE_DELIVERED + key)

    def note_dead_lettered(self, sqs_message_id: str) -> None:
        self._put(_DEAD_LETTERED + sqs_message_id)

    def dead_lettered(self, sqs_message_id: str) -> bool:
        return self._exists(_DEAD_LETTERED + sqs_message_id)

    def _put(self, item_id: str) -> None:
        self._client.put_item(
            TableName=self.table_name,
            Item={
                "id": {"S": item_id},
                "expiration": {"N": str(int(time.time()) + RETENTION_SECONDS)},
            },
        )

    def _exists(self, item_id: str) -> bool:
        item = self._client.get_item(
            TableName=self.table_name, Key={"id": {"S": item_id}}, ConsistentRead=True
        ).get("Item")
        return item is not None
