"""Every failure path of the sender, against scripted hostile servers and failing AWS calls.

Each test asserts where every message of the batch ended (the server's mailbox, the partial
batch response and its backoff, the DLQ's body and attributes) and that the handler returned
before the Lambda context's deadline.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import NoRegionError

from courier.config_provider import SsmConfigProvider
from courier.once import DeliverOnce
from courier.sender import Sender
from local.smtp_records import free_port
from tests.faults.conftest import OutcomeLog
from tests.faults.harness import PASSWORD, FaultBench, recovery
from tests.faults.scripted_smtpd import Action, Drip, Drop, Event, Hang, Reply, Script
from tests.queues import attributes, with_receive_count

LAST_ATTEMPT = 6  # message_retries (5) + 1


def at(point: str, action: Action, *, session: int | None = None) -> Script:
    """A script that answers ``point`` with ``action`` (in every session, or one)."""

    def script(event: Event) -> Action | None:
        if event.point == point and session in (None, event.session):
            return action
        return None

    return script


@dataclass(frozen=True)
class SessionFault:
    script: Script | None
    code: str
    step: str
    reply: str | None = None
    text: str = ""
    dead_letter_at_once: bool = False
    kept: int = 0


SESSION_FAULTS: dict[str, SessionFault] = {
    "no greeting": SessionFault(
        at("greeting", Hang()), "smtp_timeout", "connect", text="sent no greeting"
    ),
    "dripped greeting": SessionFault(
        at("greeting", Drip("220 " + "x" * 200, 0.05)), "smtp_timeout", "connect", text="within 2s"
    ),
    "421 greeting": SessionFault(
        at("greeting", Reply("421 4.3.2 busy")), "smtp_connect", "connect", "421 4.3.2 busy"
    ),
    "554 greeting": SessionFault(
        at("greeting", Reply("554 5.7.1 no service for you")),
        "smtp_connect",
        "connect",
        "554 5.7.1 no service for you",
    ),
    "garbage greeting": SessionFault(
        at("greeting", Reply("HTTP/1.1 400 Bad Request")),
        "smtp_protocol",
        "connect",
        text="not an SMTP reply",
    ),
    "STARTTLS injection": SessionFault(
        at("STARTTLS", Reply("220 2.0.0 Ready\r\n250 injected before the handshake")),
        "smtp_tls",
        "TLS",
        text="a plaintext injection",
    ),
    "an endless EHLO reply": SessionFault(
        at("EHLO", Reply("\r\n".join(["250-padding"] * 150 + ["250 OK"]))),
        "smtp_protocol",
        "EHLO",
        text="more than 100 lines",
    ),
    "421 mid-session": SessionFault(
        at("MAIL", Reply("421 4.4.2 closing")), "smtp_mail", "MAIL", "421 4.4.2 closing"
    ),
    "451 to RCPT": SessionFault(
        at("RCPT", Reply("451 4.7.1 greylisted")), "smtp_rcpt", "RCPT", "451 4.7.1 greylisted"
    ),
    "550 to RCPT": SessionFault(
        at("RCPT", Reply("550 5.1.1 no such user")),
        "smtp_rcpt",
        "RCPT",
        "550 5.1.1 no such user",
        dead_letter_at_once=True,
    ),
    "554 after the final dot": SessionFault(
        at("dot", Reply("554 5.6.0 rejected")),
        "smtp_data",
        "DATA",
        "554 5.6.0 rejected",
        dead_letter_at_once=True,
    ),
    "drop after the final dot, mail kept": SessionFault(
        at("dot", Drop(keep=True)), "smtp_outcome_unknown", "DATA", kept=1
    ),
    "drop after the final dot, mail lost": SessionFault(
        at("dot", Drop(keep=False)), "smtp_outcome_unknown", "DATA"
    ),
    "no answer after the final dot": SessionFault(
        at("dot", Hang()), "smtp_outcome_unknown", "DATA"
    ),
}


@pytest.mark.parametrize("fault", SESSION_FAULTS.values(), ids=SESSION_FAULTS)
def test_a_session_fault_ends_in_its_documented_place(
    bench: FaultBench, fault: SessionFault
) -> None:
    # GIVEN a server that misbehaves in one way
    server = bench.server(script=fault.script)
    bench.push(recovery())
    event = bench.receive()

    # WHEN the first attempt is handled
    first = bench.run(event, timeout=20)

    # THEN it returned in time, and the message is dead-lettered at once or handed back
    assert first.remaining_seconds > 0
    if fault.dead_letter_at_once:
        assert first.failed_ids == []
        [dead] = bench.dead_letters()
        assert attributes(dead)["courier.reason"] == "permanent"
    else:
        assert first.failed_ids == [event["Records"][0]["messageId"]]
        assert [change["VisibilityTimeout"] for change in bench.visibility_changes] == [30]
        assert bench.dead_letters() == []
        # AND WHEN the last attempt fails alike, it is dead-lettered with the cause
        last = bench.run(with_receive_count(event, LAST_ATTEMPT), timeout=20)
        assert last.failed_ids == []
        assert last.remaining_seconds > 0
        [dead] = bench.dead_letters()
        assert attributes(dead)["courier.reason"] == "attempts-exhausted"
    cause = attributes(dead)
    assert (cause["courier.error_code"], cause["courier.smtp_step"]) == (fault.code, fault.step)
    assert cause.get("courier.smtp_reply") == fault.reply
    assert fault.text in cause["courier.error_message"]
    assert PASSWORD not in str(cause)
    maybe = fault.code == "smtp_outcome_unknown"
    assert cause.get("courier.maybe_delivered") == ("true" if maybe else None)
    attempts = 1 if fault.dead_letter_at_once else 2
    assert len(server.mailbox) == fault.kept * attempts


def test_a_refused_connection_is_retried(bench: FaultBench) -> None:
    # GIVEN a default sender on a port nobody listens on
    bench.use_uri("default", f"smtp://user:{PASSWORD}@127.0.0.1:{free_port()}/")
    bench.push(recovery())
    event = bench.receive()

    # WHEN the first and the last attempt are handled
    first = bench.run(event)
    last = bench.run(with_receive_count(event, LAST_ATTEMPT))

    # THEN it was retried, then dead-lettered as a connect failure without a reply
    assert len(first.failed_ids) == 1
    [dead] = bench.dead_letters()
    cause = attributes(dead)
    assert (cause["courier.error_code"], cause["courier.smtp_step"]) == ("smtp_connect", "connect")
    assert "Connection" in cause["courier.error_message"]
    assert "courier.smtp_reply" not in cause
    assert first.remaining_seconds > 0
    assert last.remaining_seconds > 0


def test_a_dripping_server_cannot_hold_the_invocation_past_its_deadline(
    bench: FaultBench, outcomes: OutcomeLog
) -> None:
    # GIVEN a server that drips every reply a byte every 0.1 s (2.1 s a reply: each reply, and
    # each byte, inside SmtpTimeoutSeconds = 3 s), and a healthy server for another project
    slow = bench.server("slow", script=lambda event: Drip(_normal_reply(event), 0.1))
    healthy = bench.server("healthy")
    bench.push(recovery(project_id="slow"), recovery(project_id="healthy"))
    event = bench.receive()

    # WHEN a batch starts with 7 s left: its sessions must end by 4 s, 3 s before the end
    run = bench.run(event, sender=bench.sender(smtp_timeout=3), timeout=7)

    # THEN the handler returned with the reserve still ahead; the slow message went back with
    # cause smtp_timeout (its deadline), and the other, sent side by side, arrived
    assert run.remaining_seconds > 1.5
    slow_id = next(r["messageId"] for r in event["Records"] if '"slow"' in r["body"])
    assert run.failed_ids == [slow_id]
    assert outcomes.codes("retried") == ["smtp_timeout"]
    assert "before the message's deadline" in outcomes.text()
    assert slow.mailbox == []
    assert len(healthy.mailbox) == 1
    assert [change["VisibilityTimeout"] for change in bench.visibility_changes] == [30]


def _normal_reply(event: Event) -> str:
    """What a healthy server says at each point (for a script that only slows it down)."""
    return {
        "greeting": "220 slow.example ESMTP",
        "EHLO": "250-slow\r\n250 STARTTLS",
        "STARTTLS": "220 go ahead",
    }.get(event.point, "250 OK")


def test_per_recipient_refusals_in_one_batch(bench: FaultBench) -> None:
    # GIVEN a server that greylists one recipient and does not know another
    refusals = {"busy@example.org": "451 4.7.1 greylisted", "gone@example.org": "550 5.1.1 gone"}

    def script(event: Event) -> Action | None:
        address = event.argument.removeprefix("TO:<").removesuffix(">")
        if event.point == "RCPT" and address in refusals:
            return Reply(refusals[address])
        return None

    server = bench.server(script=script)
    bench.push(
        recovery("one@example.org"),
        recovery("busy@example.org"),
        recovery("gone@example.org"),
        recovery("two@example.org"),
    )
    event = bench.receive()
    busy = next(r["messageId"] for r in event["Records"] if "busy@" in r["body"])

    # WHEN the batch is handled
    run = bench.run(event)

    # THEN two arrived over one session, the 451 is retried and the 550 dead-lettered
    assert [d.rcpt_tos for d in server.mailbox] == [("one@example.org",), ("two@example.org",)]
    assert len({d.session for d in server.mailbox}) == 1
    assert run.failed_ids == [busy]
    [dead] = bench.dead_letters()
    assert attributes(dead)["courier.smtp_reply"] == "550 5.1.1 gone"
    assert run.remaining_seconds > 0


def test_a_session_dropped_before_a_mail_is_sent_again_once_in_the_same_batch(
    bench: FaultBench,
) -> None:
    # GIVEN a server that hangs up on the first session's MAIL (a fresh session, nothing sent)
    server = bench.server(script=at("MAIL", Drop(keep=False), session=0))
    bench.push(recovery(id="reset-43"))

    # WHEN the batch is handled
    run = bench.run(bench.receive())

    # THEN the mail went out over a second session at once, not after an SQS retry
    assert run.failed_ids == []
    assert [d.session for d in server.mailbox] == [1]


def test_a_mail_whose_sessions_are_dropped_twice_before_its_dot_is_retried_later(
    bench: FaultBench, outcomes: OutcomeLog
) -> None:
    # GIVEN a server that hangs up on every MAIL
    server = bench.server(script=at("MAIL", Drop(keep=False)))
    bench.push(recovery(id="reset-44"))
    event = bench.receive()

    # WHEN the batch is handled
    run = bench.run(event)

    # THEN it was tried on two sessions, then handed back as a lost connection
    assert run.failed_ids == [r["messageId"] for r in event["Records"]]
    assert server.mailbox == []
    assert server.connections == 2
    assert outcomes.codes("retried") == ["smtp_disconnected"]


def test_a_kept_mail_is_retried_with_the_same_message_id(bench: FaultBench) -> None:
    # GIVEN a server that keeps the first attempt's mail but hangs up before its reply
    server = bench.server(script=at("dot", Drop(keep=True), session=0))
    bench.push(recovery(id="reset-42"))
    event = bench.receive()

    # WHEN the first attempt and then the retry are handled
    first = bench.run(event)
    second = bench.run(with_receive_count(event, 2))

    # THEN the mail arrived twice, as the same message: a receiving system sees the repeat
    assert len(first.failed_ids) == 1
    assert second.failed_ids == []
    assert bench.dead_letters() == []
    ids = [delivery.message_id for delivery in server.mailbox]
    assert len(ids) == 2
    assert ids[0] == ids[1]
    assert ids[0] is not None
    assert ids[0].startswith("<courier.")


def test_a_later_cause_still_says_an_earlier_attempt_may_have_delivered(bench: FaultBench) -> None:
    # GIVEN a server that keeps the mail but hangs up (session 0), then refuses it (550)
    def script(event: Event) -> Action | None:
        if event.point == "dot" and event.session == 0:
            return Drop(keep=True)
        if event.point == "RCPT" and event.session > 0:
            return Reply("550 5.7.1 policy")
        return None

    server = bench.server(script=script)
    bench.push(recovery())
    event = bench.receive()

    # WHEN the first attempt and then the second are handled
    bench.run(event)
    bench.run(with_receive_count(event, 2))

    # THEN the 550 dead-letters it at once, and the DLQ says it may have been delivered
    [dead] = bench.dead_letters()
    cause = attributes(dead)
    assert (cause["courier.error_code"], cause["courier.maybe_delivered"]) == ("smtp_rcpt", "true")
    assert len(server.mailbox) == 1


def test_a_session_dropped_between_messages_is_reopened(bench: FaultBench) -> None:
    # GIVEN a server that closes the first session when the second message's MAIL comes
    mails: Counter[int] = Counter()
    lock = threading.Lock()

    def script(event: Event) -> Action | None:
        if event.point != "MAIL":
            return None
        with lock:
            mails[event.session] += 1
            second = event.session == 0 and mails[0] == 2
        return Drop() if second else None

    server = bench.server(script=script)
    bench.push(recovery("one@example.org"), recovery("two@example.org"))

    # WHEN the batch is handled
    run = bench.run(bench.receive())

    # THEN both arrived, the second over a new session
    assert run.failed_ids == []
    assert [(d.rcpt_tos, d.session) for d in server.mailbox] == [
        (("one@example.org",), 0),
        (("two@example.org",), 1),
    ]


def test_a_reused_session_closed_with_421_is_reopened(bench: FaultBench) -> None:
    # GIVEN a server that ends an idle session with 421 when the next MAIL comes
    seen: list[int] = []

    def script(event: Event) -> Action | None:
        if event.point == "MAIL":
            seen.append(event.session)
            if event.session == 0 and seen.count(0) == 2:
                return Reply("421 4.4.2 idle too long")
        return None

    server = bench.server(script=script)
    bench.push(recovery("one@example.org"), recovery("two@example.org"))

    # WHEN the batch is handled
    run = bench.run(bench.receive())

    # THEN both arrived
    assert run.failed_ids == []
    assert len(server.mailbox) == 2


# DynamoDB, SSM and SQS failing.


def _powertools_item(params: dict[str, Any]) -> bool:
    key = params.get("Item", params.get("Key", {})).get("id", {}).get("S", "")
    return not str(key).startswith("courier#")


@dataclass(frozen=True)
class AwsFault:
    client: str
    operation: str
    error: str
    code: str
    when: Callable[[dict[str, Any]], bool] = lambda params: True


AWS_FAULTS_BEFORE_THE_SEND = {
    "SSM throttled": AwsFault("ssm", "GetParameters", "ThrottlingException", "config_unavailable"),
    "in-progress record not written": AwsFault(
        "dynamodb", "PutItem", "InternalServerError", "idempotency_unavailable", _powertools_item
    ),
}


@pytest.mark.parametrize(
    "fault", AWS_FAULTS_BEFORE_THE_SEND.values(), ids=AWS_FAULTS_BEFORE_THE_SEND
)
def test_an_aws_fault_before_the_send_is_retried_and_sends_nothing(
    bench: FaultBench, fault: AwsFault
) -> None:
    # GIVEN an AWS call the sender makes before sending, failing
    server = bench.server()
    bench.fail(getattr(bench, fault.client), fault.operation, code=fault.error, when=fault.when)
    bench.push(recovery())
    event = bench.receive()

    # WHEN the first and the last attempt are handled
    first = bench.run(event)
    bench.run(with_receive_count(event, LAST_ATTEMPT))

    # THEN nothing was sent; it was retried, then dead-lettered with the AWS cause
    assert len(first.failed_ids) == 1
    assert server.mailbox == []
    [dead] = bench.dead_letters()
    cause = attributes(dead)
    assert (cause["courier.error_kind"], cause["courier.error_code"]) == ("aws", fault.code)
    assert fault.error in cause["courier.error_message"]


def _no_client() -> Any:
    raise NoRegionError()


def _ssm_client_unmade(sender: Sender) -> None:
    sender.config_provider = SsmConfigProvider(settings=sender.settings, boto3_client=_no_client)


def _dynamodb_client_unmade(sender: Sender) -> None:
    sender.once = DeliverOnce(_no_client)


CLIENTS_THAT_CANNOT_BE_MADE = {
    "SSM's": (_ssm_client_unmade, "config_unavailable"),
    "the idempotency store's": (_dynamodb_client_unmade, "idempotency_unavailable"),
}


@pytest.mark.parametrize(
    ("unmade", "code"), CLIENTS_THAT_CANNOT_BE_MADE.values(), ids=CLIENTS_THAT_CANNOT_BE_MADE
)
def test_a_client_made_on_first_use_that_cannot_be_made_sends_nothing_and_says_why(
    bench: FaultBench, unmade: Callable[[Sender], None], code: str
) -> None:
    # GIVEN a sender whose client is made on first use, as the function's is, and cannot be
    # made (botocore has no region, say)
    server = bench.server()
    sender = bench.sender()
    unmade(sender)
    bench.push(recovery())
    event = bench.receive()

    # WHEN the first and the last attempt are handled
    first = bench.run(event, sender=sender)
    bench.run(with_receive_count(event, LAST_ATTEMPT), sender=sender)

    # THEN nothing was sent; it was retried, then dead-lettered with an AWS cause naming why
    assert len(first.failed_ids) == 1
    assert server.mailbox == []
    [dead] = bench.dead_letters()
    cause = attributes(dead)
    assert (cause["courier.error_kind"], cause["courier.error_code"]) == ("aws", code)
    assert "You must specify a region" in cause["courier.error_message"]


def test_a_failed_success_write_is_tried_again_and_the_repeat_is_suppressed(
    bench: FaultBench,
) -> None:
    # GIVEN DynamoDB failing the success record's write once
    server = bench.server()
    failed = bench.fail(bench.dynamodb, "UpdateItem", times=1)
    bench.push(recovery(id="reset-7"))
    event = bench.receive()

    # WHEN the message is delivered, and SQS then delivers the record again
    first = bench.run(event)
    again = bench.run(with_receive_count(event, 2))

    # THEN the write was tried again, the delivery stands, and the repeat sent nothing
    assert len(failed) == 1
    assert first.failed_ids == again.failed_ids == []
    assert len(server.mailbox) == 1
    assert bench.dead_letters() == []


def test_a_delivered_message_is_never_dead_lettered_when_its_record_cannot_be_saved(
    bench: FaultBench, outcomes: OutcomeLog
) -> None:
    # GIVEN DynamoDB failing every write of the success record
    server = bench.server()
    bench.fail(bench.dynamodb, "UpdateItem")
    bench.push(recovery())

    # WHEN the message is handled
    run = bench.run(bench.receive())

    # THEN it was delivered and acknowledged; the log says the record could not be saved
    assert run.failed_ids == []
    assert len(server.mailbox) == 1
    assert bench.dead_letters() == []
    assert "the idempotency record could not be updated (save_success)" in outcomes.text()
    assert outcomes.codes("delivered") == [None]


def test_a_record_left_in_progress_makes_the_retry_wait_and_is_never_the_dlq_cause(
    bench: FaultBench, outcomes: OutcomeLog
) -> None:
    # GIVEN a 451 to RCPT, and DynamoDB failing to release the idempotency record after it
    bench.server(script=at("RCPT", Reply("451 4.7.1 try later")))
    bench.fail(bench.dynamodb, "DeleteItem")
    bench.push(recovery())
    event = bench.receive()

    # WHEN the attempt is handled, and SQS hands the message over again at the project's last
    # attempt while the record is still in progress
    first = bench.run(event, timeout=40)
    last = bench.run(with_receive_count(event, LAST_ATTEMPT), timeout=40)

    # THEN the retry waits past the record's expiry (the invocation's 40 s, more than the
    # usual 30 s), with the 451 as its cause; the repeat waits again instead of being
    # dead-lettered for "in progress"
    assert len(first.failed_ids) == len(last.failed_ids) == 1
    delays = [change["VisibilityTimeout"] for change in bench.visibility_changes]
    assert delays == [41, 41]
    assert outcomes.codes("retried") == ["smtp_rcpt", "idempotency_in_progress"]
    assert bench.dead_letters() == []


def test_a_failed_maybe_delivered_read_errs_on_the_side_of_maybe(bench: FaultBench) -> None:
    # GIVEN a server refusing with 550, and DynamoDB failing reads of courier's own items
    bench.server(script=at("RCPT", Reply("550 5.1.1 gone")))
    bench.fail(bench.dynamodb, "GetItem", when=lambda params: not _powertools_item(params))
    bench.push(recovery())

    # WHEN a retried attempt is dead-lettered
    bench.run(with_receive_count(bench.receive(), 2))

    # THEN the DLQ says the message may have been delivered rather than invite a duplicate
    [dead] = bench.dead_letters()
    assert attributes(dead)["courier.maybe_delivered"] == "true"


def test_a_failed_maybe_delivered_note_does_not_stop_the_retry(
    bench: FaultBench, outcomes: OutcomeLog
) -> None:
    # GIVEN a drop after the final dot, and DynamoDB failing courier's own note of it
    bench.server(script=at("dot", Drop(keep=True)))
    bench.fail(bench.dynamodb, "PutItem", when=lambda params: not _powertools_item(params))
    bench.push(recovery())

    # WHEN the attempt is handled
    run = bench.run(bench.receive())

    # THEN the message is still retried, and the log says the note failed
    assert len(run.failed_ids) == 1
    assert "could not note that the server may have kept the message" in outcomes.text()


def test_a_failed_dlq_write_hands_the_message_back_with_backoff(bench: FaultBench) -> None:
    # GIVEN a message that must be dead-lettered, and SQS refusing the DLQ write
    bench.server()
    bench.push("{not json")
    event = bench.receive()
    dead_letter_queue = bench.stack.dead_letter_queue_url
    failed = bench.fail(
        bench.sqs, "SendMessage", when=lambda params: params["QueueUrl"] == dead_letter_queue
    )

    # WHEN it is handled
    run = bench.run(event)

    # THEN it is not acknowledged: it comes back after the backoff, to be dead-lettered then
    assert len(failed) == 1
    assert run.failed_ids == [event["Records"][0]["messageId"]]
    assert [change["VisibilityTimeout"] for change in bench.visibility_changes] == [30]


def test_an_invocation_with_3s_left_hands_back_with_backoff(
    bench: FaultBench, outcomes: OutcomeLog
) -> None:
    # GIVEN a batch of two, and an invocation with 3 s left (SmtpTimeoutSeconds is 2 s)
    server = bench.server()
    bench.push(recovery(), recovery("bob@example.org"))
    event = bench.receive()

    # WHEN it is handled, and later the messages' last attempt with as little time
    run = bench.run(event, timeout=3)
    last = bench.run(with_receive_count(event, LAST_ATTEMPT), timeout=3)

    # THEN both went back with backoff, the log says why, and finally the DLQ says out_of_time
    assert len(run.failed_ids) == 2
    assert [change["VisibilityTimeout"] for change in bench.visibility_changes] == [30, 30]
    assert "needs SmtpTimeoutSeconds (2s) plus 3s" in outcomes.text()
    assert last.failed_ids == []
    assert [attributes(m)["courier.error_code"] for m in bench.dead_letters()] == [
        "out_of_time"
    ] * 2
    assert server.mailbox == []
    assert run.remaining_seconds > 0
    assert last.remaining_seconds > 0


def test_a_project_whose_uri_does_not_parse_keeps_its_own_retries(bench: FaultBench) -> None:
    # GIVEN a project with message_retries 1 (two attempts) and a URI with a raw '@'
    bench.configure("acme", {"message_retries": 1})
    bench.use_uri("acme", "smtp://user:p@ss@127.0.0.1:2525/")
    bench.push(recovery(project_id="acme"))

    # WHEN its second attempt is handled
    bench.run(with_receive_count(bench.receive(), 2))

    # THEN the project's count applies: it is dead-lettered, not retried to the default six
    [dead] = bench.dead_letters()
    cause = attributes(dead)
    assert (cause["courier.error_code"], cause["courier.attempts"]) == (
        "uri_password_unencoded",
        "2",
    )


def test_a_broken_template_holds_back_only_its_own_types_mail(bench: FaultBench) -> None:
    # GIVEN a project whose recovery code template (set in SSM by hand, past the validator)
    # does not decode, one retry allowed, and a batch with a recovery code and a login code
    server = bench.server("acme")
    bench.configure(
        "acme",
        {
            "message_retries": 1,
            "templates": {
                "recovery_code": {"valid": {"email": {"subject": "base64://not base64!"}}}
            },
        },
    )
    login = {
        "recipient": "bob@example.org",
        "template_type": "login_code_valid",
        "template_data": {"login_code": "771204"},
        "project_id": "acme",
    }
    bench.push(recovery(project_id="acme"), login)
    event = bench.receive()

    # WHEN the batch is handled, and the recovery code's second attempt
    first = bench.run(event)
    [held] = [r for r in event["Records"] if "recovery" in r["body"]]
    bench.run({"Records": [with_receive_count({"Records": [held]}, 2)["Records"][0]]})

    # THEN the login code went out at once; the recovery code was retried, then dead-lettered
    # naming the part that does not decode
    assert [delivery.rcpt_tos for delivery in server.mailbox] == [("bob@example.org",)]
    assert b"771204" in server.mailbox[0].content
    assert first.failed_ids == [held["messageId"]]
    [dead] = bench.dead_letters()
    cause = attributes(dead)
    assert (cause["courier.error_kind"], cause["courier.error_code"]) == (
        "config",
        "template_base64_invalid",
    )
    assert "templates.recovery_code.valid.email.subject" in cause["courier.error_message"]
    assert cause["courier.attempts"] == "2"


def test_a_dead_lettered_message_whose_delete_was_lost_is_not_handled_twice(
    bench: FaultBench,
) -> None:
    # GIVEN a message dead-lettered at once (550), whose delete never reached SQS
    server = bench.server(script=at("RCPT", Reply("550 5.1.1 gone"), session=0))
    bench.push(recovery())
    event = bench.receive()
    bench.run(event)

    # WHEN SQS hands the same message over again (and the server would now take it)
    again = bench.run(with_receive_count(event, 2))

    # THEN it is acknowledged: one DLQ entry, no mail
    assert again.failed_ids == []
    assert len(bench.dead_letters()) == 1
    assert server.mailbox == []


def test_a_redriven_message_keeps_its_message_id(bench: FaultBench) -> None:
    # GIVEN a message without an id, one attempt allowed, that a server kept without saying so
    server = bench.server("acme", script=at("dot", Drop(keep=True), session=0))
    bench.configure("acme", {"message_retries": 0})
    bench.push(recovery(project_id="acme"))
    bench.run(bench.receive())
    [dead] = bench.dead_letters()
    assert attributes(dead)["courier.maybe_delivered"] == "true"

    # WHEN it is moved back from the DLQ, attributes and all, and handled
    bench.sqs.send_message(
        QueueUrl=bench.stack.queue_url,
        MessageBody=dead["Body"],
        MessageAttributes={
            name: {"DataType": value["DataType"], "StringValue": value["StringValue"]}
            for name, value in dead["MessageAttributes"].items()
        },
    )
    redriven = bench.run(bench.receive())

    # THEN it is delivered under the first attempt's Message-ID: the repeat is recognisable
    assert redriven.failed_ids == []
    ids = [mail.message_id for mail in server.mailbox]
    assert len(ids) == 2
    assert ids[0] == ids[1]
