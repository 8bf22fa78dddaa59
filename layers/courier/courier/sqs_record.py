"""One record of the SQS event Lambda hands the sender, read by name.

Powertools' ``SQSRecord`` would do as well, but importing it runs
``aws_lambda_powertools.utilities.data_classes``, which imports all forty of its event classes:
about 10 ms of every cold start (``python -X importtime``), for the six fields read here.

Example
-------
>>> record = SqsRecord({
...     "messageId": "m-1",
...     "receiptHandle": "r-1",
...     "body": "{}",
...     "attributes": {"ApproximateReceiveCount": "3"},
...     "messageAttributes": {"source": {"stringValue": "m-0", "dataType": "String"}},
...     "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:courier-messages",
... })
>>> record.message_id, record.receive_count, record.string_attribute("source")
('m-1', 3, 'm-0')
>>> record.queue_url
'https://sqs.eu-west-1.amazonaws.com/123456789012/courier-messages'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["SqsRecord"]


@dataclass(frozen=True, eq=False)
class SqsRecord:
    """An SQS record as Lambda delivers it (``Records[i]`` of the event)."""

    raw: Mapping[str, Any]

    @property
    def message_id(self) -> str:
        return str(self.raw["messageId"])

    @property
    def body(self) -> str:
        return str(self.raw["body"])

    @property
    def receipt_handle(self) -> str:
        return str(self.raw["receiptHandle"])

    @property
    def receive_count(self) -> int:
        """How many times SQS has handed this message out, this time included (1 if unknown)."""
        return int((self.raw.get("attributes") or {}).get("ApproximateReceiveCount") or 1)

    @property
    def queue_url(self) -> str:
        """The URL of the queue the record came from, from its ``eventSourceARN``."""
        _, _, _, region, account, name = self.raw["eventSourceARN"].split(":", 5)
        return f"https://sqs.{region}.amazonaws.com/{account}/{name}"

    def string_attribute(self, name: str) -> str | None:
        """The string value of message attribute ``name``, or ``None`` when it has none."""
        attribute = (self.raw.get("messageAttributes") or {}).get(name) or {}
        value = attribute.get("stringValue")
        return str(value) if value is not None else None
