"""The sender end to end: SQS records in (moto), mail on real SMTP servers, DLQ and retries out.

Every row of docs/design.md §5's outcome table is asserted where the message ended up: the server's
mailbox, the partial batch response (with its backoff), or the dead-letter queue (body and
attributes).
"""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from botocore.stub import Stubber

from courier.config_provider import SsmConfigProvider
from courier.delivery_log import DynamoDBDeliveryLog
from courier.observability import metrics
from courier.sender import Sender
from courier.stack import StackSettings
from local.lambda_context import LocalLambdaContext
from local.smtpd import Faults, SmtpServer
from local.stack import StackResources, load_template
from tests.conftest import StartServer
from tests.queues import Queues, attributes, failed_ids, with_receive_count

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import MessageTypeDef

PASSWORD = "pw-canary-91c2"
DEFAULT_URI_PARAMETER = "/courier/default/smtp/connection_uri"


def recovery(recipient: str = "ada@example.org", **extra: Any) -> dict[str, Any]:
    return {
        "recipient": recipient,
        "template_type": "recovery_code_valid",
        "template_data": {"recovery_code": "482913", "expires_in_minutes": 15},
        **extra,
    }


@dataclass
class Courier:
    """The sender wired to moto and to SMTP servers, with helpers to push and inspect."""

    stack: StackResources
    start_smtpd: StartServer
    sqs: Any = field(default_factory=lambda: boto3.client("sqs"))
    ssm: Any = field(default_factory=lambda: boto3.client("ssm"))
    ssm_calls: list[str] = field(default_factory=list)
    visibility_changes: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.queues = Queues(self.stack, self.sqs)
        self.ssm.meta.events.register(
            "before-call.ssm.*", lambda model, **_: self.ssm_calls.append(model.name)
        )
        self.sqs.meta.events.register(
            "provide-client-params.sqs.ChangeMessageVisibilityBatch",
            lambda params, **_: self.visibility_changes.extend(params["Entries"]),
        )

    def sender(self, *, ssm: Any = None, table: str | None = None, **settings: Any) -> Sender:
        stack = StackSettings(
            **{
                "prefix": "/courier",
                "default_connection_uri_parameter": DEFAULT_URI_PARAMETER,
                "default_from_address": "no-reply@courier.example",
                "dead_letter_queue_url": self.stack.dead_letter_queue_url,
                "allow_private_hosts": True,
                "smtp_timeout": 5,
                "max_receive_count": self.stack.max_receive_count,
                **settings,
            }
        )
        return Sender(
            settings=stack,
            config_provider=SsmConfigProvider(settings=stack, boto3_client=ssm or self.ssm),
            sqs_client=self.sqs,
            persistence_store=DynamoDBPersistenceLayer(
                table_name=table or self.stack.idempotency_table
            ),
            delivery_log=DynamoDBDeliveryLog(
                table_name=table or self.stack.idempotency_table, client=boto3.client("dynamodb")
            ),
        )

    def server(self, project: str = "default", **options: Any) -> SmtpServer:
        """Start a STARTTLS server and make it ``project``'s (or the stack default's) server."""
        server = self.start_smtpd(password=PASSWORD, **options)
        uri = f"smtp://user:{PASSWORD}@127.0.0.1:{server.port}/"
        name = DEFAULT_URI_PARAMETER if project == "default" else self.uri_parameter(project)
        self.ssm.put_parameter(Name=name, Value=uri, Type="SecureString", Overwrite=True)
        return server

    @staticmethod
    def uri_parameter(project: str) -> str:
        return f"/courier/{project}/smtp/connection_uri"

    def configure(self, project: str, config: dict[str, Any]) -> None:
        self.ssm.put_parameter(
            Name=f"/courier/{project}/config", Value=json.dumps(config), Type="String"
        )

    def run(
        self, event: dict[str, Any], *, sender: Sender | None = None, timeout: float = 60
    ) -> Any:
        return (sender or self.sender()).handle(event, LocalLambdaContext(timeout_seconds=timeout))

    def push(self, *messages: dict[str, Any] | str) -> None:
        self.queues.push(*messages)

    def receive(self) -> dict[str, Any]:
        return self.queues.receive()

    def dead_letters(self) -> list[MessageTypeDef]:
        return self.queues.dead_letters()


