"""Message status records (docs/design.md §9): their shape, the masking of recipients in logs,
page tokens, queue ids, the sender's batching of writes, and the table in template.yaml."""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

import pytest

from courier.observability import mask_recipient, masked
from courier.outcomes import Cause
from courier.status import Dispatch, Head, MessageRef, Status, from_item, head_of, timestamp
from courier.status_api import decode_page_token, encode_page_token
from courier.status_table import BATCH_WRITE_ITEMS, TRIES, StatusBatch, StatusTable
from courier.transport import queue_id
from local.stack import load_template

HEAD = Head(
    project_id="acme",
    id="reset-42",
    template_type="recovery_code_valid",
    recipient="Ada@example.org",
    status=Status.DELIVERED,
    send_count=2,
    created_at=timestamp(10),
    updated_at=timestamp(20),
    last_error_code="smtp_rcpt",
    smtp_message_id="<courier.1@acme.example>",
)


def test_a_head_item_has_the_contracts_fields_and_no_others() -> None:
    # WHEN a head is stored THEN its item has exactly the fields of the contract
    assert HEAD.item(expires_at=99) == {
        "pk": "acme#reset-42",
        "sk": "message",
        "project_id": "acme",
        "project_recipient": "acme#ada@example.org",
        "id": "reset-42",
        "template_type": "recovery_code_valid",
        "recipient": "Ada@example.org",
        "status": "delivered",
        "send_count": 2,
        "created_at": "1970-01-01T00:00:10.000000Z",
        "updated_at": "1970-01-01T00:00:20.000000Z",
        "last_error_code": "smtp_rcpt",
        "smtp_message_id": "<courier.1@acme.example>",
        "dispatches": [],
        "expires_at": 99,
    }


def test_a_message_without_a_recipient_stays_out_of_the_recipient_index() -> None:
    item = Head(**{**HEAD.__dict__, "recipient": None}).item(expires_at=1)
    assert "project_recipient" not in item
    assert item["recipient"] is None


def test_a_failed_dispatch_keeps_the_reply_bounded_and_without_its_code() -> None:
    # GIVEN a refusal with a very long reply
    cause = Cause(
        kind="smtp",
        code="smtp_rcpt",
        message="x" * 5000,
        step="RCPT",
        smtp_code=550,
        smtp_reply="550 " + "5.1.1 gone " * 100,
    )

    # WHEN it becomes attempt 3 in a head
    dispatch = Dispatch.failed(at=timestamp(0), cause=cause, smtp_message_id=None)
    head = replace(HEAD, dispatches=(replace(dispatch, attempt=3),))
    [item] = head.item(expires_at=7)["dispatches"]

    # THEN it has the contract's fields, the reply without its code, both texts bounded
    assert set(item) == {
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
    }
    assert (item["attempt"], item["status"], item["reply_code"]) == (3, "failed", 550)
    assert item["reply"].startswith("5.1.1 gone")
    assert len(item["reply"]) == 512
    assert len(item["error_message"]) == 1024


def test_a_successful_dispatch_has_the_queue_id_of_its_reply() -> None:
    dispatch = Dispatch.succeeded(at="t", reply="2.0.0 Ok: queued as ABC123", smtp_message_id="m")
    assert (dispatch.status, dispatch.reply_code, dispatch.queue_id) == ("success", 250, "ABC123")


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("2.0.0 Ok: queued as ABC123", "ABC123"),
        ("250 2.0.0 Ok: queued as ABC123", "ABC123"),
        ("OK id=1abc", "1abc"),
        ("OK id=1rX2bC-000Abc-0d", "1rX2bC-000Abc-0d"),
        ("Ok 0100018c1b2a3d4e-5f6a7b8c-0000-000000", "0100018c1b2a3d4e-5f6a7b8c-0000-000000"),
        ("2.0.0 OK: queued", None),
        ("OK", None),
        ("", None),
        (None, None),
    ],
)
def test_queue_ids_are_read_leniently(reply: str | None, expected: str | None) -> None:
    assert queue_id(reply) == expected


