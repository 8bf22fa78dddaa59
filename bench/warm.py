"""The warm handler against its references, interleaved, in one process of its own.

``python -m bench.warm --plan PLAN.json --out RESULT.json`` is a warm Lambda execution
environment that also runs the reference clients (:mod:`bench.smtp_clients`): it imports the
sender's handler module (Lambda's init), composes the references' mails once (courier's
:func:`~courier.delivery.compose`, the same template and data as the handler's messages,
outside every timing), makes one TLS context for them from the same trust store, and then:

1. for each batch shape, one warm-up of each way, not counted. The handler's warm-up fills
   its caches (configuration from SSM, TLS context, templates) and shows how many SMTP
   sessions it opens for the shape; its records are then handled again, as a check that
   idempotency turns every one into a duplicate (nothing is sent: the server's count says);
2. ``repeat`` repetitions, each of every shape: (a) the usual way, (b) the floor (where the
   shape has one; and the floor over as many sessions as the handler opened, where that is
   more than one) and the handler, the order rotated by one at each repetition. The
   handler's run is one invocation of one SQS event, keys unique per run;
3. what a DynamoDB call costs a client of this process, one call after another (each kind
   the sender makes, against the same endpoint);
4. one more b10 invocation under :mod:`cProfile`, not counted.

Every AWS call of an invocation is counted and timed (:class:`bench.aws_calls.AwsCalls`), and
its SMTP sessions are counted: the ``socket.connect`` audit events to the server's port. Each
run's CPU time (this process's, every thread) is kept beside its wall-clock time. The
handler's logs go to stdout, as in Lambda; the benchmark discards them.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import json
import os
import ssl
import sys
import time
from collections.abc import Callable
from email.policy import SMTP as SMTP_POLICY
from functools import partial
from pathlib import Path
from typing import Any

from bench.aws_calls import AwsCalls
from bench.profiling import top
from bench.smtp_clients import (
    Account,
    Mail,
    send_per_message,
    send_pipelined,
    send_pipelined_side_by_side,
)

__all__ = ["main"]

_DYNAMODB_CALLS = 50
_clock = time.perf_counter


class _Connects:
    """Connections this process opens to one port (``socket.connect`` audit events)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.count = 0
        sys.addaudithook(self._hook)

    def _hook(self, event: str, arguments: tuple[Any, ...]) -> None:
        if event == "socket.connect":
            address = arguments[1]
            if isinstance(address, tuple) and len(address) >= 2 and address[1] == self.port:
                self.count += 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.warm", description=__doc__)
    parser.add_argument("--plan", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    options = parser.parse_args(argv)
    plan = json.loads(options.plan.read_text(encoding="utf-8"))

    aws = AwsCalls()
    aws.install()
    connects = _Connects(plan["smtp_port"])
    from local.lambda_context import LocalLambdaContext

    module, _, function = plan["handler"].rpartition(".")
    handler = getattr(importlib.import_module(module), function)  # Lambda's init
    name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        context = LocalLambdaContext(name, timeout_seconds=plan["timeout"])
        aws.clear()
        opened = connects.count
        start = _clock()
        response = handler(event, context)
        seconds = _clock() - start
        failures = response["batchItemFailures"]
        if failures:
            raise SystemExit(f"{len(failures)} of {len(event['Records'])} records failed")
        return {"seconds": seconds, "sessions": connects.count - opened, **aws.snapshot()}

    context = ssl.create_default_context()  # SSL_CERT_FILE: the same trust store as the handler's
    references = {shape["name"]: _References(shape, context) for shape in plan["shapes"]}
    delivered = 0
    unpipelined = 0  # (a)'s messages: it waits for every reply
    sessions: dict[str, int] = {}
    for shape in plan["shapes"]:  # warm-ups: not counted
        reference = references[shape["name"]]
        sessions[shape["name"]] = invoke(shape["warmup"])["sessions"]
        invoke(shape["warmup"])  # the check: every record is a duplicate now, nothing is sent
        reference.side_by_side = sessions[shape["name"]] if reference.has_floor else 1
        for send in reference.ways().values():
            send()
        delivered += len(shape["warmup"]["Records"]) * (1 + len(reference.ways()))
        unpipelined += len(shape["warmup"]["Records"])

    invocations: dict[str, list[dict[str, Any]]] = {shape: [] for shape in references}
    runs: dict[str, dict[str, list[float]]] = {shape: {} for shape in references}
    cpu: dict[str, dict[str, list[float]]] = {shape: {} for shape in references}
    for repetition in range(plan["repeat"]):
        for shape in plan["shapes"]:
            event = shape["events"][repetition]
            ways: dict[str, Callable[[], float]] = {
                **references[shape["name"]].ways(),
                "handler": partial(_invoked, invoke, event, invocations[shape["name"]]),
            }
            order = list(ways)
            turn = repetition % len(order)
            for way in order[turn:] + order[:turn]:
                started = time.process_time()
                runs[shape["name"]].setdefault(way, []).append(ways[way]())
                cpu[shape["name"]].setdefault(way, []).append(time.process_time() - started)
                delivered += len(event["Records"])
                unpipelined += len(event["Records"]) if way == "a" else 0

    dynamodb = _dynamodb_costs(plan["tables"])
    profiler = cProfile.Profile()
    profiler.enable()
    profiled = invoke(plan["profile"])
    profiler.disable()
    delivered += len(plan["profile"]["Records"])
    result = {
        "runs": runs,
        "cpu": cpu,
        "invocations": invocations,
        "sessions": sessions,
        "delivered": delivered,
        "unpipelined": unpipelined,
        "dynamodb_calls": dynamodb,
        "profile": top(profiler),
        "profiled": profiled,
    }
    options.out.write_text(json.dumps(result), encoding="utf-8")


def _invoked(
    invoke: Callable[[dict[str, Any]], dict[str, Any]],
    event: dict[str, Any],
    into: list[dict[str, Any]],
) -> float:
    result = invoke(event)
    into.append(result)
    seconds: float = result["seconds"]
    return seconds


class _References:
    """One shape's mails for the reference clients, composed once, and the ways to send them."""

    def __init__(self, shape: dict[str, Any], context: ssl.SSLContext) -> None:
        from courier.config import parse_project_config
        from courier.delivery import compose
        from courier.message import parse_message
        from courier.stack import StackSettings

        settings = StackSettings.from_environment()
        self._mails: list[Mail] = []
        self._accounts: list[Account] = []
        self._local_name = ""
        for spec in shape["mails"]:
            project = spec["project"] or settings.default_project
            config = parse_project_config(
                project,
                config_json=None,
                connection_uri=spec["uri"] if spec["project"] else None,
                default_connection_uri=spec["default_uri"],
                default_from_address=settings.default_from_address,
                allow_private_hosts=True,
            )
            message = parse_message(spec["body"])
            mail = compose(message, config, key=f"{project}:{message.id}")
            content = mail.email.as_bytes(policy=SMTP_POLICY)
            self._mails.append(Mail(mail.sender, mail.recipient, content))
            uri = config.connection_uri
            assert uri.credentials is not None
            self._accounts.append(Account(uri.host, uri.port, *uri.credentials))
            self._local_name = config.local_name
        self._context = context
        self.has_floor = bool(shape["floor"])
        if self.has_floor and len(set(self._accounts)) != 1:
            raise ValueError(f"{shape['name']}: a floor needs one account for every mail")
        self.side_by_side = 1
        """Sessions of the second floor, the handler's for the shape (1: no second floor)."""

    def ways(self) -> dict[str, Callable[[], float]]:
        ways: dict[str, Callable[[], float]] = {"a": self.per_message}
        if self.has_floor:
            ways["b"] = self.floor
            if self.side_by_side > 1:
                ways["b_sessions"] = self.floor_side_by_side
        return ways

    def per_message(self) -> float:
        start = _clock()
        send_per_message(
            self._mails, self._accounts, context=self._context, local_name=self._local_name
        )
        return _clock() - start

    def floor(self) -> float:
        start = _clock()
        send_pipelined(
            self._mails, self._accounts[0], context=self._context, local_name=self._local_name
        )
        return _clock() - start

    def floor_side_by_side(self) -> float:
        start = _clock()
        send_pipelined_side_by_side(
            self._mails,
            self._accounts[0],
            sessions=self.side_by_side,
            context=self._context,
            local_name=self._local_name,
        )
        return _clock() - start


def _dynamodb_costs(tables: dict[str, str]) -> dict[str, list[float]]:
    """Seconds of each kind of call the sender makes, ``_DYNAMODB_CALLS`` of each, one after
    another, from a client of this process (the endpoint from the environment, botocore
    patched by the tracer as the handler's clients are)."""
    import boto3

    client = boto3.session.Session().client("dynamodb")
    idempotency, status = tables["idempotency"], tables["status"]
    now = int(time.time())
    names = {"#id": "id", "#expiry": "expiration", "#status": "status"}
    names |= {"#in_progress_expiry": "in_progress_expiration"}
    values = {":now": {"N": str(now)}, ":now_in_millis": {"N": str(now * 1000)}}
    values |= {":inprogress": {"S": "INPROGRESS"}}
    condition = (
        "attribute_not_exists(#id) OR #expiry < :now OR (#status = :inprogress AND "
        "attribute_exists(#in_progress_expiry) AND #in_progress_expiry < :now_in_millis)"
    )

    def key(n: int) -> dict[str, Any]:
        return {"id": {"S": f"bench-cost-{n}"}}

    def put(n: int) -> None:  # as Powertools' save_inprogress
        item = {**key(n), "expiration": {"N": str(now + 3600)}, "status": {"S": "INPROGRESS"}}
        client.put_item(
            TableName=idempotency,
            Item=item,
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )

    def update(n: int) -> None:  # as Powertools' save_success
        client.update_item(
            TableName=idempotency,
            Key=key(n),
            UpdateExpression="SET #response_data = :response_data, #status = :status",
            ExpressionAttributeNames={"#response_data": "data", "#status": "status"},
            ExpressionAttributeValues={":response_data": {"S": "{}"}, ":status": {"S": "OK"}},
        )

    def write(n: int) -> None:  # as the status table's, 10 heads
        items: list[Any] = [
            {"PutRequest": {"Item": {"pk": {"S": f"bench#{n}-{i}"}, "sk": {"S": "message"}}}}
            for i in range(10)
        ]
        client.batch_write_item(RequestItems={status: items})

    costs: dict[str, list[float]] = {}
    for kind, call in (("PutItem", put), ("UpdateItem", update), ("BatchWriteItem10", write)):
        for n in range(_DYNAMODB_CALLS):
            start = _clock()
            call(n)
            costs.setdefault(kind, []).append(_clock() - start)
    try:
        put(0)
    except client.exceptions.ConditionalCheckFailedException as error:
        if "Item" not in error.response:
            raise SystemExit("the conditional put's failure did not carry the old item") from error
    else:
        raise SystemExit("a conditional put on an existing key succeeded")
    return costs


if __name__ == "__main__":
    main()