@pytest.fixture
def courier(stack: StackResources, start_smtpd: StartServer) -> Iterator[Courier]:
    metrics.clear_metrics()
    yield Courier(stack=stack, start_smtpd=start_smtpd)
    metrics.clear_metrics()


def test_a_message_is_delivered_in_the_projects_tls_mode(courier: Courier) -> None:
    # GIVEN the stack's default sender on a STARTTLS server
    server = courier.server()
    courier.push(recovery())

    # WHEN the sender handles the batch
    response = courier.run(courier.receive())

    # THEN the mail arrived encrypted, nothing failed and nothing was dead-lettered
    assert response == {"batchItemFailures": []}
    [received] = server.messages
    assert received.tls_version in {"TLSv1.2", "TLSv1.3"}
    assert received.rcpt_tos == ("ada@example.org",)
    mail = received.message
    assert mail["Subject"] == "Recover access to your account"
    assert mail["From"] == "no-reply@courier.example"
    assert "482913" in mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert courier.dead_letters() == []


PERMANENT = {
    "not JSON": ("{not json", "message", "message_not_json"),
    "fails the schema": (json.dumps({"recipient": "ada@example.org"}), "message", "message_schema"),
    "unknown template": (
        json.dumps({**recovery(), "template_type": "password_changed"}),
        "message",
        "message_schema",
    ),
    "render error": (
        json.dumps({**recovery(), "template_data": {}}),
        "message",
        "template_data_missing",
    ),
    "bad recipient": (json.dumps(recovery("not-an-address")), "message", "recipient_invalid"),
}


@pytest.mark.parametrize(("body", "kind", "code"), PERMANENT.values(), ids=PERMANENT)
def test_a_bad_message_is_dead_lettered_at_once_with_its_cause(
    courier: Courier, body: str, kind: str, code: str
) -> None:
    # GIVEN a message that can never be sent
    server = courier.server()
    courier.push(body)
    event = courier.receive()

    # WHEN the sender handles it
    response = courier.run(event)

    # THEN it is acknowledged, and the DLQ holds the original body with the cause
    assert response == {"batchItemFailures": []}
    [dead] = courier.dead_letters()
    assert dead["Body"] == body
    cause = attributes(dead)
    assert cause["courier.reason"] == "permanent"
    assert (cause["courier.error_kind"], cause["courier.error_code"]) == (kind, code)
    assert cause["courier.attempts"] == "1"
    assert cause["courier.project_id"] == "default"
    assert cause["courier.source_message_id"] == event["Records"][0]["messageId"]
    assert server.messages == []


@pytest.mark.parametrize("step", ["mail", "rcpt", "data"])
def test_a_5xx_to_the_envelope_or_content_is_dead_lettered_with_the_reply(
    courier: Courier, step: str
) -> None:
    # GIVEN a server that refuses at one step with a 5xx
    reply = "550 5.1.1 No such user here"
    faults = {"mail": Faults(mail_reply=reply), "rcpt": Faults(rcpt_reply=reply)}
    courier.server(faults=faults.get(step, Faults(data_reply=reply)))
    courier.push(recovery())

    # WHEN the sender handles the message
    response = courier.run(courier.receive())

    # THEN it is dead-lettered at once with the step and the server's reply
    assert response == {"batchItemFailures": []}
    [dead] = courier.dead_letters()
    cause = attributes(dead)
    assert cause["courier.error_kind"] == "smtp"
    assert cause["courier.smtp_step"] == step.upper()
    assert cause["courier.smtp_reply"] == reply
    assert PASSWORD not in json.dumps(cause)


RETRIED = {
    "4xx reply": (
        {"faults": Faults(rcpt_reply="450 4.2.1 Mailbox busy")},
        "smtp_rcpt",
    ),
    "connection lost": ({"faults": Faults(drop_in_data=True)}, "smtp_disconnected"),
    "untrusted certificate": ({"certificate": "untrusted"}, "smtp_tls"),
    "STARTTLS missing": ({"listener": "plain"}, "smtp_tls"),
}