@pytest.mark.parametrize(
    ("address", "shown"),
    [
        ("ada@example.org", "a***@example.org"),
        ("Ada.Lovelace+x@mail.example.org", "A***@mail.example.org"),
        ("a@b", "a***@b"),
        ("weird@local@example.org", "w***@example.org"),
        ("no-at-sign", "n***"),
        ("", "***"),
        (None, None),
    ],
)
def test_a_recipient_is_masked_to_its_first_character_and_domain(
    address: str | None, shown: str | None
) -> None:
    assert mask_recipient(address) == shown


def test_masking_a_text_hides_every_occurrence_of_the_address() -> None:
    text = "550 <ADA@example.org> rejected; ada@example.org unknown"
    assert masked(text, "ada@example.org") == (
        "550 <a***@example.org> rejected; a***@example.org unknown"
    )
    assert masked(text, None) == text


KEY = {"pk": "acme#m-1", "sk": "message", "project_id": "acme", "created_at": timestamp(5)}


def test_a_page_token_round_trips_and_is_opaque() -> None:
    token = encode_page_token(KEY)
    assert "acme" not in token
    assert "=" not in token
    assert decode_page_token(token, index="by_project", partition="acme") == KEY
    assert decode_page_token(None, index="by_project", partition="acme") is None


@pytest.mark.parametrize(
    ("key", "index", "partition"),
    [
        (KEY, "by_project", "other"),  # another project
        (KEY, "by_recipient", "acme#ada@example.org"),  # another listing
        ({**KEY, "sk": "attempt#0001"}, "by_project", "acme"),
        ({**KEY, "created_at": 5}, "by_project", "acme"),
        ({**KEY, "extra": "x"}, "by_project", "acme"),
        (["not", "a", "key"], "by_project", "acme"),
    ],
)
def test_a_page_token_of_another_listing_or_shape_is_refused(
    key: Any, index: str, partition: str
) -> None:
    with pytest.raises(ValueError, match=r"^page_token: ") as raised:
        decode_page_token(encode_page_token(key), index=index, partition=partition)
    assert getattr(raised.value, "parameter", None) == "page_token"


@pytest.mark.parametrize("token", ["", "!!!", "bm90IGpzb24", "e30"])
def test_a_made_up_page_token_is_refused(token: str) -> None:
    with pytest.raises(ValueError, match=r"^page_token: "):
        decode_page_token(token, index="by_project", partition="acme")


# The sender's batching, on a client that records its calls.


class FakeClient:
    """A DynamoDB client that keeps the items put, holding back ``unprocessed`` items once per
    call for ``stubborn`` calls."""

    def __init__(self, *, heads: list[dict[str, Any]] | None = None, stubborn: int = 0) -> None:
        self.writes: list[int] = []
        self.reads = 0
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.heads = heads or []
        self.stubborn = stubborn
        self.fail_reads = False

    def batch_get_item(self, **arguments: Any) -> dict[str, Any]:
        self.reads += 1
        if self.fail_reads:
            raise RuntimeError("no table")
        return {"Responses": {"T": self.heads}}

    def batch_write_item(self, **arguments: Any) -> dict[str, Any]:
        requests = arguments["RequestItems"]["T"]
        assert len(requests) <= BATCH_WRITE_ITEMS
        self.writes.append(len(requests))
        held = requests[:1] if self.stubborn else []
        self.stubborn = max(self.stubborn - 1, 0)
        for request in requests[len(held) :]:
            item = request["PutRequest"]["Item"]
            self.items[(item["pk"]["S"], item["sk"]["S"])] = item
        return {"UnprocessedItems": {"T": held} if held else {}}


def refs(count: int) -> list[MessageRef]:
    return [
        MessageRef(
            project_id="acme",
            message_id=f"m-{n}",
            template_type="login_code_valid",
            recipient=f"u{n}@example.org",
        )
        for n in range(count)
    ]


