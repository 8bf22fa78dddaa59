"""The stack's queues from a test's side: push messages, take batches, read the DLQ."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from local.sqs import receive_event
from local.stack import StackResources

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import MessageTypeDef


@dataclass
class Queues:
    """The queue and the dead-letter queue of ``stack``, through ``sqs``."""

    stack: StackResources
    sqs: Any

    def push(self, *messages: dict[str, Any] | str) -> None:
        """Send each message (a dict is sent as JSON, a string as it is)."""
        for message in messages:
            body = message if isinstance(message, str) else json.dumps(message)
            self.sqs.send_message(QueueUrl=self.stack.queue_url, MessageBody=body)

    def receive(self) -> dict[str, Any]:
        """Everything visible on the queue, as one Lambda SQS event (of any size, as after a
        batching window)."""
        records: list[dict[str, Any]] = []
        while batch := receive_event(
            self.sqs, queue_url=self.stack.queue_url, queue_arn=self.stack.queue_arn
        )["Records"]:
            records.extend(batch)
        return {"Records": records}

    def dead_letters(self) -> list[MessageTypeDef]:
        """Every message on the DLQ, with its attributes (received: read them once)."""
        messages: list[MessageTypeDef] = []
        while batch := self.sqs.receive_message(
            QueueUrl=self.stack.dead_letter_queue_url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
        ).get("Messages", []):
            messages.extend(batch)
        return messages


def attributes(message: MessageTypeDef) -> dict[str, str]:
    """A dead-lettered message's ``courier.*`` attributes, as plain strings."""
    return {name: value["StringValue"] for name, value in message["MessageAttributes"].items()}


def failed_ids(response: Any) -> list[str]:
    """The ``itemIdentifier`` of each record a partial batch response hands back."""
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


def with_receive_count(event: dict[str, Any], count: int) -> dict[str, Any]:
    """``event`` as SQS hands it over on receive number ``count``."""
    records = [
        {**record, "attributes": {**record["attributes"], "ApproximateReceiveCount": str(count)}}
        for record in event["Records"]
    ]
    return {"Records": records}