@pytest.mark.parametrize(("server_options", "code"), RETRIED.values(), ids=RETRIED)
def test_transient_and_operator_fixable_failures_are_retried_with_backoff(
    courier: Courier, server_options: dict[str, Any], code: str
) -> None:
    # GIVEN a server that fails in a way a retry (or an operator) can fix
    server = courier.server(**server_options)
    courier.push(recovery())
    event = courier.receive()

    # WHEN the sender handles the first attempt
    response = courier.run(event)

    # THEN the message goes back to SQS with a 30 s backoff, and nothing was dead-lettered
    message_id = event["Records"][0]["messageId"]
    assert failed_ids(response) == [message_id]
    assert [change["VisibilityTimeout"] for change in courier.visibility_changes] == [30]
    assert courier.dead_letters() == []
    assert server.messages == []


def test_a_wrong_password_is_retried_then_dead_lettered_when_attempts_run_out(
    courier: Courier,
) -> None:
    # GIVEN a project whose URI has a wrong password, and message_retries 2 (3 attempts)
    server = courier.start_smtpd()
    courier.ssm.put_parameter(
        Name=courier.uri_parameter("acme"),
        Value=f"smtp://user:{PASSWORD}@127.0.0.1:{server.port}/",
        Type="SecureString",
    )
    courier.configure("acme", {"message_retries": 2})
    courier.push(recovery(project_id="acme"))
    event = courier.receive()

    # WHEN attempts 2 and then 3 are handled
    second = courier.run(with_receive_count(event, 2))
    third = courier.run(with_receive_count(event, 3))

    # THEN the second is retried (backoff 60 s) and the third dead-letters with the AUTH cause
    assert len(second["batchItemFailures"]) == 1
    assert courier.visibility_changes[0]["VisibilityTimeout"] == 60
    assert third == {"batchItemFailures": []}
    [dead] = courier.dead_letters()
    cause = attributes(dead)
    assert cause["courier.reason"] == "attempts-exhausted"
    assert cause["courier.error_code"] == "smtp_auth"
    assert cause["courier.smtp_reply"].startswith("535 ")
    assert cause["courier.attempts"] == "3"
    assert cause["courier.project_id"] == "acme"
    assert PASSWORD not in json.dumps(cause)


def test_a_bad_uri_is_retried_as_a_config_error(courier: Courier) -> None:
    # GIVEN a default sender URI with a raw '@' in its password
    courier.ssm.put_parameter(
        Name=DEFAULT_URI_PARAMETER, Value="smtp://user:p@ss@127.0.0.1:2525/", Type="SecureString"
    )
    courier.push(recovery())

    # WHEN the last attempt (the queue's maxReceiveCount) is handled
    courier.run(with_receive_count(courier.receive(), courier.stack.max_receive_count))

    # THEN it is dead-lettered with the config error that names the fix
    [dead] = courier.dead_letters()
    cause = attributes(dead)
    assert (cause["courier.error_kind"], cause["courier.error_code"]) == (
        "config",
        "uri_password_unencoded",
    )
    assert "%40" in cause["courier.error_message"]


def test_an_invocation_without_time_for_a_message_hands_it_back_and_says_why(
    courier: Courier, courier_logs: io.StringIO
) -> None:
    # GIVEN two messages and a function with 3 s left: less than SmtpTimeoutSeconds (5 s)
    # plus the 3 s it keeps to record outcomes
    server = courier.server()
    courier.push(recovery(), recovery("bob@example.org"))
    event = courier.receive()

    # WHEN the sender handles the batch, and then the message's last attempt
    response = courier.run(event, timeout=3)
    last = courier.run(with_receive_count(event, 6), timeout=3)

    # THEN both went back with the first backoff, the log says why, nothing was sent; and at
    # the last attempt they are dead-lettered with cause out_of_time instead of being left for
    # SQS to move without one
    assert sorted(failed_ids(response)) == sorted(r["messageId"] for r in event["Records"])
    assert [change["VisibilityTimeout"] for change in courier.visibility_changes] == [30, 30]
    assert "needs SmtpTimeoutSeconds (5s) plus 3s" in courier_logs.getvalue()
    assert server.messages == []
    assert last == {"batchItemFailures": []}
    dead = courier.dead_letters()
    assert [attributes(m)["courier.error_code"] for m in dead] == ["out_of_time"] * 2
    assert {attributes(m)["courier.reason"] for m in dead} == {"attempts-exhausted"}


