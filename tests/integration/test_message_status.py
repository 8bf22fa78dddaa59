"""Message status records, from the real sender (moto, real SMTP servers) to the HTTP API.

Every row of the outcome table is read back through the routes' own code
(:class:`~courier.status_api.MessageStatusApi`, and once through the deployed handler): delivered,
retried then delivered, dead-lettered, maybe delivered; a redrive continues the record; listings
page newest first; a failing status table loses no mail (docs/design.md §9).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest
import trustme
from botocore.stub import Stubber

from courier.observability import metrics
from courier.sender import Sender
from courier.status_api import MessageStatusApi
from courier.status_table import StatusTable
from local.smtpd import Faults
from local.stack import StackResources
from tests.conftest import StartServer
from tests.faults.harness import FaultBench
from tests.faults.scripted_smtpd import Action, Drop, Event
from tests.integration.test_sender import Courier, recovery
from tests.integration.test_validator_api import load_app
from tests.queues import attributes, failed_ids, with_receive_count

START = 1_796_000_000.0  # a fixed clock (2026-11-30T00:53:20Z), one second later at each reading


@dataclass
class Clock:
    now: float = START

    def __call__(self) -> float:
        self.now += 1
        return self.now


@dataclass
class Statuses:
    """The status table as the sender writes it and the API reads it."""

    stack: StackResources
    clock: Clock = field(default_factory=Clock)
    dynamodb: Any = field(default_factory=lambda: boto3.client("dynamodb"))

    def __post_init__(self) -> None:
        self.api = MessageStatusApi(table_name=self.stack.status_table, client=self.dynamodb)

    def table(self, name: str | None = None, client: Any = None) -> StatusTable:
        return StatusTable(
            table_name=name or self.stack.status_table,
            client=client or self.dynamodb,
            clock=self.clock,
        )

    def get(self, message_id: str, project: str = "default") -> dict[str, Any]:
        status, body = self.api.get_message(project, message_id)
        assert status == 200, body
        return body

    def listing(self, project: str = "default", **query: Any) -> tuple[int, dict[str, Any]]:
        return self.api.list_messages(project, urlencode(query))

    def items(self) -> list[dict[str, Any]]:
        return list(self.dynamodb.scan(TableName=self.stack.status_table)["Items"])


@dataclass
class RecordingCourier(Courier):
    statuses: Statuses | None = None

    def sender(self, *, ssm: Any = None, table: str | None = None, **settings: Any) -> Sender:
        sender = super().sender(ssm=ssm, table=table, **settings)
        assert self.statuses is not None
        sender.status_table = self.statuses.table()
        return sender


@pytest.fixture
def statuses(stack: StackResources) -> Statuses:
    return Statuses(stack)


@pytest.fixture
def courier(
    stack: StackResources, start_smtpd: StartServer, statuses: Statuses
) -> Iterator[RecordingCourier]:
    metrics.clear_metrics()
    yield RecordingCourier(stack=stack, start_smtpd=start_smtpd, statuses=statuses)
    metrics.clear_metrics()


@pytest.fixture
def bench(
    stack: StackResources, ca: trustme.CA, trust_test_ca: None, statuses: Statuses
) -> Iterator[FaultBench]:
    bench = FaultBench(stack=stack, ca=ca)
    yield bench
    bench.stop()


def redrive(sqs: Any, stack: StackResources, dead: Any) -> None:
    """Move a dead-lettered message back to the queue, attributes and all (as a DLQ redrive
    does: moto has no StartMessageMoveTask)."""
    sqs.send_message(
        QueueUrl=stack.queue_url,
        MessageBody=dead["Body"],
        MessageAttributes={
            name: {"DataType": value["DataType"], "StringValue": value["StringValue"]}
            for name, value in dead["MessageAttributes"].items()
        },
    )


def drop_after_dot(event: Event) -> Action | None:
    """The server keeps the mail but hangs up before its reply to the final dot."""
    return Drop(keep=True) if event.point == "dot" else None


def test_a_delivered_message_has_its_record_and_dispatch(
    courier: RecordingCourier, statuses: Statuses
) -> None:
    # GIVEN a server that names its queue id, and a recovery code for ada
    courier.server(faults=Faults(data_reply="250 2.0.0 Ok: queued as 4F2A1C"))
    courier.push(recovery("Ada@Example.ORG", id="reset-1"))

    # WHEN the sender delivers it
    assert courier.run(courier.receive()) == {"batchItemFailures": []}

    # THEN the record says delivered, once, with the server's reply and queue id
    message = statuses.get("reset-1")
    [dispatch] = message.pop("dispatches")
    assert message == {
        "id": "reset-1",
        "project_id": "default",
        "status": "delivered",
        "recipient": "Ada@example.org",
        "template_type": "recovery_code_valid",
        "send_count": 1,
        "created_at": "2026-11-30T00:53:21.000000Z",
        "updated_at": "2026-11-30T00:53:22.000000Z",
        "last_error_code": None,
        "smtp_message_id": dispatch["smtp_message_id"],
    }
    assert dispatch["smtp_message_id"].startswith("<courier.")
    assert dispatch == {
        "attempt": 1,
        "created_at": "2026-11-30T00:53:22.000000Z",
        "status": "success",
        "step": "DATA",
        "reply_code": 250,
        "reply": "2.0.0 Ok: queued as 4F2A1C",
        "smtp_message_id": dispatch["smtp_message_id"],
        "queue_id": "4F2A1C",
        "error": None,
    }
    # and the table holds one item, with neither the code, nor the body, nor the template data
    assert [item["sk"]["S"] for item in statuses.items()] == ["message"]
    stored = json.dumps(statuses.items())
    assert "482913" not in stored
    assert "template_data" not in stored
    assert "Recover access" not in stored


def test_a_retried_then_delivered_message_has_two_dispatches(
    courier: RecordingCourier, statuses: Statuses
) -> None:
    # GIVEN a server that greylists ada's first RCPT
    courier.server(faults=Faults(first_rcpt_replies={"ada@example.org": "450 4.2.1 try later"}))
    courier.push(recovery(id="reset-2"))
    event = courier.receive()

    # WHEN the first attempt is retried and the second delivers
    assert failed_ids(courier.run(event)) == [event["Records"][0]["messageId"]]
    retrying = statuses.get("reset-2")
    assert courier.run(with_receive_count(event, 2)) == {"batchItemFailures": []}

    # THEN the record went retrying, then delivered, created once, with both attempts in order
    delivered = statuses.get("reset-2")
    assert (retrying["status"], retrying["send_count"]) == ("retrying", 1)
    assert (delivered["status"], delivered["send_count"]) == ("delivered", 2)
    assert delivered["created_at"] == retrying["created_at"]
    assert delivered["last_error_code"] == "smtp_rcpt"
    first, second = delivered["dispatches"]
    assert (first["attempt"], first["status"], first["step"]) == (1, "failed", "RCPT")
    assert (first["reply_code"], first["reply"]) == (450, "4.2.1 try later")
    assert first["error"]["code"] == "smtp_rcpt"
    assert (second["attempt"], second["status"], second["error"]) == (2, "success", None)
    assert first["created_at"] < second["created_at"]


def test_a_dead_lettered_message_says_why(courier: RecordingCourier, statuses: Statuses) -> None:
    # GIVEN a server that refuses ada
    courier.server(faults=Faults(rcpt_reply="550 5.1.1 No such user here"))
    courier.push(recovery(id="reset-3"))

    # WHEN the sender handles it
    courier.run(courier.receive())

    # THEN the record says dead_lettered with the code and the server's reply
    message = statuses.get("reset-3")
    assert (message["status"], message["last_error_code"]) == ("dead_lettered", "smtp_rcpt")
    [dispatch] = message["dispatches"]
    assert (dispatch["step"], dispatch["reply_code"]) == ("RCPT", 550)
    assert dispatch["reply"] == "5.1.1 No such user here"
    assert dispatch["error"]["code"] == "smtp_rcpt"
    assert "No such user here" in dispatch["error"]["message"]


def test_an_unreadable_message_is_recorded_under_its_sqs_id(
    courier: RecordingCourier, statuses: Statuses
) -> None:
    # GIVEN a body that is not JSON
    courier.server()
    courier.push("{not json")
    event = courier.receive()

    # WHEN it is dead-lettered
    courier.run(event)

    # THEN its record is under the SQS message id, without recipient or template type
    message = statuses.get(event["Records"][0]["messageId"])
    assert (message["status"], message["recipient"], message["template_type"]) == (
        "dead_lettered",
        None,
        None,
    )
    assert message["last_error_code"] == "message_not_json"


def test_maybe_delivered_then_redriven_continues_one_record(
    bench: FaultBench, statuses: Statuses
) -> None:
    # GIVEN a project with one attempt whose server keeps the mail but hangs up after the dot
    bench.server("acme", script=drop_after_dot)
    bench.configure("acme", {"message_retries": 0})
    bench.push(recovery(project_id="acme"))
    event = bench.receive()
    sqs_id = event["Records"][0]["messageId"]
    sender = bench.sender()
    sender.status_table = statuses.table()

    # WHEN it is dead-lettered, moved back from the DLQ (attributes and all) and handled again
    bench.run(event, sender=sender)
    maybe = statuses.get(sqs_id, "acme")
    [dead] = bench.dead_letters()
    assert attributes(dead)["courier.maybe_delivered"] == "true"
    redrive(bench.sqs, bench.stack, dead)
    redriven = bench.receive()
    assert redriven["Records"][0]["messageId"] != sqs_id
    bench.run(redriven, sender=sender)

    # THEN the first attempt left maybe_delivered, and the redrive numbered its attempt on in
    # the same record (the same created_at, the same Message-ID)
    assert (maybe["status"], maybe["last_error_code"]) == (
        "maybe_delivered",
        "smtp_outcome_unknown",
    )
    [lost] = maybe["dispatches"]
    assert (lost["step"], lost["reply_code"], lost["error"]["code"]) == (
        "DATA",
        None,
        "smtp_outcome_unknown",
    )
    again = statuses.get(sqs_id, "acme")
    assert (again["status"], again["send_count"], again["created_at"]) == (
        "maybe_delivered",
        2,
        maybe["created_at"],
    )
    assert [d["attempt"] for d in again["dispatches"]] == [1, 2]
    assert len({d["smtp_message_id"] for d in again["dispatches"]}) == 1
    assert len(statuses.api.list_messages("acme", "")[1]["messages"]) == 1


def test_a_redriven_message_that_is_delivered_ends_delivered(
    courier: RecordingCourier, statuses: Statuses
) -> None:
    # GIVEN a message without an id dead-lettered after a 550, and its redrive
    server = courier.server(faults=Faults(first_rcpt_replies={"ada@example.org": "550 5.1.1 no"}))
    courier.push(recovery())
    event = courier.receive()
    courier.run(event)
    [dead] = courier.dead_letters()
    redrive(courier.sqs, courier.stack, dead)

    # WHEN the redriven message is delivered
    assert courier.run(courier.receive()) == {"batchItemFailures": []}

    # THEN the first record goes on: dead-lettered, then delivered as attempt 2
    message = statuses.get(event["Records"][0]["messageId"])
    assert (message["status"], message["send_count"]) == ("delivered", 2)
    assert [(d["attempt"], d["status"]) for d in message["dispatches"]] == [
        (1, "failed"),
        (2, "success"),
    ]
    assert len(server.messages) == 1


def test_listings_page_newest_first_and_filter(
    courier: RecordingCourier, statuses: Statuses
) -> None:
    # GIVEN seven messages to ada, one login code to bob and one refused message to carol,
    # each in its own batch (so each is a second newer than the one before)
    courier.server(faults=Faults(rcpt_replies={"carol@example.org": "550 5.1.1 gone"}))
    ids = [f"ada-{n}" for n in range(7)]
    for message_id in ids:
        courier.push(recovery(id=message_id))
        courier.run(courier.receive())
    login = {"template_type": "login_code_valid", "template_data": {"login_code": "123456"}}
    courier.push({**recovery("bob@example.org", id="bob-1"), **login})
    courier.push(recovery("carol@example.org", id="carol-1"))
    courier.run(courier.receive())

    # WHEN ada's messages are listed three at a time
    pages, token = [], None
    while True:
        extra: dict[str, Any] = {"page_token": token} if token else {}
        status, body = statuses.listing(recipient="ADA@example.org", limit=3, **extra)
        assert status == 200, body
        pages.append([message["id"] for message in body["messages"]])
        token = body["next_page_token"]
        if token is None:
            break

    # THEN they come 3 + 3 + 1, newest first, none twice
    assert pages == [ids[6:3:-1], ids[3:0:-1], ids[:1]]

    # and the filters narrow the listing, alone and combined
    def listed(**query: Any) -> list[str]:
        status, body = statuses.listing(**query)
        assert status == 200, body
        return [message["id"] for message in body["messages"]]

    delivered = listed(status="delivered", limit=3)
    assert len(delivered) == 3
    assert set(delivered) <= {*ids, "bob-1"}
    assert listed(status="dead_lettered") == ["carol-1"]
    assert listed(template_type="login_code_valid") == ["bob-1"]
    assert listed(recipient="bob@example.org", status="delivered") == ["bob-1"]
    assert listed(recipient="bob@example.org", status="dead_lettered") == []
    assert len(listed()) == 9
    # a filtered listing pages too: 8 delivered, 3 + 3 + 2
    counts, token = [], None
    while True:
        extra = {"page_token": token} if token else {}
        _, body = statuses.listing(status="delivered", limit=3, **extra)
        counts.append(len(body["messages"]))
        token = body["next_page_token"]
        if not token:
            break
    assert counts == [3, 3, 2]


BAD_QUERIES = {
    "limit 0": ({"limit": "0"}, "limit", "limit_invalid"),
    "limit 101": ({"limit": "101"}, "limit", "limit_invalid"),
    "limit abc": ({"limit": "abc"}, "limit", "limit_invalid"),
    "unknown status": ({"status": "sent"}, "status", "status_invalid"),
    "unknown template": (
        {"template_type": "password_changed"},
        "template_type",
        "template_type_invalid",
    ),
    "unknown parameter": ({"page_size": "3"}, "page_size", "parameter_unknown"),
    "made-up token": ({"page_token": "bm90IGEgdG9rZW4"}, "page_token", "page_token_invalid"),
    "not base64": ({"page_token": "%%%"}, "page_token", "page_token_invalid"),
}


@pytest.mark.parametrize(("query", "parameter", "code"), BAD_QUERIES.values(), ids=BAD_QUERIES)
def test_a_bad_parameter_is_a_400_naming_it(
    statuses: Statuses, query: dict[str, str], parameter: str, code: str
) -> None:
    # WHEN a listing is asked with a bad parameter
    status, body = statuses.listing(**query)

    # THEN it is a 400 that names the parameter
    assert status == 400
    assert body["error"]["parameter"] == parameter
    assert body["error"]["id"] == code
    assert body["error"]["message"].startswith(f"{parameter}: ")


def test_a_page_token_of_another_listing_is_refused(
    courier: RecordingCourier, statuses: Statuses
) -> None:
    # GIVEN a page token of the default project's listing by recipient
    courier.server()
    for n in range(2):
        courier.push(recovery(id=f"m-{n}"))
        courier.run(courier.receive())
    token = statuses.listing(recipient="ada@example.org", limit=1)[1]["next_page_token"]
    assert token

    # WHEN it is used for another project, another recipient or the unfiltered listing
    elsewhere = [
        statuses.api.list_messages(
            "acme", urlencode({"recipient": "ada@example.org", "page_token": token})
        ),
        statuses.listing(recipient="bob@example.org", page_token=token),
        statuses.listing(page_token=token),
    ]

    # THEN each is a 400 naming page_token; with its own listing it gives the next page
    assert [(status, body["error"]["parameter"]) for status, body in elsewhere] == [
        (400, "page_token")
    ] * 3
    _, body = statuses.listing(recipient="ada@example.org", limit=1, page_token=token)
    assert [m["id"] for m in body["messages"]] == ["m-0"]


def test_an_unknown_message_is_a_404(statuses: Statuses) -> None:
    assert statuses.api.get_message("default", "nobody")[0] == 404
    assert statuses.api.get_message("bad/project", "x")[0] == 400


def test_a_failing_status_table_loses_and_repeats_no_mail(
    courier: RecordingCourier, statuses: Statuses, courier_logs: io.StringIO
) -> None:
    # GIVEN a mixed batch, and a status table that does not exist
    server = courier.server(faults=Faults(rcpt_replies={"gone@example.org": "550 5.1.1 gone"}))
    courier.push(recovery(id="ok-1"), recovery("gone@example.org", id="gone-1"), "{broken")
    sender = courier.sender()
    sender.status_table = statuses.table("NoSuchTable")

    # WHEN the sender handles it, and SQS hands the batch over again
    event = courier.receive()
    first = courier.run(event, sender=sender)
    again = courier.run(with_receive_count(event, 2), sender=sender)

    # THEN one mail went out, two messages were dead-lettered once; the failure was logged
    assert first == again == {"batchItemFailures": []}
    assert len(server.messages) == 1
    assert len(courier.dead_letters()) == 2
    assert "could not read message status heads" in courier_logs.getvalue()


def test_a_failing_status_write_at_the_end_loses_no_mail(
    courier: RecordingCourier, statuses: Statuses, courier_logs: io.StringIO
) -> None:
    # GIVEN a status table whose reads and first write work and whose last write fails
    server = courier.server()
    client = boto3.client("dynamodb")
    stubber = Stubber(client)
    stubber.add_response("batch_get_item", {"Responses": {courier.stack.status_table: []}})
    stubber.add_response("batch_write_item", {"UnprocessedItems": {}})
    stubber.add_client_error("batch_write_item", "ProvisionedThroughputExceededException")
    stubber.activate()
    courier.push(recovery(id="ok-2"))
    sender = courier.sender()
    sender.status_table = statuses.table(client=client)

    # WHEN the message is delivered
    response = courier.run(courier.receive(), sender=sender)

    # THEN it was delivered and acknowledged; the lost items were logged and counted
    assert response == {"batchItemFailures": []}
    assert len(server.messages) == 1
    stubber.assert_no_pending_responses()
    assert "message status items were not written" in courier_logs.getvalue()
    assert metrics.metric_set["StatusWriteFailures"]["Value"] == [1.0]  # its head


def test_outcome_logs_name_the_template_type_and_only_a_masked_recipient(
    courier: RecordingCourier, courier_logs: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a server that echoes the address it refuses, and a retried and a delivered message
    courier.server(
        faults=Faults(
            rcpt_replies={
                "bob@example.org": "550 5.1.1 <bob@example.org>: Recipient address rejected",
                "carol@example.org": "450 4.2.1 <carol@example.org> busy",
            }
        )
    )
    courier.push(recovery(), recovery("bob@example.org"), recovery("carol@example.org"))

    # WHEN the batch is handled
    courier.run(courier.receive())

    # THEN each outcome line names the template type and the masked recipient, and no full
    # address appears anywhere in the sender's output
    output = courier_logs.getvalue() + capsys.readouterr().out
    lines = [json.loads(line) for line in output.splitlines() if line.startswith('{"level"')]
    outcomes = [line for line in lines if str(line["message"]).startswith("message ")]
    assert sorted((line["recipient"], line["template_type"]) for line in outcomes) == [
        ("a***@example.org", "recovery_code_valid"),
        ("b***@example.org", "recovery_code_valid"),
        ("c***@example.org", "recovery_code_valid"),
    ]
    for address in ("ada@example.org", "bob@example.org", "carol@example.org"):
        assert address not in output
    assert "<b***@example.org>: Recipient address rejected" in output


def test_the_deployed_handler_answers_the_status_routes(
    courier: RecordingCourier, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a delivered message, and the validator's handler with the template's environment
    courier.server()
    courier.push(recovery(id="reset-9"))
    courier.run(courier.receive())
    monkeypatch.setenv("COURIER_STATUS_TABLE", courier.stack.status_table)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "courier-config-validator")
    handler = load_app()

    # WHEN both GET routes are called as the HTTP API calls them
    listing = invoke(handler, "messages", "recipient=ada%40example.org&limit=5")
    one = invoke(handler, "messages/reset-9", "")
    missing = invoke(handler, "messages/nope", "")

    # THEN they answer JSON: the listing, the message with its dispatches, a 404
    assert listing[0] == 200
    assert [m["id"] for m in listing[1]["messages"]] == ["reset-9"]
    assert (one[0], one[1]["status"], len(one[1]["dispatches"])) == (200, "delivered", 1)
    assert (missing[0], missing[1]["error"]["id"]) == (404, "message_not_found")


def invoke(handler: Any, route: str, query: str) -> tuple[int, dict[str, Any]]:
    from local.lambda_context import LocalLambdaContext

    path = f"/projects/default/courier/{route}"
    template = "/projects/{project_id}/courier/messages" + ("/{message_id}" if "/" in route else "")
    event = {
        "version": "2.0",
        "routeKey": f"GET {template}",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {},
        "requestContext": {
            "accountId": "123456789012",
            "authorizer": {"iam": {"userArn": "arn:aws:iam::123456789012:user/ops"}},
            "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "1.2.3.4"},
            "requestId": "req-1",
            "routeKey": f"GET {template}",
            "stage": "$default",
        },
        "pathParameters": {"project_id": "default"},
        "isBase64Encoded": False,
    }
    response = handler.lambda_handler(event, LocalLambdaContext("ConfigValidatorFunction"))
    return response["statusCode"], json.loads(response["body"])
