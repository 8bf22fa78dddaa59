"""A status record per message: where it is, and each attempt at it (docs/design.md §9).

Per message, the status table holds one item (``sk`` ``message``, the *head*) under ``pk``
``{project_id}#{message_id}``, with its attempts inside it: ``dispatches``, Kratos's word, a
list oldest first of at most :data:`MAX_DISPATCHES` (the latest), each numbered. The message's
id is its idempotency key's (:func:`courier.dead_letters.message_key`: its own ``id``, else the
SQS id it was first received with, kept through a DLQ redrive), so retries and redrives continue
one record. The item holds neither the body, nor ``template_data``, nor any code; its texts are
bounded, so a full history stays far below DynamoDB's 400 KB. This module is the records' shape;
:mod:`courier.status_table` writes them, :mod:`courier.status_api` reads them.

Example
-------
>>> head = Head(project_id="acme", id="reset-42", template_type="recovery_code_valid",
...             recipient="Ada@example.org", status=Status.DELIVERED, send_count=1,
...             created_at=timestamp(0), updated_at=timestamp(1))
>>> item = head.item(expires_at=86400)
>>> item["pk"], item["sk"], item["project_recipient"], item["dispatches"]
('acme#reset-42', 'message', 'acme#ada@example.org', [])
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from courier.outcomes import Cause
from courier.transport import queue_id

__all__ = [
    "HEAD_SORT_KEY",
    "HEAD_VIEW",
    "MAX_DISPATCHES",
    "PROJECT_INDEX",
    "RECIPIENT_INDEX",
    "Dispatch",
    "Head",
    "MessageRef",
    "Status",
    "from_item",
    "head_of",
    "partition_key",
    "recipient_partition",
    "timestamp",
]

HEAD_SORT_KEY = "message"
PROJECT_INDEX = "by_project"
"""GSI: ``project_id``, then ``created_at`` (queried newest first)."""
RECIPIENT_INDEX = "by_recipient"
"""GSI: ``project_recipient`` (``{project_id}#{recipient, lower case}``), then ``created_at``."""
MAX_REPLY = 512
"""Characters of a server's reply kept in a dispatch."""
MAX_ERROR_MESSAGE = 1024
MAX_DISPATCHES = 50
"""Dispatches a head keeps: the latest, the older ones dropped (at most some 2 KB each)."""

_deserializer = TypeDeserializer()


class Status(StrEnum):
    """Where a message is; the last three are final."""

    PROCESSING = "processing"
    """An attempt is under way (or its invocation ended before it said how it went)."""
    RETRYING = "retrying"
    """The last attempt failed; SQS hands the message over again after its backoff."""
    DELIVERED = "delivered"
    DEAD_LETTERED = "dead_lettered"
    MAYBE_DELIVERED = "maybe_delivered"
    """Dead-lettered, but the server may have kept it (``courier.maybe_delivered=true``)."""


def partition_key(project_id: str, message_id: str) -> str:
    """``pk`` of a message's items.

    Example
    -------
    >>> partition_key("acme", "reset-42")
    'acme#reset-42'
    """
    return f"{project_id}#{message_id}"


def recipient_partition(project_id: str, recipient: str) -> str:
    """The ``by_recipient`` partition of ``recipient`` in ``project_id`` (case ignored).

    Example
    -------
    >>> recipient_partition("acme", " Ada@Example.org")
    'acme#ada@example.org'
    """
    return f"{project_id}#{recipient.strip().lower()}"


def timestamp(seconds: float) -> str:
    """RFC 3339 in UTC with microseconds, fixed width (so text order is time order).

    Example
    -------
    >>> timestamp(0)
    '1970-01-01T00:00:00.000000Z'
    """
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, kw_only=True)
class MessageRef:
    """What the sender knows of a message before sending it."""

    project_id: str
    message_id: str
    """The idempotency key's id: the same on every attempt and after a redrive."""
    template_type: str | None
    recipient: str | None
    """Normalised, as the sender has it; ``None`` when the body could not be read."""

    @property
    def pk(self) -> str:
        return partition_key(self.project_id, self.message_id)