def test_a_failed_dlq_write_keeps_the_message_on_the_queue(courier: Courier) -> None:
    # GIVEN a DLQ that does not exist
    courier.server()
    courier.push("{not json")
    event = courier.receive()
    sender = courier.sender()
    sender.settings = replace(
        sender.settings, dead_letter_queue_url=courier.stack.dead_letter_queue_url + "-missing"
    )

    # WHEN a message must be dead-lettered
    response = courier.run(event, sender=sender)

    # THEN it is not acknowledged: SQS will deliver it again
    assert failed_ids(response) == [event["Records"][0]["messageId"]]


def test_a_mixed_batch_of_ten(courier: Courier) -> None:
    # GIVEN ten messages: six deliverable, a 550 and a 450 recipient, malformed JSON, an
    # unknown template and a bad recipient
    server = courier.server(
        faults=Faults(
            rcpt_replies={
                "gone@example.org": "550 5.1.1 No such user",
                "busy@example.org": "450 4.2.1 Mailbox busy",
            }
        )
    )
    good = [recovery(f"user{n}@example.org", id=f"good-{n}") for n in range(5)]
    courier.push(
        good[0],
        recovery("gone@example.org"),
        good[1],
        "[1, 2",
        good[2],
        {**recovery(), "template_type": "no_such_template"},
        good[3],
        recovery("busy@example.org"),
        recovery("not-an-address"),
        good[4],
    )
    event = courier.receive()
    assert len(event["Records"]) == 10
    busy = next(r["messageId"] for r in event["Records"] if "busy@" in r["body"])

    # WHEN the sender handles the batch
    response = courier.run(event)

    # THEN only the 450 is retried, four are dead-lettered with their causes, five arrived
    # over the project's two sessions (seven mails went to the server: two per session's worth)
    assert failed_ids(response) == [busy]
    codes = sorted(attributes(m)["courier.error_code"] for m in courier.dead_letters())
    assert codes == ["message_not_json", "message_schema", "recipient_invalid", "smtp_rcpt"]
    assert sorted(m.rcpt_tos for m in server.messages) == [
        (f"user{n}@example.org",) for n in range(5)
    ]
    assert len(server.client_sessions) == 2


def test_a_redelivered_message_is_not_sent_twice(courier: Courier) -> None:
    # GIVEN a message that was delivered
    server = courier.server()
    courier.push(recovery(id="reset-42"))
    event = courier.receive()
    courier.run(event)

    # WHEN SQS delivers the same record again (the delete was lost)
    response = courier.run(with_receive_count(event, 2))

    # THEN it is acknowledged without a second mail
    assert response == {"batchItemFailures": []}
    assert len(server.messages) == 1


def test_two_projects_use_their_own_servers_and_senders(courier: Courier) -> None:
    # GIVEN project acme with its own server and sender, and the stack's default sender
    default_server = courier.server()
    acme_server = courier.server("acme")
    courier.configure("acme", {"smtp": {"from_address": "hello@acme.example", "from_name": "Acme"}})
    courier.push(recovery(project_id="acme"), recovery("bob@example.org"))

    # WHEN one batch holds a message of each
    response = courier.run(courier.receive())

    # THEN each went through its project's server with its project's From
    assert response == {"batchItemFailures": []}
    [acme_mail] = acme_server.messages
    [default_mail] = default_server.messages
    assert acme_mail.message["From"] == "Acme <hello@acme.example>"
    assert acme_mail.mail_from == "hello@acme.example"
    assert default_mail.message["From"] == "no-reply@courier.example"


def test_ten_projects_of_a_batch_are_sent_side_by_side(courier: Courier) -> None:
    # GIVEN ten projects whose server answers no EHLO until ten sessions have sent one (serial
    # sessions would never get past the first)
    server = courier.server("p0", faults=Faults(ehlo_barrier=10))
    uri = courier.ssm.get_parameter(Name=courier.uri_parameter("p0"), WithDecryption=True)
    for n in range(1, 10):
        courier.ssm.put_parameter(
            Name=courier.uri_parameter(f"p{n}"),
            Value=uri["Parameter"]["Value"],
            Type="SecureString",
        )
    courier.push(*(recovery(f"user{n}@example.org", project_id=f"p{n}") for n in range(10)))

    # WHEN one batch holds a message of each
    response = courier.run(courier.receive())

    # THEN all ten arrived, over ten sessions open at once
    assert response == {"batchItemFailures": []}
    assert sorted(m.rcpt_tos[0] for m in server.messages) == sorted(
        f"user{n}@example.org" for n in range(10)
    )
    assert len(server.client_sessions) == 10