def table(client: FakeClient) -> StatusTable:
    clock = itertools.count(1000)
    return StatusTable(table_name="T", client=client, clock=lambda: float(next(clock)))  # type: ignore[arg-type]


def stored(client: FakeClient, message_id: str) -> Head:
    return head_of(from_item(client.items[(f"acme#{message_id}", "message")]))


def deliver_all(client: FakeClient, messages: list[MessageRef]) -> None:
    """One invocation that begins ``messages``, delivers each and flushes."""
    batch = StatusBatch(table(client))
    batch.begin(messages)
    for ref in messages:
        batch.delivered(ref, reply="OK", smtp_message_id=None)
    batch.flush()


def test_a_batch_is_one_write_at_its_start_and_one_at_its_end_per_25_heads() -> None:
    # GIVEN 20 messages of one invocation
    client = FakeClient()
    messages = refs(20)

    # WHEN they are begun, delivered and flushed
    deliver_all(client, messages)

    # THEN: 20 processing heads in one call, then the 20 heads, each with its attempt, in one
    assert client.writes == [20, 20]
    assert set(client.items) == {("acme#" + ref.message_id, "message") for ref in messages}
    head = stored(client, "m-7")
    assert (head.status, head.send_count) == (Status.DELIVERED, 1)
    assert [(d.attempt, d.status) for d in head.dispatches] == [(1, "success")]


def test_a_batch_of_100_makes_9_status_calls() -> None:
    # GIVEN an invocation of 100 messages
    client = FakeClient()

    # WHEN they are begun, delivered and flushed
    deliver_all(client, refs(100))

    # THEN one BatchGetItem, 4 BatchWriteItems of processing heads and 4 of the outcomes
    assert (client.reads, client.writes) == (1, [25] * 8)


def test_a_head_keeps_the_last_50_dispatches_numbered_on() -> None:
    # GIVEN a message that failed in 60 invocations, each reading the head the last one wrote
    client = FakeClient()
    [ref] = refs(1)
    cause = Cause(kind="smtp", code="smtp_timeout", message="slow", step="DATA")
    for _ in range(60):
        batch = StatusBatch(table(client))
        batch.begin([ref])
        batch.failed(ref, Status.RETRYING, cause, smtp_message_id="<x>")
        batch.flush()
        client.heads = [client.items[(ref.pk, "message")]]
    created = stored(client, "m-0").created_at

    # WHEN one more delivers it
    deliver_all(client, [ref])

    # THEN the head counts 61 sends and keeps attempts 12 to 61, oldest first
    head = stored(client, "m-0")
    assert (head.status, head.send_count, head.created_at) == (Status.DELIVERED, 61, created)
    assert len(head.dispatches) == 50
    assert [d.attempt for d in head.dispatches] == list(range(12, 62))
    assert [d.status for d in head.dispatches[-2:]] == ["failed", "success"]
    assert [d.created_at for d in head.dispatches] == sorted(d.created_at for d in head.dispatches)


def test_unprocessed_items_are_written_again_and_the_rest_counted_lost() -> None:
    # GIVEN a table that holds back one item on each of the first calls
    client = FakeClient(stubborn=TRIES + 1)
    batch = StatusBatch(table(client))
    [ref] = refs(1)

    # WHEN one message is begun (TRIES calls, each holding one back: the head is lost)
    batch.begin([ref])

    # THEN the head was tried TRIES times and not written; nothing was raised
    assert client.writes == [1] * TRIES
    assert client.items == {}