@dataclass(frozen=True, kw_only=True)
class Dispatch:
    """One attempt at a message: what the server said, and the error if it failed."""

    created_at: str
    status: str
    """``success`` or ``failed``."""
    attempt: int = 0
    """Its number, from 1 over retries and redrives (``0`` until it is recorded)."""
    step: str | None = None
    reply_code: int | None = None
    reply: str | None = None
    """The server's text (bounded), without its code."""
    error_code: str | None = None
    error_message: str | None = None
    smtp_message_id: str | None = None
    queue_id: str | None = None

    @classmethod
    def succeeded(cls, *, at: str, reply: str | None, smtp_message_id: str | None) -> Dispatch:
        text = reply[:MAX_REPLY] if reply is not None else None
        return cls(
            created_at=at,
            status="success",
            step="DATA",
            reply_code=250,
            reply=text,
            smtp_message_id=smtp_message_id,
            queue_id=queue_id(reply),
        )

    @classmethod
    def failed(cls, *, at: str, cause: Cause, smtp_message_id: str | None) -> Dispatch:
        reply = cause.smtp_reply
        if reply is not None and cause.smtp_code is not None:
            reply = reply.removeprefix(f"{cause.smtp_code} ")
        return cls(
            created_at=at,
            status="failed",
            step=cause.step,
            reply_code=cause.smtp_code,
            reply=reply[:MAX_REPLY] if reply is not None else None,
            error_code=cause.code,
            error_message=cause.message[:MAX_ERROR_MESSAGE],
            smtp_message_id=smtp_message_id,
        )

    def value(self) -> dict[str, Any]:
        """The map it is in the head's ``dispatches``."""
        return {name: getattr(self, name) for name in _DISPATCH_FIELDS}

    @classmethod
    def of(cls, value: Mapping[str, Any]) -> Dispatch:
        """The dispatch of a map of ``dispatches`` (plain values, numbers as ``Decimal``)."""
        fields: dict[str, Any] = {name: value.get(name) for name in _DISPATCH_FIELDS}
        for name in ("attempt", "reply_code"):
            number = fields[name]
            fields[name] = int(number) if number is not None else None
        return cls(**fields)


_DISPATCH_FIELDS = (
    "attempt",
    "created_at",
    "status",
    "step",
    "reply_code",
    "reply",
    "error_code",
    "error_message",
    "smtp_message_id",
    "queue_id",
)


@dataclass(frozen=True, kw_only=True)
class Head:
    """The head item: the message as a whole, with its latest dispatches."""

    project_id: str
    id: str
    template_type: str | None
    recipient: str | None
    status: Status
    send_count: int
    created_at: str
    updated_at: str
    last_error_code: str | None = None
    """The error code of the latest failed dispatch (kept after a later success)."""
    smtp_message_id: str | None = None
    """The ``Message-ID`` of the latest dispatch that composed the mail."""
    dispatches: tuple[Dispatch, ...] = field(default=(), repr=False)
    """Oldest first, the latest :data:`MAX_DISPATCHES` (a listing reads heads without them)."""

    def item(self, *, expires_at: int) -> dict[str, Any]:
        item: dict[str, Any] = {
            "pk": partition_key(self.project_id, self.id),
            "sk": HEAD_SORT_KEY,
            **{name: getattr(self, name) for name in _HEAD_FIELDS},
            "status": str(self.status),
            "dispatches": [dispatch.value() for dispatch in self.dispatches],
            "expires_at": expires_at,
        }
        if self.recipient is not None:  # sparse: only addressable messages are in the index
            item["project_recipient"] = recipient_partition(self.project_id, self.recipient)
        return item


_HEAD_FIELDS = (
    "project_id",
    "id",
    "template_type",
    "recipient",
    "send_count",
    "created_at",
    "updated_at",
    "last_error_code",
    "smtp_message_id",
)

HEAD_VIEW = ("pk", "sk", "project_recipient", "status", *_HEAD_FIELDS)
"""The attributes of a head without its dispatches (as a listing reads it)."""


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A DynamoDB item (typed JSON) as plain values, numbers as ``int``."""
    plain = {name: _deserializer.deserialize(value) for name, value in item.items()}
    return {k: int(v) if isinstance(v, Decimal) else v for k, v in plain.items()}


def head_of(values: Mapping[str, Any]) -> Head:
    """The :class:`Head` of a head item's plain values (:func:`from_item`); without
    ``dispatches`` (a listing's view, :data:`HEAD_VIEW`) it has none."""
    fields: dict[str, Any] = {name: values.get(name) for name in _HEAD_FIELDS}
    dispatches = tuple(Dispatch.of(value) for value in values.get("dispatches") or ())
    return Head(**fields, status=Status(values["status"]), dispatches=dispatches)