def test_a_projects_max_connections_limits_its_sessions(courier: Courier) -> None:
    # GIVEN a project that allows one connection, with eight messages in a batch
    server = courier.server("acme")
    courier.configure("acme", {"smtp": {"max_connections": 1}})
    courier.push(*(recovery(f"user{n}@example.org", project_id="acme") for n in range(8)))

    # WHEN the sender handles the batch
    response = courier.run(courier.receive())

    # THEN all eight went over one session
    assert response == {"batchItemFailures": []}
    assert len(server.messages) == 8
    assert len(server.client_sessions) == 1


def test_a_project_without_its_own_server_cannot_send_from_its_own_address(
    courier: Courier,
) -> None:
    # GIVEN a project with no connection URI of its own that sets from_address
    server = courier.server()
    courier.configure("shady", {"smtp": {"from_address": "ceo@bank.example"}})
    courier.push(recovery(project_id="shady"))

    # WHEN its message is handled on its last attempt
    courier.run(with_receive_count(courier.receive(), 6))

    # THEN nothing was sent, and the DLQ says why
    assert server.messages == []
    [dead] = courier.dead_letters()
    assert attributes(dead)["courier.error_code"] == "sender_requires_own_server"


def test_a_batch_of_100_reads_ssm_once_and_never_logs_the_password(
    courier: Courier,
    courier_logs: io.StringIO,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # GIVEN 100 messages for the default project, some failing
    server = courier.server(faults=Faults(rcpt_replies={"busy@example.org": "450 4.2.1 busy"}))
    courier.push(*[recovery(f"u{n}@example.org") for n in range(98)])
    courier.push(recovery("busy@example.org"), "{broken")
    event = courier.receive()
    courier.ssm_calls.clear()

    # WHEN they are handled as one batch
    response = courier.run(event)

    # THEN one SSM round trip served them all, and no output holds the password
    assert courier.ssm_calls == ["GetParameters"]
    assert len(server.messages) == 98
    assert len(response["batchItemFailures"]) == 1
    output = courier_logs.getvalue() + capsys.readouterr().out
    assert "message retried" in output  # the logs were captured
    assert PASSWORD not in output
    assert PASSWORD not in caplog.text


def test_outcomes_are_logged_by_message_id_and_counted_by_error_code(
    courier: Courier, capsys: pytest.CaptureFixture[str], courier_logs: io.StringIO
) -> None:
    # GIVEN a deliverable message with an id, and a malformed one
    courier.server()
    courier.push(recovery(id="reset-1"), "{broken")

    # WHEN the batch is handled and the metrics are flushed (as the handler's decorator does)
    courier.run(courier.receive())
    metrics.flush_metrics()

    # THEN the JSON logs carry the message's id as correlation id and say the outcome,
    # and the EMF metrics count each outcome and the failure's error code
    output = courier_logs.getvalue() + capsys.readouterr().out
    lines = [json.loads(line) for line in output.splitlines() if line[:1] == "{"]
    delivered = [line for line in lines if line.get("message") == "message delivered"]
    assert [(line["correlation_id"], line["project_id"]) for line in delivered] == [
        ("reset-1", "default")
    ]
    # the service template.yaml names in POWERTOOLS_SERVICE_NAME, on logs and metrics alike
    assert {line.get("service") for line in lines if "level" in line} == {"courier-sender"}
    dead = [line for line in lines if str(line.get("message", "")).startswith("message dead")]
    assert [line["error_code"] for line in dead] == ["message_not_json"]
    assert dead[0]["correlation_id"] == dead[0]["sqs_message_id"]
    assert "project_id" not in dead[0]
    emf = [line for line in lines if "_aws" in line]
    counted = {
        metric["Name"]: line[metric["Name"]]
        for line in emf
        for directive in line["_aws"]["CloudWatchMetrics"]
        for metric in directive["Metrics"]
    }
    assert counted["Delivered"] == [1.0] or counted["Delivered"] == 1.0
    assert counted["DeadLettered"] in ([1.0], 1.0)
    failures = [line for line in emf if "Failures" in line]
    assert [line["error_code"] for line in failures] == ["message_not_json"]


def test_ssm_and_dynamodb_failures_are_retried_and_nothing_is_sent(courier: Courier) -> None:
    # GIVEN a deliverable message, an SSM that throttles and a missing idempotency table
    server = courier.server()
    courier.push(recovery())
    event = courier.receive()
    throttled = boto3.client("ssm")
    stubber = Stubber(throttled)
    stubber.add_client_error("get_parameters", "ThrottlingException", "Rate exceeded")
    stubber.activate()

    # WHEN the sender handles it with each fault
    without_ssm = courier.run(event, sender=courier.sender(ssm=throttled))
    without_table = courier.run(event, sender=courier.sender(table="NoSuchTable"))

    # THEN both times it goes back to SQS with a backoff; nothing was sent or dead-lettered
    message_id = event["Records"][0]["messageId"]
    assert failed_ids(without_ssm) == failed_ids(without_table) == [message_id]
    assert [change["VisibilityTimeout"] for change in courier.visibility_changes] == [30, 30]
    assert server.messages == []
    assert courier.dead_letters() == []


def test_the_largest_smtp_timeout_still_leaves_time_to_send(courier: Courier) -> None:
    # GIVEN SmtpTimeoutSeconds at the template's maximum, and the sender's own timeout
    template = load_template()
    largest = template["Parameters"]["SmtpTimeoutSeconds"]["MaxValue"]
    function_timeout = template["Resources"]["SenderFunction"]["Properties"]["Timeout"]
    server = courier.server()
    courier.push(recovery())

    # WHEN a batch starts with nearly all of the function's time ahead
    response = courier.run(
        courier.receive(),
        sender=courier.sender(smtp_timeout=largest),
        timeout=function_timeout - 1,
    )

    # THEN the message fits and is sent, not handed back forever
    assert response == {"batchItemFailures": []}
    assert len(server.messages) == 1


def test_a_poison_template_costs_only_its_own_message(courier: Courier) -> None:
    # GIVEN a project whose override burns CPU in nested loops, and nine good messages of two
    # other projects in the same batch
    poison = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    evil = courier.server("evil")
    courier.configure(
        "evil",
        {
            "templates": {
                "recovery_code_valid": {
                    "email": {"body": {"plaintext": "base64://" + b64encode(poison)}}
                }
            }
        },
    )
    default_server = courier.server()
    acme_server = courier.server("acme")
    courier.push(*[recovery(f"d{n}@example.org") for n in range(4)])
    courier.push(recovery(project_id="evil"))
    courier.push(*[recovery(f"a{n}@example.org", project_id="acme") for n in range(5)])
    event = courier.receive()
    assert len(event["Records"]) == 10

    # WHEN one invocation handles the batch
    started = time.thread_time()
    response = courier.run(event)
    cpu = time.thread_time() - started

    # THEN the nine arrived, and the poison config (refused when read, with the bound it went
    # over) is a config error: its message goes back to be retried while an operator fixes it,
    # and the batch took well under a second of CPU on top of the mail
    [evil_record] = [r for r in event["Records"] if '"evil"' in r["body"]]
    assert response == {"batchItemFailures": [{"itemIdentifier": evil_record["messageId"]}]}
    assert len(default_server.messages) == 4
    assert len(acme_server.messages) == 5
    assert evil.messages == []
    assert courier.dead_letters() == []
    assert cpu < 2.0


def b64encode(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_a_misspelt_project_is_not_sent_through_the_default_sender(courier: Courier) -> None:
    # GIVEN the stack's default sender, and a message for a project nobody created
    server = courier.server()
    courier.push(recovery(project_id="acmee"))
    event = courier.receive()

    # WHEN its first and its last attempt are handled
    first = courier.run(event)
    courier.run(with_receive_count(event, 6))

    # THEN it was retried (an operator may be creating it), then dead-lettered as unknown;
    # nothing went out through the default sender
    assert len(first["batchItemFailures"]) == 1
    assert server.messages == []
    [dead] = courier.dead_letters()
    cause = attributes(dead)
    assert (cause["courier.error_code"], cause["courier.reason"]) == (
        "project_unknown",
        "attempts-exhausted",
    )
    assert "acmee" in cause["courier.error_message"]
