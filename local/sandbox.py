"""The whole bundle on one machine: embedded AWS, the stack's resources, SMTP servers, functions.

:class:`LocalStack` starts moto's server, creates the queues and the table from the template,
starts one SMTP server per security mode and per token login (with the token endpoint of the
latter, :class:`local.mailservers.SmtpFleet`), writes the demo projects to SSM, and then invokes
the template's functions (resolved as ``sam local invoke`` does) against all of it.
``python -m local up`` keeps one running and writes a :class:`Session` file, so that
``python -m local invoke`` in another terminal uses the same AWS and SMTP servers.

Example
-------
>>> with LocalStack(workdir=Path("out/local")) as stack:  # doctest: +SKIP
...     stack.invoke("SenderFunction", Path("events/sender/recovery-code.json").read_text())
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit

from local.aws import ACCOUNT_ID, EmbeddedAws
from local.invoke import InvokeResult, invoke
from local.mailbox import Mailbox
from local.mailservers import SmtpFleet
from local.poller import BatchReport, EventSourceMapping
from local.projects import seed_projects
from local.smtpd import Faults
from local.stack import TEMPLATE, StackResources, create_stack_resources, load_template
from local.template import FunctionSpec, TemplateError, resolve_function, sqs_event_source

__all__ = ["LOCAL_OVERRIDES", "SENDER", "LocalStack", "Session", "find_session"]

SENDER = "SenderFunction"
LOCAL_OVERRIDES = {"AllowPrivateSmtpHosts": "true"}
"""Parameter values every local run needs (the SMTP servers are on loopback); the caller's win."""


@dataclass(frozen=True)
class Session:
    """How to reach a running ``python -m local up``: written to ``session.json``.

    Every path in it is absolute: the functions it configures run in their code folder, and
    ``invoke`` and ``send`` may run from another directory than ``up``.
    """

    endpoint_url: str
    region: str
    ca_bundle: str
    resource_values: dict[str, dict[str, str]]
    mail_dir: str
    pid: int

    def child_environment(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "SSL_CERT_FILE": self.ca_bundle,
        }

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")


