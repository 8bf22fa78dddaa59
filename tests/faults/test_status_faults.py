"""A failing status table costs the status record, never the mail (docs/design.md §9).

Each call the sender makes to the status table fails in turn (its reads, its writes at the
start of a batch, at the end, or all of them); the batch, handed over twice by SQS, must still
deliver each mail once, dead-letter the refused one once and hand nothing back.
"""

from __future__ import annotations

import io
from typing import Any

import pytest

from courier.status_table import StatusTable
from tests.faults.harness import FaultBench, recovery
from tests.faults.scripted_smtpd import Action, Event, Reply
from tests.queues import with_receive_count


def refuse_bob(event: Event) -> Action | None:
    if event.point == "RCPT" and "bob@" in event.argument:
        return Reply("550 5.1.1 no such user")
    return None


FAULTS: dict[str, tuple[str, dict[str, Any]]] = {
    "reads fail": ("BatchGetItem", {}),
    "every write fails": ("BatchWriteItem", {}),
    "the start's write fails": ("BatchWriteItem", {"times": 1}),
    "the end's write fails": (
        "BatchWriteItem",
        {"when": lambda params: "'processing'" not in str(params)},  # the outcomes
    ),
    "throttled": ("BatchWriteItem", {"code": "ProvisionedThroughputExceededException"}),
}


@pytest.mark.parametrize(("operation", "fault"), FAULTS.values(), ids=FAULTS)
def test_a_failing_status_table_loses_and_repeats_no_mail(
    bench: FaultBench, courier_logs: io.StringIO, operation: str, fault: dict[str, Any]
) -> None:
    # GIVEN two deliverable messages and a refused one, and a status table that fails
    server = bench.server(script=refuse_bob)
    bench.push(recovery(id="a-1"), recovery("bob@example.org", id="b-1"), recovery(id="a-2"))
    event = bench.receive()
    sender = bench.sender()
    sender.status_table = StatusTable(
        table_name=bench.stack.status_table, client=bench.dynamodb, clock=lambda: 1.0e9
    )
    failed = bench.fail(bench.dynamodb, operation, **fault)

    # WHEN the batch is handled, and SQS hands all of it over again
    first = bench.run(event, sender=sender)
    again = bench.run(with_receive_count(event, 2), sender=sender)

    # THEN two mails went out once, the refused one is dead-lettered once, nothing handed back,
    # and the lost status was logged
    assert failed, "the fault was never injected"
    assert first.failed_ids == again.failed_ids == []
    assert sorted(mail.rcpt_tos for mail in server.mailbox) == [
        ("ada@example.org",),
        ("ada@example.org",),
    ]
    assert len(bench.dead_letters()) == 1
    assert "message status" in courier_logs.getvalue()
