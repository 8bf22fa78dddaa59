"""An in-memory DynamoDB on loopback: the sender's calls answered at a small, measured cost.

moto answers a DynamoDB call in milliseconds (7 ms for a ``BatchWriteItem`` of 25 items here),
which would weigh in the handler's time as much as its SMTP work; AWS's own in-region latency
is not known here either. :class:`LocalDynamoDB` answers the calls the sender makes, correctly
enough that the handler's behaviour is real, and records what each answer cost it: the
benchmark states that cost, and that AWS's latency is not included.

It speaks DynamoDB's JSON protocol (``POST /``, ``X-Amz-Target: DynamoDB_20120810.<Operation>``,
``application/x-amz-json-1.0``, an ``x-amz-crc32`` header that botocore checks, HTTP/1.1
keep-alive) for ``CreateTable``, ``DescribeTable``, ``UpdateTimeToLive``, ``PutItem``,
``GetItem``, ``UpdateItem``, ``DeleteItem``, ``BatchGetItem`` and ``BatchWriteItem``. Condition
expressions are evaluated (:mod:`bench.ddb_expressions`): Powertools idempotency's conditional
put on a key that exists fails with ``ConditionalCheckFailedException``, carrying the old item
when ``ReturnValuesOnConditionCheckFailure`` is ``ALL_OLD``, as DynamoDB does. Anything else
(``Query``, ``Scan``, transactions, nested paths) answers a ``ValidationException`` that names
it, so a call the benchmark does not serve fails loudly. No signatures are checked, no TTL
expires anything, and indexes are not kept.

Example
-------
>>> with LocalDynamoDB() as dynamodb:  # doctest: +SKIP
...     client = boto3.client("dynamodb", endpoint_url=dynamodb.endpoint_url)
...     dynamodb.stats()  # operation → seconds of each answer
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from bench.ddb_expressions import ExpressionError, Item, evaluate, names_of, update

__all__ = ["DynamoDBError", "LocalDynamoDB"]

_TARGET_PREFIX = "DynamoDB_20120810."
_ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"
_BATCH_GET_KEYS = 100
_BATCH_WRITE_ITEMS = 25
_Answer = dict[str, Any]


class DynamoDBError(Exception):
    """An error answer: ``code`` is DynamoDB's (``ValidationException``...)."""

    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra

    def body(self) -> _Answer:
        return {"__type": _ERROR_PREFIX + self.code, "message": self.message, **self.extra}


@dataclass
class _Table:
    description: dict[str, Any]
    keys: tuple[str, ...]
    """The hash key's name, then the range key's, if any."""
    items: dict[tuple[str, ...], Item] = field(default_factory=dict)

    def key_of(self, attributes: Item, *, exact: bool) -> tuple[str, ...]:
        missing = [name for name in self.keys if name not in attributes]
        if missing or (exact and len(attributes) != len(self.keys)):
            raise DynamoDBError(
                "ValidationException",
                "The provided key element does not match the schema",
            )
        return tuple(json.dumps(attributes[name], sort_keys=True) for name in self.keys)