def find_session(path: Path) -> Session | None:
    """The session of a running ``up``, or ``None`` (no file, or its endpoint is gone)."""
    try:
        session = Session(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
    address = urlsplit(session.endpoint_url)
    try:
        with socket.create_connection((address.hostname or "", address.port or 80), timeout=1):
            return session
    except OSError:
        return None


class LocalStack:
    """Everything a function of the template needs, on loopback.

    Parameters
    ----------
    workdir:
        Where the CA bundle goes.
    template:
        The SAM template (source or built).
    parameter_overrides:
        Template parameters, on top of :data:`LOCAL_OVERRIDES`.
    env_vars:
        An ``--env-vars`` document for every invoke.
    mailbox:
        Where accepted mail is saved as ``.eml`` files.
    faults:
        SMTP faults by server name (a mode's, or a token-login project's).
    extra_env:
        Variables every function gets on top of its own (e.g. a short retry backoff).
    """

    def __init__(
        self,
        *,
        workdir: Path,
        template: Path = TEMPLATE,
        parameter_overrides: Mapping[str, str] | None = None,
        env_vars: Mapping[str, Mapping[str, str]] | None = None,
        mailbox: Mailbox | None = None,
        faults: Mapping[str, Faults] | None = None,
        extra_env: Mapping[str, str] | None = None,
        region: str = "us-east-1",
    ) -> None:
        self.template = template.resolve()
        self.parameter_overrides = {**LOCAL_OVERRIDES, **(parameter_overrides or {})}
        self.env_vars = env_vars
        self.mailbox = mailbox
        self.extra_env = dict(extra_env or {})
        self.region = region
        self.aws = EmbeddedAws(region=region)
        self.fleet = SmtpFleet(
            workdir=workdir, faults=faults, on_message=mailbox.save if mailbox else None
        )
        self.resources: StackResources | None = None
        self.project_uris: dict[str, str] = {}
        self._functions: dict[str, FunctionSpec] = {}

    def start(self) -> Self:
        try:
            self.aws.start()
            # moto builds its SSM backend on first use (most of a second): meanwhile, the rest.
            warm_up = threading.Thread(target=self.aws.client("ssm").describe_parameters)
            warm_up.start()
            self.fleet.start()
            self._create_resources()
            self.function(SENDER)
            warm_up.join()
            self._seed_projects()
        except BaseException:
            self.stop()
            raise
        return self

    def reset(self) -> None:
        """Back to the state right after :meth:`start`: AWS wiped and provisioned again, the
        SMTP servers' records cleared."""
        self.aws.reset()
        self.fleet.clear()
        self._create_resources()
        self._seed_projects()

    def _create_resources(self) -> None:
        self.resources = create_stack_resources(
            sqs=self.aws.client("sqs"),
            dynamodb=self.aws.client("dynamodb"),
            template=load_template(self.template),
        )

    def _seed_projects(self) -> None:
        environment = self.function(SENDER).environment
        self.project_uris = seed_projects(
            self.aws.client("ssm"),
            self.fleet,
            prefix=environment.get("COURIER_SSM_PREFIX") or "/courier",
            default_parameter=environment.get("COURIER_DEFAULT_CONNECTION_URI_PARAMETER"),
        )

    def stop(self) -> None:
        self.fleet.stop()
        self.aws.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def stack(self) -> StackResources:
        if self.resources is None:
            raise RuntimeError("the local stack is not started")
        return self.resources

    def session(self) -> Session:
        return Session(
            endpoint_url=self.aws.endpoint_url,
            region=self.region,
            ca_bundle=str(self.fleet.ca_bundle.resolve()),
            resource_values=self.stack.resource_values(region=self.region, account_id=ACCOUNT_ID),
            mail_dir=str(self.mailbox.directory.resolve()) if self.mailbox else "",
            pid=os.getpid(),
        )

    def function(self, logical_id: str) -> FunctionSpec:
        """``logical_id`` resolved against the local resources (cached)."""
        if logical_id not in self._functions:
            self._functions[logical_id] = resolve_function(
                self.template,
                logical_id,
                parameter_overrides=self.parameter_overrides,
                resource_values=self.session().resource_values,
                env_vars=self.env_vars,
                region=self.region,
            )
        return self._functions[logical_id]

    def child_environment(self) -> dict[str, str]:
        """What every function gets on top of its own environment."""
        return {
            **self.aws.child_environment(),
            **self.session().child_environment(),
            **self.extra_env,
        }

    def invoke(self, logical_id: str, event: str, *, capture_logs: bool = True) -> InvokeResult:
        """Invoke ``logical_id`` once with ``event`` (JSON text)."""
        return invoke(
            self.function(logical_id),
            event,
            extra_env=self.child_environment(),
            capture_logs=capture_logs,
        )

    def seed_parameters(self, path: Path) -> list[str]:
        """Write the SSM parameters of a seed file (``{"parameters": [PutParameter
        arguments]}``, as ``events/<function>/ssm.seed.json``), over any already there."""
        ssm = self.aws.client("ssm")
        names = []
        for parameter in json.loads(path.read_text(encoding="utf-8"))["parameters"]:
            ssm.put_parameter(**{**parameter, "Overwrite": True})
            names.append(str(parameter["Name"]))
        return names

    def seed_status(self, path: Path) -> int:
        """Write the message status items of a seed file (``{"items": [plain items]}``, as
        ``events/<function>/status.seed.json``) into the status table; returns how many."""
        from boto3.dynamodb.types import TypeSerializer

        serializer = TypeSerializer()
        items = json.loads(path.read_text(encoding="utf-8"))["items"]
        dynamodb = self.aws.client("dynamodb")
        for item in items:
            dynamodb.put_item(
                TableName=self.stack.status_table,
                Item={name: serializer.serialize(value) for name, value in item.items()},
            )
        return len(items)

    def dead_letters(self) -> list[dict[str, str]]:
        """Every message in the DLQ (left there, visible): its ``courier.*`` attributes and its
        ``MessageId`` (the same as on the queue when SQS redrove it)."""
        sqs = self.aws.client("sqs")
        url = self.stack.dead_letter_queue_url
        found: list[dict[str, Any]] = []
        while batch := sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            VisibilityTimeout=60,
        ).get("Messages", []):
            found += batch
        for start in range(0, len(found), 10):
            sqs.change_message_visibility_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                    for n, m in enumerate(found[start : start + 10])
                ],
            )
        return [
            {
                "MessageId": message["MessageId"],
                **{
                    name: value.get("StringValue", "")
                    for name, value in message.get("MessageAttributes", {}).items()
                },
            }
            for message in found
        ]

    def event_source_mapping(
        self,
        logical_id: str = SENDER,
        *,
        on_batch: Callable[[BatchReport], None] | None = None,
        max_workers: int = 2,
    ) -> EventSourceMapping:
        """The SQS event source mapping of ``logical_id``, as the template declares it."""
        source = sqs_event_source(
            self.template, logical_id, parameter_overrides=self.parameter_overrides
        )
        if source is None:
            raise TemplateError(f"{logical_id} has no SQS event in {self.template.name}")
        values: Any = self.session().resource_values.get(source.queue)
        if not values:
            raise TemplateError(f"queue {source.queue} is not a local resource")
        return EventSourceMapping(
            sqs=self.aws.client("sqs"),
            queue_url=values["Ref"],
            queue_arn=values["Arn"],
            source=source,
            invoke=lambda event: self.invoke(logical_id, event),
            max_workers=max_workers,
            on_batch=on_batch,
        )
