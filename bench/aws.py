"""The AWS of the handler's benchmark: SSM and SQS from moto, DynamoDB from
:class:`bench.dynamodb.LocalDynamoDB`, both in this process.

The stack's queues and tables are made from ``template.yaml`` (:mod:`local.stack`), the
projects' connection URIs go into SSM as the stack reads them, and each batch is queued in SQS
and received as one Lambda event, as the event source mapping would. The handler's processes
reach moto with ``AWS_ENDPOINT_URL`` and the in-memory DynamoDB with
``AWS_ENDPOINT_URL_DYNAMODB`` (botocore's endpoint of one service, which wins over the general
one).

Example
-------
>>> with BenchAws() as aws:  # doctest: +SKIP
...     aws.put_connection_uri(None, endpoints.proxied_uri)
...     event = aws.event(message_bodies(10))
"""

from __future__ import annotations

import time
from typing import Any, Self

from bench.dynamodb import LocalDynamoDB
from bench.environment import REGION, lambda_environment
from courier.config import parameter_names
from local.aws import EmbeddedAws, endpoint_client

__all__ = ["BenchAws"]

_SQS_BATCH = 10


class BenchAws:
    """moto's server (SSM, SQS) and the in-memory DynamoDB, with the stack's resources."""

    def __init__(self, *, region: str = REGION) -> None:
        self.region = region
        self.moto = EmbeddedAws(region=region)
        self.dynamodb = LocalDynamoDB()
        self._environment = lambda_environment(region=region)
        self._sqs: Any = None
        self._ssm: Any = None
        self._queue_url = ""
        self._queue_arn = ""
        self._dead_letter_queue_url = ""

    def start(self) -> Self:
        from local.stack import create_stack_resources

        self.moto.start()
        self.dynamodb.start()
        self._sqs = self.moto.client("sqs")
        self._ssm = self.moto.client("ssm")
        dynamodb = endpoint_client(
            "dynamodb", endpoint_url=self.dynamodb.endpoint_url, region=self.region
        )
        stack = create_stack_resources(sqs=self._sqs, dynamodb=dynamodb)
        self._queue_url, self._queue_arn = stack.queue_url, stack.queue_arn
        self._dead_letter_queue_url = stack.dead_letter_queue_url
        return self

    def stop(self) -> None:
        self.dynamodb.stop()
        self.moto.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def put_connection_uri(self, project: str | None, uri: str) -> None:
        """Store ``uri`` as ``project``'s connection URI (``None``: the stack's default
        sender's), a SecureString, where the sender reads it."""
        if project is None:
            name = self._environment["COURIER_DEFAULT_CONNECTION_URI_PARAMETER"]
        else:
            prefix = self._environment.get("COURIER_SSM_PREFIX", "/courier")
            name = parameter_names(project, prefix=prefix).connection_uri
        self._ssm.put_parameter(Name=name, Value=uri, Type="SecureString", Overwrite=True)

    def event(self, bodies: list[str]) -> dict[str, Any]:
        """Queue ``bodies`` and receive them as one Lambda SQS event (every record, in any
        order)."""
        from local.sqs import receive_event

        for start in range(0, len(bodies), _SQS_BATCH):
            chunk = bodies[start : start + _SQS_BATCH]
            answer = self._sqs.send_message_batch(
                QueueUrl=self._queue_url,
                Entries=[{"Id": str(n), "MessageBody": body} for n, body in enumerate(chunk)],
            )
            if answer.get("Failed"):
                raise RuntimeError(f"moto refused messages: {answer['Failed']}")
        records: list[dict[str, Any]] = []
        while len(records) < len(bodies):
            batch = receive_event(self._sqs, queue_url=self._queue_url, queue_arn=self._queue_arn)
            if not batch["Records"]:
                raise RuntimeError(f"received {len(records)} of {len(bodies)} messages from moto")
            records.extend(batch["Records"])
        return {"Records": records}

    def child_environment(self) -> dict[str, str]:
        """What the handler's process needs to reach this AWS, and the dead-letter queue."""
        return {
            **self.moto.child_environment(),
            "AWS_ENDPOINT_URL_DYNAMODB": self.dynamodb.endpoint_url,
            "COURIER_DLQ_URL": self._dead_letter_queue_url,
        }

    def ssm_seconds(self, *, calls: int = 20) -> float:
        """Median seconds of a ``GetParameters`` of one SecureString from moto, as a client in
        this process sees it (what the sender's one SSM read per project costs here)."""
        name = self._environment["COURIER_DEFAULT_CONNECTION_URI_PARAMETER"]
        times = []
        for _ in range(calls):
            start = time.perf_counter()
            self._ssm.get_parameters(Names=[name], WithDecryption=True)
            times.append(time.perf_counter() - start)
        return sorted(times)[len(times) // 2]
