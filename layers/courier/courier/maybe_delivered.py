"""What SQS cannot carry from one attempt to the next: that a server may already have the mail.

When the connection is lost after the whole message was sent, the server may have kept it; the
message is retried (at-least-once, as MTAs do) with the same ``Message-ID``. If a later attempt
then dead-letters it for another reason (a 550, attempts exhausted), its DLQ attributes must
still say ``courier.maybe_delivered=true``, or a redrive would send a second copy of a mail that
arrived. SQS keeps no state between receives, so the fact is kept here: one item per such
message in the idempotency table, written only on that rare path and read only when a message
that was retried is dead-lettered.

Example
-------
>>> record = DynamoDBMaybeDelivered(table_name="IdempotencyTable", client=ddb)  # doctest: +SKIP
>>> record.mark("acme:reset-42")  # doctest: +SKIP
>>> record.is_marked("acme:reset-42")  # doctest: +SKIP
True
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["RETENTION_SECONDS", "DynamoDBMaybeDelivered", "MaybeDeliveredRecord"]

RETENTION_SECONDS = 14 * 24 * 60 * 60
"""As long as a message can stay on the queue (``MessageRetentionSeconds`` at most)."""

_KEY_PREFIX = "courier#maybe-delivered#"


class MaybeDeliveredRecord(Protocol):
    """Where the sender notes the messages that a server may have kept."""

    def mark(self, key: str) -> None:
        """Note that an attempt at the message with idempotency key ``key`` may have
        delivered it."""

    def is_marked(self, key: str) -> bool:
        """Whether an earlier attempt at ``key`` may have delivered it."""


class DynamoDBMaybeDelivered:
    """:class:`MaybeDeliveredRecord` in a DynamoDB table keyed by ``id`` (the idempotency
    table), with the table's TTL attribute ``expiration``.

    Parameters
    ----------
    table_name:
        The table.
    client:
        A DynamoDB client.
    """

    def __init__(self, *, table_name: str, client: DynamoDBClient) -> None:
        self.table_name = table_name
        self._client = client

    def mark(self, key: str) -> None:
        self._client.put_item(
            TableName=self.table_name,
            Item={
                "id": {"S": _KEY_PREFIX + key},
                "expiration": {"N": str(int(time.time()) + RETENTION_SECONDS)},
            },
        )

    def is_marked(self, key: str) -> bool:
        item = self._client.get_item(
            TableName=self.table_name,
            Key={"id": {"S": _KEY_PREFIX + key}},
            ConsistentRead=True,
        ).get("Item")
        return item is not None
