"""The message status routes of the HTTP API: a project's messages, and one with its attempts.

* ``GET /projects/{project_id}/courier/messages?recipient=&status=&template_type=&limit=
  &page_token=``: the project's messages, newest first, ``limit`` (default 50, at most 100) a
  page; the filters combine; ``next_page_token`` (opaque) is given while there may be more.
* ``GET /projects/{project_id}/courier/messages/{id}``: the message and its ``dispatches``,
  oldest first; ``404`` when the project has no such message.

Field names are Kratos's where they mean the same (``id``, ``status``, ``recipient``,
``template_type``, ``send_count``, ``created_at``, ``updated_at``, ``dispatches``). A bad
parameter is a ``400`` that names it; a status table that cannot be read, ``503``. The records'
shape is :mod:`courier.status` (docs/design.md §9).

Example
-------
>>> api = MessageStatusApi(table_name="MessageStatusTable")  # doctest: +SKIP
>>> api.list_messages("acme", "recipient=ada%40example.org&limit=3")  # doctest: +SKIP
(200, {'messages': [...], 'next_page_token': 'eyJwayI6...'})
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote

from courier.config import check_project_id
from courier.errors import ConfigError
from courier.status import (
    HEAD_SORT_KEY,
    HEAD_VIEW,
    PROJECT_INDEX,
    RECIPIENT_INDEX,
    Dispatch,
    Head,
    Status,
    from_item,
    head_of,
    partition_key,
    recipient_partition,
)
from courier.template_data import TEMPLATE_TYPES

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "PARAMETERS",
    "MessageStatusApi",
    "decode_page_token",
    "encode_page_token",
]

DEFAULT_LIMIT = 50
MAX_LIMIT = 100
PARAMETERS = ("recipient", "status", "template_type", "limit", "page_token")
MAX_ROUNDS = 10
"""Queries a filtered page may take (100 items each); a page may then hold fewer than
``limit`` messages, with a ``next_page_token`` to go on."""
_PARTITION = {PROJECT_INDEX: "project_id", RECIPIENT_INDEX: "project_recipient"}
_REASONS = {400: "Bad Request", 404: "Not Found", 503: "Service Unavailable"}

Answer = tuple[int, dict[str, Any]]


class BadParameter(ValueError):
    def __init__(self, parameter: str, code: str, problem: str) -> None:
        super().__init__(f"{parameter}: {problem}")
        self.parameter = parameter
        self.code = code


def error(status: int, code: str, message: str, parameter: str | None = None) -> Answer:
    """An error as Kratos shapes one: ``{"error": {"code": 400, "status": ..., ...}}``."""
    body: dict[str, Any] = {"code": status, "status": _REASONS[status], "id": code}
    if parameter is not None:
        body["parameter"] = parameter
    return status, {"error": {**body, "message": message}}


class MessageStatusApi:
    """Reads the status table for the two routes.

    Parameters
    ----------
    table_name:
        ``COURIER_STATUS_TABLE``; ``None``: every request is a ``503``.
    client:
        A DynamoDB client; by default one is made at the first request (the validator's other
        routes never pay for it).
    """

    def __init__(self, *, table_name: str | None, client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        self._client = client

    @property
    def client(self) -> DynamoDBClient:
        if self._client is None:
            from courier.aws_session import session

            self._client = session().client("dynamodb")
        return self._client

    def list_messages(self, project_id: str, query: str) -> Answer:
        """``GET .../messages``; ``query`` is the raw query string."""
        try:
            check_project_id(project_id)
            options = _options(query)
            limit = _limit(options.get("limit"))
            status, template_type = _status(options.get("status")), options.get("template_type")
            if template_type is not None and template_type not in TEMPLATE_TYPES:
                raise BadParameter("template_type", "template_type_invalid", "unknown type")
            recipient = options.get("recipient")
            index = RECIPIENT_INDEX if recipient is not None else PROJECT_INDEX
            partition = recipient_partition(project_id, recipient) if recipient else project_id
            start = decode_page_token(options.get("page_token"), index=index, partition=partition)
        except BadParameter as exc:
            return error(400, exc.code, str(exc), exc.parameter)
        except ConfigError as exc:
            return error(400, "project_id_invalid", exc.message, "project_id")
        if self.table_name is None:
            return _not_configured()
        filters = {"status": status, "template_type": template_type}
        try:
            heads, last = self._page(index, partition, filters, start, limit)
        except Exception as exc:  # boto's errors: the table's trouble, not the request's
            return error(503, "status_unavailable", f"the status table: {type(exc).__name__}")
        token = encode_page_token(last) if last is not None else None
        return 200, {"messages": [_message(head) for head in heads], "next_page_token": token}

    def get_message(self, project_id: str, message_id: str) -> Answer:
        """``GET .../messages/{id}``: the head and its dispatches (one item, one ``Query``)."""
        try:
            check_project_id(project_id)
        except ConfigError as exc:
            return error(400, "project_id_invalid", exc.message, "project_id")
        if self.table_name is None:
            return _not_configured()
        pk = partition_key(project_id, unquote(message_id))
        try:  # a Query of the one key, as the validator may only query the table
            answer = self.client.query(
                TableName=self.table_name,
                KeyConditionExpression="pk = :pk AND sk = :sk",
                ExpressionAttributeValues={":pk": {"S": pk}, ":sk": {"S": HEAD_SORT_KEY}},
                ConsistentRead=True,
            )
        except Exception as exc:
            return error(503, "status_unavailable", f"the status table: {type(exc).__name__}")
        items = answer.get("Items", [])
        if not items:
            return error(404, "message_not_found", f"project {project_id} has no such message")
        head = head_of(from_item(items[0]))
        return 200, {**_message(head), "dispatches": [_dispatch(d) for d in head.dispatches]}

    def _page(
        self,
        index: str,
        partition: str,
        filters: dict[str, str | None],
        start: dict[str, Any] | None,
        limit: int,
    ) -> tuple[list[Head], dict[str, Any] | None]:
        """Up to ``limit`` heads from ``start`` on, and where the next page starts."""
        name = _PARTITION[index]
        arguments: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": index,
            "KeyConditionExpression": "#partition = :partition",
            # the heads without their dispatches (the indexes project every attribute)
            "ProjectionExpression": ", ".join(f"#{field}" for field in HEAD_VIEW),
            "ExpressionAttributeNames": {
                "#partition": name,
                **{f"#{field}": field for field in HEAD_VIEW},
            },
            "ExpressionAttributeValues": {":partition": {"S": partition}},
            "ScanIndexForward": False,
        }
        conditions = []
        for attribute, value in filters.items():
            if value is not None:
                arguments["ExpressionAttributeNames"][f"#{attribute}"] = attribute
                arguments["ExpressionAttributeValues"][f":{attribute}"] = {"S": value}
                conditions.append(f"#{attribute} = :{attribute}")
        if conditions:
            arguments["FilterExpression"] = " AND ".join(conditions)
        if start is not None:
            arguments["ExclusiveStartKey"] = {k: {"S": v} for k, v in start.items()}
        found: list[dict[str, Any]] = []
        for _ in range(MAX_ROUNDS):
            arguments["Limit"] = MAX_LIMIT if conditions else limit - len(found) + 1
            answer = self.client.query(**arguments)
            found += answer.get("Items", [])
            more = "LastEvaluatedKey" in answer
            if len(found) > limit or not more:
                break
            arguments["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        page = [from_item(item) for item in found[:limit]]
        if len(found) > limit:
            last: dict[str, Any] | None = page[-1]
        else:
            last = from_item(answer["LastEvaluatedKey"]) if more else None
        keys = ("pk", "sk", name, "created_at")
        return [head_of(item) for item in page], ({k: last[k] for k in keys} if last else None)


def _options(query: str) -> dict[str, str]:
    try:
        parsed = parse_qs(query or "", keep_blank_values=True, strict_parsing=False)
    except ValueError:
        raise BadParameter("query", "query_invalid", "not a query string") from None
    options: dict[str, str] = {}
    for name, values in parsed.items():
        if name not in PARAMETERS:
            known = ", ".join(PARAMETERS)
            raise BadParameter(name, "parameter_unknown", f"not a parameter (known: {known})")
        if len(values) > 1:
            raise BadParameter(name, "parameter_repeated", "given more than once")
        if not values[0].strip():
            raise BadParameter(name, f"{name}_invalid", "is empty")
        options[name] = values[0].strip()
    return options


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        problem = f"must be a whole number from 1 to {MAX_LIMIT}, not {raw[:20]!r}"
        raise BadParameter("limit", "limit_invalid", problem)
    return int(raw)


def _status(raw: str | None) -> str | None:
    if raw is not None and raw not in {str(status) for status in Status}:
        values = ", ".join(Status)
        raise BadParameter("status", "status_invalid", f"{raw[:40]!r} is not one of {values}")
    return raw


def decode_page_token(token: str | None, *, index: str, partition: str) -> dict[str, str] | None:
    """The start key a page token holds, checked against the listing it must belong to.

    Raises
    ------
    BadParameter
        ``page_token_invalid``: not a token of this listing (another project, another filter
        on recipient, or made up).
    """
    if token is None:
        return None
    bad = BadParameter("page_token", "page_token_invalid", "not a page token of this listing")
    try:
        key = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, binascii.Error):
        raise bad from None
    expected = {"pk", "sk", _PARTITION[index], "created_at"}
    if not (
        isinstance(key, dict)
        and set(key) == expected
        and all(isinstance(value, str) for value in key.values())
        and key["sk"] == HEAD_SORT_KEY
        and key[_PARTITION[index]] == partition
    ):
        raise bad
    return key


def encode_page_token(key: dict[str, Any]) -> str:
    """The opaque token of a start key (base64url of its JSON, unpadded)."""
    text = json.dumps(key, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _not_configured() -> Answer:
    return error(503, "status_not_configured", "COURIER_STATUS_TABLE is not set")


def _message(head: Head) -> dict[str, Any]:
    return {
        "id": head.id,
        "project_id": head.project_id,
        "status": str(head.status),
        "recipient": head.recipient,
        "template_type": head.template_type,
        "send_count": head.send_count,
        "created_at": head.created_at,
        "updated_at": head.updated_at,
        "last_error_code": head.last_error_code,
        "smtp_message_id": head.smtp_message_id,
    }


def _dispatch(dispatch: Dispatch) -> dict[str, Any]:
    code = dispatch.error_code
    return {
        "attempt": dispatch.attempt,
        "created_at": dispatch.created_at,
        "status": dispatch.status,
        "step": dispatch.step,
        "reply_code": dispatch.reply_code,
        "reply": dispatch.reply,
        "smtp_message_id": dispatch.smtp_message_id,
        "queue_id": dispatch.queue_id,
        "error": {"code": code, "message": dispatch.error_message} if code else None,
    }
