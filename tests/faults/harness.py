"""The real sender against scripted hostile SMTP servers and failing AWS calls (moto).

:class:`FaultBench` wires :class:`~courier.sender.Sender` to moto's queues, table and SSM and to
:class:`~tests.faults.scripted_smtpd.ScriptedSmtpServer` instances, and lets a test make any
AWS call of the sender fail (:meth:`FaultBench.fail`). Every run records whether the handler
returned before the Lambda context's deadline.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
import trustme
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from botocore.config import Config
from botocore.exceptions import ClientError

from courier.config_provider import SsmConfigProvider
from courier.delivery_log import DynamoDBDeliveryLog
from courier.sender import Sender
from courier.stack import StackSettings
from local.lambda_context import LocalLambdaContext
from local.stack import StackResources
from tests.faults.scripted_smtpd import Mode, Script, ScriptedSmtpServer
from tests.queues import Queues

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import MessageTypeDef

PASSWORD = "pw-fault-7d41"
DEFAULT_URI_PARAMETER = "/courier/default/smtp/connection_uri"
# One try per call: the sender's own bounded retries are what is under test, and botocore's
# backoff would only slow the suite down.
NO_RETRIES = Config(retries={"mode": "standard", "max_attempts": 1})


def recovery(recipient: str = "ada@example.org", **extra: Any) -> dict[str, Any]:
    return {
        "recipient": recipient,
        "template_type": "recovery_code_valid",
        "template_data": {"recovery_code": "482913", "expires_in_minutes": 15},
        **extra,
    }


@dataclass(frozen=True)
class Run:
    """One invocation: its response and how much of the context's time was left after it."""

    response: dict[str, Any]
    remaining_seconds: float

    @property
    def failed_ids(self) -> list[str]:
        return [failure["itemIdentifier"] for failure in self.response["batchItemFailures"]]


@dataclass
class FaultBench:
    stack: StackResources
    ca: trustme.CA
    sqs: Any = field(default_factory=lambda: boto3.client("sqs", config=NO_RETRIES))
    ssm: Any = field(default_factory=lambda: boto3.client("ssm", config=NO_RETRIES))
    dynamodb: Any = field(default_factory=lambda: boto3.client("dynamodb", config=NO_RETRIES))
    servers: list[ScriptedSmtpServer] = field(default_factory=list)
    visibility_changes: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.queues = Queues(self.stack, self.sqs)
        self.sqs.meta.events.register(
            "provide-client-params.sqs.ChangeMessageVisibilityBatch",
            lambda params, **_: self.visibility_changes.extend(params["Entries"]),
        )

    # SMTP servers and projects.

    def server(
        self,
        project: str = "default",
        *,
        script: Script | None = None,
        mode: Mode = "starttls",
        pipelining: bool = True,
    ) -> ScriptedSmtpServer:
        """Start a scripted server and make it ``project``'s (or the stack default's) server."""
        server = ScriptedSmtpServer(
            mode=mode,
            certificate=self.ca.issue_cert("localhost", "127.0.0.1"),
            password=PASSWORD,
            pipelining=pipelining,
            script=script,
        ).start()
        self.servers.append(server)
        self.use_uri(project, uri_for(server))
        return server

    def use_uri(self, project: str, uri: str) -> None:
        name = DEFAULT_URI_PARAMETER if project == "default" else uri_parameter(project)
        self.ssm.put_parameter(Name=name, Value=uri, Type="SecureString", Overwrite=True)

    def configure(self, project: str, config: dict[str, Any]) -> None:
        self.ssm.put_parameter(
            Name=f"/courier/{project}/config",
            Value=json.dumps(config),
            Type="String",
            Overwrite=True,
        )

    def stop(self) -> None:
        for server in self.servers:
            server.stop()

    # The sender.

    def sender(self, *, smtp_timeout: float = 2.0, **settings: Any) -> Sender:
        table = self.stack.idempotency_table
        stack = StackSettings(
            **{
                "prefix": "/courier",
                "default_connection_uri_parameter": DEFAULT_URI_PARAMETER,
                "default_from_address": "no-reply@courier.example",
                "dead_letter_queue_url": self.stack.dead_letter_queue_url,
                "allow_private_hosts": True,
                "smtp_timeout": smtp_timeout,
                "max_receive_count": self.stack.max_receive_count,
                **settings,
            }
        )
        return Sender(
            settings=stack,
            config_provider=SsmConfigProvider(settings=stack, boto3_client=self.ssm),
            sqs_client=self.sqs,
            persistence_store=DynamoDBPersistenceLayer(
                table_name=table, boto3_client=self.dynamodb
            ),
            delivery_log=DynamoDBDeliveryLog(table_name=table, client=self.dynamodb),
        )

    def run(
        self, event: dict[str, Any], *, sender: Sender | None = None, timeout: float = 30.0
    ) -> Run:
        """Handle ``event`` with ``timeout`` seconds on the clock; every run of the suite must
        return before the context's deadline."""
        context = LocalLambdaContext(timeout_seconds=timeout)
        response = (sender or self.sender()).handle(event, context)
        run = Run(
            response=dict(response),
            remaining_seconds=context.get_remaining_time_in_millis() / 1000,
        )
        assert run.remaining_seconds > 0, "the handler returned past the invocation's deadline"
        return run

    # Queues.

    def push(self, *messages: dict[str, Any] | str) -> None:
        self.queues.push(*messages)

    def receive(self) -> dict[str, Any]:
        return self.queues.receive()

    def dead_letters(self) -> list[MessageTypeDef]:
        return self.queues.dead_letters()

    # AWS faults.

    def fail(
        self,
        client: Any,
        operation: str,
        *,
        code: str = "InternalServerError",
        times: int | None = None,
        when: Callable[[dict[str, Any]], bool] = lambda params: True,
    ) -> list[dict[str, Any]]:
        """Make ``client``'s ``operation`` fail with ``code`` (``times`` times, or always)
        before anything reaches the service; returns the parameters of each failed call."""
        failed: list[dict[str, Any]] = []

        def refuse(params: dict[str, Any], **_: Any) -> None:
            if (times is None or len(failed) < times) and when(params):
                failed.append(params)
                raise ClientError(
                    {"Error": {"Code": code, "Message": "injected by the fault suite"}},
                    operation,
                )

        client.meta.events.register(f"provide-client-params.*.{operation}", refuse)
        return failed


def uri_for(server: ScriptedSmtpServer) -> str:
    credentials = f"user:{PASSWORD}@{server.host}:{server.port}"
    if server.mode == "smtps":
        return f"smtps://{credentials}/"
    if server.mode == "plain":
        return f"smtp://{credentials}/?disable_starttls=true"
    return f"smtp://{credentials}/"


def uri_parameter(project: str) -> str:
    return f"/courier/{project}/smtp/connection_uri"
