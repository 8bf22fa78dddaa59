"""What a dead-lettered message carries about its cause: ``courier.*`` message attributes.

The DLQ keeps the original body; the attributes say why it is there (for people, alarms and a
later redrive). A redriven message keeps its idempotency key through
:data:`SOURCE_MESSAGE_ID_ATTRIBUTE` when it has no ``id`` of its own.

Example
-------
>>> from courier.errors import MessageError
>>> from courier.outcomes import Limits, decide
>>> decision = decide(MessageError("body", "message_not_json", "is not JSON"), attempt=1,
...                   limits=Limits(message_retries=5, max_receive_count=21))
>>> attributes = dead_letter_attributes(decision, attempts=1, project_id="acme",
...                                     source_message_id="m-1")
>>> attributes["courier.error_code"]["StringValue"]
'message_not_json'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from courier.outcomes import Decision

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import MessageAttributeValueTypeDef

    from courier.sqs_record import SqsRecord

__all__ = [
    "SOURCE_MESSAGE_ID_ATTRIBUTE",
    "dead_letter_attributes",
    "message_key",
    "source_message_id",
]

SOURCE_MESSAGE_ID_ATTRIBUTE = "courier.source_message_id"
"""The SQS id of the message as it was first received; set on every dead-lettered message."""
_MAX_ATTRIBUTE_TEXT = 1024


def dead_letter_attributes(
    decision: Decision,
    *,
    attempts: int,
    project_id: str,
    source_message_id: str,
) -> dict[str, MessageAttributeValueTypeDef]:
    """The SQS message attributes of a dead-lettered message: its cause, for people and alarms.

    Every attribute is named ``courier.*``; SMTP failures add the step and the reply (which
    starts with its code), a message the server may have kept ``courier.maybe_delivered``. At
    most 10 attributes (the SQS limit).
    """
    cause = decision.cause
    values: dict[str, str | int | None] = {
        "courier.reason": str(decision.reason),
        "courier.error_kind": cause.kind,
        "courier.error_code": cause.code,
        "courier.error_message": cause.message,
        "courier.attempts": attempts,
        "courier.project_id": project_id,
        SOURCE_MESSAGE_ID_ATTRIBUTE: source_message_id,
        "courier.smtp_step": cause.step,
        "courier.smtp_reply": cause.smtp_reply,
        "courier.maybe_delivered": "true" if cause.maybe_delivered else None,
    }
    attributes: dict[str, MessageAttributeValueTypeDef] = {}
    for name, value in values.items():
        if value is None or value == "":
            continue
        if isinstance(value, int):
            attributes[name] = {"DataType": "Number", "StringValue": str(value)}
        else:
            attributes[name] = {"DataType": "String", "StringValue": value[:_MAX_ATTRIBUTE_TEXT]}
    return attributes


def source_message_id(record: SqsRecord) -> str | None:
    """The id of the SQS message this one was redriven from, if it came back from the DLQ."""
    return record.string_attribute(SOURCE_MESSAGE_ID_ATTRIBUTE)


def message_key(record: SqsRecord, message_id: str | None) -> str:
    """The id of a message on every attempt and after a redrive: its own ``id``, else the SQS
    id it was first received with. The idempotency key (``{project_id}:{key}``) and the status
    record (``{project_id}#{key}``) are both made of it."""
    return message_id or source_message_id(record) or record.message_id