class LocalDynamoDB:
    """The endpoint, on ``127.0.0.1`` and a free port, in threads of this process.

    Attributes
    ----------
    endpoint_url:
        For ``AWS_ENDPOINT_URL_DYNAMODB`` (set once started).
    """

    def __init__(self) -> None:
        self._tables: dict[str, _Table] = {}
        self._lock = threading.Lock()
        self._seconds: dict[str, list[float]] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.endpoint_url = ""
        self._operations: dict[str, Callable[[dict[str, Any]], _Answer]] = {
            "CreateTable": self._create_table,
            "DescribeTable": self._describe_table,
            "UpdateTimeToLive": self._update_time_to_live,
            "PutItem": self._put_item,
            "GetItem": self._get_item,
            "UpdateItem": self._update_item,
            "DeleteItem": self._delete_item,
            "BatchGetItem": self._batch_get_item,
            "BatchWriteItem": self._batch_write_item,
        }

    def start(self) -> Self:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.database = self
        host, port = self._server.server_address[:2]
        self.endpoint_url = f"http://{host!s}:{port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="local-dynamodb", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stats(self) -> dict[str, list[float]]:
        """Seconds each answer took, by operation: from its body read to its bytes written."""
        with self._lock:
            return {operation: list(seconds) for operation, seconds in self._seconds.items()}

    def answer(self, operation: str, request: dict[str, Any]) -> _Answer:
        """The answer to one call (raises :class:`DynamoDBError`)."""
        handler = self._operations.get(operation)
        if handler is None:
            raise DynamoDBError(
                "ValidationException", f"{operation} is not served by the benchmark's DynamoDB"
            )
        try:
            with self._lock:
                return handler(request)
        except ExpressionError as error:
            raise DynamoDBError("ValidationException", str(error)) from error

    def record(self, operation: str, seconds: float) -> None:
        """Note that an answer to ``operation`` took ``seconds``."""
        with self._lock:
            self._seconds.setdefault(operation, []).append(seconds)

    def _table(self, name: str) -> _Table:
        try:
            return self._tables[name]
        except KeyError:
            raise DynamoDBError(
                "ResourceNotFoundException", f"Requested resource not found: Table: {name}"
            ) from None

    # Tables.

    def _create_table(self, request: dict[str, Any]) -> _Answer:
        name = request["TableName"]
        if name in self._tables:
            raise DynamoDBError("ResourceInUseException", f"Table already exists: {name}")
        schema = sorted(request["KeySchema"], key=lambda key: key["KeyType"] != "HASH")
        description = {
            "TableName": name,
            "KeySchema": request["KeySchema"],
            "AttributeDefinitions": request["AttributeDefinitions"],
            "TableStatus": "ACTIVE",
            "TableArn": f"arn:aws:dynamodb:us-east-1:123456789012:table/{name}",
            "ItemCount": 0,
        }
        self._tables[name] = _Table(description, tuple(key["AttributeName"] for key in schema))
        return {"TableDescription": description}

    def _describe_table(self, request: dict[str, Any]) -> _Answer:
        table = self._table(request["TableName"])
        return {"Table": {**table.description, "ItemCount": len(table.items)}}

    def _update_time_to_live(self, request: dict[str, Any]) -> _Answer:
        self._table(request["TableName"])
        return {"TimeToLiveSpecification": request["TimeToLiveSpecification"]}

    # Items.

    def _put_item(self, request: dict[str, Any]) -> _Answer:
        table = self._table(request["TableName"])
        item: Item = request["Item"]
        key = table.key_of(item, exact=False)
        old = table.items.get(key)
        _check_condition(request, old)
        table.items[key] = item
        return _returned(request, old=old, new=item)

    def _get_item(self, request: dict[str, Any]) -> _Answer:
        table = self._table(request["TableName"])
        item = table.items.get(table.key_of(request["Key"], exact=True))
        if item is None:
            return {}
        return {"Item": _projected(request, item)}

    def _update_item(self, request: dict[str, Any]) -> _Answer:
        table = self._table(request["TableName"])
        key = table.key_of(request["Key"], exact=True)
        old = table.items.get(key)
        _check_condition(request, old)
        new = update(
            request["UpdateExpression"],
            old or dict(request["Key"]),
            names=request.get("ExpressionAttributeNames"),
            values=request.get("ExpressionAttributeValues"),
        )
        if any(name not in new or new[name] != request["Key"][name] for name in table.keys):
            raise DynamoDBError("ValidationException", "Cannot update attribute: part of the key")
        table.items[key] = new
        return _returned(request, old=old, new=new)

    def _delete_item(self, request: dict[str, Any]) -> _Answer:
        table = self._table(request["TableName"])
        key = table.key_of(request["Key"], exact=True)
        old = table.items.get(key)
        _check_condition(request, old)
        table.items.pop(key, None)
        return _returned(request, old=old, new=None)

    def _batch_get_item(self, request: dict[str, Any]) -> _Answer:
        wanted: dict[str, Any] = request["RequestItems"]
        if sum(len(spec["Keys"]) for spec in wanted.values()) > _BATCH_GET_KEYS:
            raise DynamoDBError("ValidationException", "Too many items requested for the call")
        responses: dict[str, list[Item]] = {}
        for name, spec in wanted.items():
            table = self._table(name)
            found = (table.items.get(table.key_of(key, exact=True)) for key in spec["Keys"])
            responses[name] = [_projected(spec, item) for item in found if item is not None]
        return {"Responses": responses, "UnprocessedKeys": {}}

    def _batch_write_item(self, request: dict[str, Any]) -> _Answer:
        writes: dict[str, list[dict[str, Any]]] = request["RequestItems"]
        if sum(len(requests) for requests in writes.values()) > _BATCH_WRITE_ITEMS:
            raise DynamoDBError(
                "ValidationException", "Member must have length less than or equal to 25"
            )
        for name, requests in writes.items():
            table = self._table(name)
            for write in requests:
                if "PutRequest" in write:
                    item = write["PutRequest"]["Item"]
                    table.items[table.key_of(item, exact=False)] = item
                else:
                    table.items.pop(table.key_of(write["DeleteRequest"]["Key"], exact=True), None)
        return {"UnprocessedItems": {}}


def _check_condition(request: dict[str, Any], old: Item | None) -> None:
    expression = request.get("ConditionExpression")
    if expression is None:
        return
    met = evaluate(
        expression,
        old,
        names=request.get("ExpressionAttributeNames"),
        values=request.get("ExpressionAttributeValues"),
    )
    if not met:
        extra = {}
        if old is not None and request.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD":
            extra["Item"] = old
        raise DynamoDBError(
            "ConditionalCheckFailedException", "The conditional request failed", **extra
        )


def _returned(request: dict[str, Any], *, old: Item | None, new: Item | None) -> _Answer:
    wanted = request.get("ReturnValues", "NONE")
    if wanted == "NONE":
        return {}
    if wanted == "ALL_OLD":
        return {"Attributes": old} if old is not None else {}
    if wanted == "ALL_NEW" and new is not None:
        return {"Attributes": new}
    raise DynamoDBError("ValidationException", f"ReturnValues {wanted} is not served")


def _projected(request: dict[str, Any], item: Item) -> Item:
    projection = request.get("ProjectionExpression")
    if projection is None:
        return item
    names = names_of(projection, names=request.get("ExpressionAttributeNames"))
    return {name: item[name] for name in names if name in item}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    database: LocalDynamoDB


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pool expects
    server: _Server
    _ids = itertools.count()

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        started = time.perf_counter()
        operation = self.headers.get("X-Amz-Target", "").removeprefix(_TARGET_PREFIX)
        try:
            answer, status = self.server.database.answer(operation, json.loads(body)), "200 OK"
        except DynamoDBError as error:
            answer, status = error.body(), "400 Bad Request"
        payload = json.dumps(answer, separators=(",", ":")).encode()
        head = (
            f"HTTP/1.1 {status}\r\nContent-Type: application/x-amz-json-1.0\r\n"
            f"Content-Length: {len(payload)}\r\nx-amzn-RequestId: bench-{next(self._ids)}\r\n"
            f"x-amz-crc32: {zlib.crc32(payload)}\r\n\r\n"
        )
        self.wfile.write(head.encode() + payload)  # one write: no Nagle wait between the two
        self.server.database.record(operation, time.perf_counter() - started)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: one line per call would flood the benchmark's stderr."""
