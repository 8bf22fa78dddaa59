"""SQS as the Lambda event source mapping sees it: received messages → a Lambda SQS event."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

__all__ = ["lambda_record", "receive_event"]


def lambda_record(message: MessageTypeDef, *, queue_arn: str) -> dict[str, Any]:
    """The Lambda event record of one message received from ``queue_arn``."""
    region = queue_arn.split(":")[3]
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {
            name: {
                "dataType": value["DataType"],
                **({"stringValue": value["StringValue"]} if "StringValue" in value else {}),
            }
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def receive_event(
    sqs: SQSClient,
    *,
    queue_url: str,
    queue_arn: str,
    max_messages: int = 10,
    visibility_timeout: int | None = None,
    wait_seconds: int = 0,
) -> dict[str, Any]:
    """Receive up to ``max_messages`` (at most 10) and wrap them as Lambda's SQS event.

    ``wait_seconds`` > 0 long-polls: the call returns when a message arrives or the time is up.
    """
    options: dict[str, Any] = {}
    if visibility_timeout is not None:
        options["VisibilityTimeout"] = visibility_timeout
    if wait_seconds:
        options["WaitTimeSeconds"] = wait_seconds
    response = sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=max_messages,
        MessageSystemAttributeNames=["All"],
        MessageAttributeNames=["All"],
        **options,
    )
    return {
        "Records": [
            lambda_record(message, queue_arn=queue_arn) for message in response.get("Messages", [])
        ]
    }
