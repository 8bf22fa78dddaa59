"""``python -m local messages`` and the demo's status check: records read through the routes' code
(the validator's ``MessageStatusApi``, in a child process), against moto's server on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import pytest

from courier.status import Dispatch, Head, Status, timestamp
from courier.status_table import StatusTable
from local import messages as messages_module
from local.aws import ACCOUNT_ID, EmbeddedAws
from local.demo_status import Wanted, read_statuses, status_lines
from local.messages import (
    MessagesError,
    MessagesQuery,
    find_message,
    list_messages,
    message_lines,
    message_table,
)
from local.sandbox import LOCAL_OVERRIDES
from local.stack import TEMPLATE, create_stack_resources
from local.status_reader import VALIDATOR, StatusReader
from local.template import FunctionSpec, resolve_function

GREYLISTED = "451 4.7.1 greylisted, try again later"


@dataclass(frozen=True)
class Stack:
    aws: EmbeddedAws
    validator: FunctionSpec
    table: StatusTable


@pytest.fixture(scope="module")
def module_stack() -> Iterator[tuple[EmbeddedAws, FunctionSpec]]:
    with EmbeddedAws() as aws:
        resources = create_stack_resources(sqs=aws.client("sqs"), dynamodb=aws.client("dynamodb"))
        validator = resolve_function(
            TEMPLATE,
            VALIDATOR,
            parameter_overrides=LOCAL_OVERRIDES,
            resource_values=resources.resource_values(region=aws.region, account_id=ACCOUNT_ID),
        )
        yield aws, validator


@pytest.fixture
def stack(module_stack: tuple[EmbeddedAws, FunctionSpec]) -> Stack:
    aws, validator = module_stack
    aws.reset()
    create_stack_resources(sqs=aws.client("sqs"), dynamodb=aws.client("dynamodb"))
    table = StatusTable(table_name="MessageStatusTable", client=aws.client("dynamodb"))
    return Stack(aws=aws, validator=validator, table=table)


def put_message(
    table: StatusTable,
    project: str,
    message_id: str,
    *,
    at: float,
    recipient: str | None = "ada@example.org",
    status: Status = Status.DELIVERED,
    dispatches: tuple[Dispatch, ...] = (),
) -> None:
    head = Head(
        project_id=project,
        id=message_id,
        template_type="login_code_valid" if recipient else None,
        recipient=recipient,
        status=status,
        send_count=len(dispatches),
        created_at=timestamp(at),
        updated_at=timestamp(at + 1),
        last_error_code=next((d.error_code for d in reversed(dispatches) if d.error_code), None),
        smtp_message_id=next((d.smtp_message_id for d in dispatches if d.smtp_message_id), None),
        dispatches=tuple(
            replace(dispatch, attempt=number) for number, dispatch in enumerate(dispatches, 1)
        ),
    )
    assert table.write([head.item(expires_at=2_000_000_000)]) == 0


def greylisted_then_delivered(at: float) -> tuple[Dispatch, ...]:
    return (
        Dispatch(
            created_at=timestamp(at),
            status="failed",
            step="RCPT",
            reply_code=451,
            reply="4.7.1 greylisted, try again later",
            error_code="smtp_rcpt",
            error_message=f"the server refused the recipient: {GREYLISTED}",
            smtp_message_id="<m1@smtps.courier.example>",
        ),
        Dispatch.succeeded(
            at=timestamp(at + 2),
            reply="2.0.0 Ok: queued as 4F2A1",
            smtp_message_id="<m2@smtps.courier.example>",
        ),
    )


def reader(stack: Stack) -> StatusReader:
    return StatusReader(stack.validator, extra_env=stack.aws.child_environment())


def test_the_listing_merges_every_project_newest_first(stack: Stack) -> None:
    # GIVEN messages in two projects, at different times
    put_message(stack.table, "smtps", "a", at=100)
    put_message(stack.table, "starttls", "b", at=300, status=Status.DEAD_LETTERED)
    put_message(stack.table, "smtps", "c", at=200, recipient="Bob@Example.org")

    # WHEN every project is listed, then two messages only, then one recipient's
    with reader(stack) as status_reader:
        everything, more = list_messages(status_reader, MessagesQuery())
        newest, more_than_two = list_messages(status_reader, MessagesQuery(limit=2))
        bobs, _ = list_messages(
            status_reader, MessagesQuery(project="smtps", recipient="bob@example.org")
        )

    # THEN the projects' listings come merged, newest first, cut at the limit
    assert [m["id"] for m in everything] == ["b", "c", "a"]
    assert not more
    assert [m["id"] for m in newest] == ["b", "c"]
    assert more_than_two
    # ... the filters are the route's (the recipient's case ignored)
    assert [m["id"] for m in bobs] == ["c"]
    # ... and the table has one row per message, under its header
    table = message_table(everything)
    assert table[0].split() == [
        "id", "project", "template", "type", "recipient", "status", "sends", "updated", "(UTC)"
    ]  # fmt: skip
    assert table[1].split() == [
        "b", "starttls", "login_code_valid", "ada@example.org", "dead_lettered", "0",
        "1970-01-01", "00:05:01",
    ]  # fmt: skip


def test_a_listing_follows_the_routes_pages_up_to_the_limit(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN five messages of one project, and pages of two
    for n in range(5):
        put_message(stack.table, "smtps", f"m{n}", at=100 + n)
    monkeypatch.setattr(messages_module, "PAGE", 2)

    # WHEN four are asked for, then all
    with reader(stack) as status_reader:
        four, more = list_messages(status_reader, MessagesQuery(project="smtps", limit=4))
        five, none_left = list_messages(status_reader, MessagesQuery(project="smtps", limit=9))

    # THEN the pages are followed with the route's page tokens
    assert [m["id"] for m in four] == ["m4", "m3", "m2", "m1"]
    assert more
    assert [m["id"] for m in five] == ["m4", "m3", "m2", "m1", "m0"]
    assert not none_left


def test_one_message_is_found_in_whichever_project_has_it(stack: Stack) -> None:
    # GIVEN a greylisted, then delivered message
    put_message(stack.table, "smtps", "grey", at=50, dispatches=greylisted_then_delivered(50))
    put_message(stack.table, "starttls", "other", at=60)

    # WHEN it is asked for without its project
    with reader(stack) as status_reader:
        [message] = find_message(status_reader, "grey", None)

    # THEN it comes with its dispatches, oldest first: time, status, step, reply, error code,
    # Message-ID and queue id, then the error's message
    lines = message_lines(message)
    assert lines[:6] == [
        "message     grey",
        "project     smtps",
        "template    login_code_valid",
        "recipient   ada@example.org",
        "status      delivered",
        "sends       2",
    ]
    assert "last error  smtp_rcpt" in lines
    rows = [line.split("  ") for line in lines if line[:2] in ("1 ", "2 ")]
    cells = [[cell.strip() for cell in row if cell.strip()] for row in rows]
    assert cells == [
        [
            "1", "1970-01-01 00:00:50.000", "failed", "RCPT", GREYLISTED, "smtp_rcpt",
            "<m1@smtps.courier.example>", "-",
        ],
        [
            "2", "1970-01-01 00:00:52.000", "success", "DATA", "250 2.0.0 Ok: queued as 4F2A1",
            "-", "<m2@smtps.courier.example>", "4F2A1",
        ],
    ]  # fmt: skip
    assert lines[-1] == f"  1: smtp_rcpt: the server refused the recipient: {GREYLISTED}"


def test_an_unknown_id_or_a_refused_filter_is_an_error(stack: Stack) -> None:
    put_message(stack.table, "smtps", "a", at=100)
    with reader(stack) as status_reader:
        # WHEN an id no project has is asked for, in every project and in one
        with pytest.raises(MessagesError, match=r"^no message nope in any project \(smtps\)$"):
            find_message(status_reader, "nope", None)
        with pytest.raises(MessagesError, match=r"^no message a in project starttls$"):
            find_message(status_reader, "a", "starttls")
        # ... or a status the route does not know
        with pytest.raises(MessagesError, match=r"^400 status_invalid: status: 'sent' is not"):
            list_messages(status_reader, MessagesQuery(status="sent"))


def test_the_demo_check_says_which_record_does_not_match(stack: Stack) -> None:
    # GIVEN a greylisted message delivered after 2 dispatches, one delivered at once that the
    # demo documents with 2 tries, and one with no record
    put_message(stack.table, "smtps", "grey", at=50, dispatches=greylisted_then_delivered(50))
    put_message(stack.table, "smtps", "once", at=60, dispatches=greylisted_then_delivered(60)[1:])
    wanted = [
        Wanted(8, "smtps", "grey", "delivered", 2),
        Wanted(4, "smtps", "once", "delivered", 2),
        Wanted(9, "default", "gone", "dead-lettered", 1),
    ]

    # WHEN the demo reads them
    checks = read_statuses(stack.validator, stack.aws.child_environment(), wanted)

    # THEN only the first matches, and the lines say what the others should have been
    assert [check.matches for check in checks] == [True, False, False]
    lines = status_lines(checks)
    assert lines[1].split() == [
        "#",
        "recipient",
        "template",
        "type",
        "status",
        "sends",
        "last",
        "error",
    ]
    assert lines[2].split() == [
        "8",
        "ada@example.org",
        "login_code_valid",
        "delivered",
        "2",
        "smtp_rcpt",
    ]
    assert lines[3].endswith(
        "<- documented: delivered after 2 dispatch(es), the record has 1 dispatch(es)"
    )
    assert lines[4].endswith(
        "<- 404 message_not_found: project default has no such message; "
        "documented: dead_lettered after 1 dispatch(es)"
    )


def test_the_query_string_is_the_routes() -> None:
    query = MessagesQuery(recipient="ada+x@example.org", status="delivered")
    assert query.query_string(limit=3, page_token="abc") == (
        "recipient=ada%2Bx%40example.org&status=delivered&limit=3&page_token=abc"
    )