def test_attempts_continue_the_record_and_a_duplicate_restores_the_head() -> None:
    # GIVEN a message dead-lettered before with two attempts, and one delivered before
    earlier = tuple(
        Dispatch(created_at=timestamp(n), status="failed", attempt=n, error_code="smtp_rcpt")
        for n in (1, 2)
    )
    previous = Head(
        **{**HEAD.__dict__, "id": "m-0", "status": Status.DEAD_LETTERED, "dispatches": earlier}
    )
    delivered = Head(**{**HEAD.__dict__, "id": "m-1", "status": Status.DELIVERED})
    serialized = [
        {k: _typed(v) for k, v in head.item(expires_at=1).items()} for head in (previous, delivered)
    ]
    client = FakeClient(heads=serialized)
    batch = StatusBatch(table(client))
    first, second = refs(2)

    # WHEN the first is redriven and retried, and the second comes again as a duplicate
    batch.begin([first, second])
    cause = Cause(kind="smtp", code="smtp_timeout", message="slow", step="DATA")
    batch.failed(first, Status.RETRYING, cause, smtp_message_id="<x>")
    batch.unchanged(second, otherwise=Status.DELIVERED)
    batch.flush()

    # THEN the first has attempt 3 and keeps its created_at; the second is delivered again
    head = stored(client, "m-0")
    assert (head.status, head.send_count, head.created_at) == (Status.RETRYING, 3, HEAD.created_at)
    assert [(d.attempt, d.status, d.error_code) for d in head.dispatches] == [
        (1, "failed", "smtp_rcpt"),
        (2, "failed", "smtp_rcpt"),
        (3, "failed", "smtp_timeout"),
    ]
    again = stored(client, "m-1")
    assert (again.status, again.send_count, again.dispatches) == (Status.DELIVERED, 2, ())


def test_heads_that_cannot_be_read_are_not_recorded_at_all() -> None:
    # GIVEN a table that cannot be read
    client = FakeClient()
    client.fail_reads = True
    batch = StatusBatch(table(client))
    [ref] = refs(1)

    # WHEN the batch begins and ends
    batch.begin([ref])
    batch.delivered(ref, reply="OK", smtp_message_id=None)
    batch.flush()

    # THEN nothing was written over a history it could not see
    assert client.writes == []


def _typed(value: Any) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeSerializer

    return dict(TypeSerializer().serialize(value))


# The table in template.yaml.


def test_the_status_table_is_keyed_indexed_and_expires_as_the_contract_says() -> None:
    resources = load_template()["Resources"]
    table = resources["MessageStatusTable"]["Properties"]

    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert {
        index["IndexName"]: [key["AttributeName"] for key in index["KeySchema"]]
        for index in table["GlobalSecondaryIndexes"]
    } == {
        "by_project": ["project_id", "created_at"],
        "by_recipient": ["project_recipient", "created_at"],
    }
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert resources["SenderFunction"]["Properties"]["Environment"]["Variables"][
        "COURIER_STATUS_RETENTION_DAYS"
    ] == {"Ref": "StatusRetentionDays"}


def _statements(resources: dict[str, Any], function: str) -> list[dict[str, Any]]:
    policies = resources[function]["Properties"]["Policies"]
    return [s for p in policies if "Statement" in p for s in p["Statement"]]


def test_the_sender_writes_and_the_validator_only_queries_the_status_table() -> None:
    resources = load_template()["Resources"]
    arn = {"Fn::GetAtt": ["MessageStatusTable", "Arn"]}

    [sender] = [
        s for s in _statements(resources, "SenderFunction") if s["Sid"] == "RecordMessageStatus"
    ]
    assert sorted(sender["Action"]) == ["dynamodb:BatchGetItem", "dynamodb:BatchWriteItem"]
    assert sender["Resource"] == arn
    on_table = [
        s
        for s in _statements(resources, "ConfigValidatorFunction")
        if any(
            "dynamodb:" in a
            for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
        )
    ]
    assert [(s["Sid"], s["Action"]) for s in on_table] == [
        ("ReadMessageStatus", ["dynamodb:Query"])
    ]
    assert on_table[0]["Resource"] == [arn, {"Fn::Sub": "${MessageStatusTable.Arn}/index/*"}]
