"""courier.outcomes.decide: every row of the outcome table, and the README's copy of it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from courier.dead_letters import dead_letter_attributes
from courier.errors import (
    ConfigError,
    ConfigUnavailableError,
    DeliveryInProgressError,
    IdempotencyStoreError,
    MessageError,
    OutOfTimeError,
    SmtpAuthError,
    SmtpConnectError,
    SmtpDisconnectedError,
    SmtpProtocolError,
    SmtpTimeoutError,
    SmtpTlsError,
    Step,
    TokenUnavailableError,
    step_error,
)
from courier.outcomes import (
    OUTCOME_TABLE,
    DeadLetterReason,
    Limits,
    Outcome,
    Policy,
    cause_of,
    decide,
    outcome_table_markdown,
)

README = Path(__file__).resolve().parents[2] / "README.md"
ENDPOINT = "smtp://user:***@mail.example.com:587/"
LIMITS = Limits(message_retries=5, max_receive_count=21, in_progress_seconds=61)


def reply(step: Step, code: int) -> Exception:
    return step_error(step, code, f"{code // 100}.0.0 reply", endpoint=ENDPOINT)


# (error, row number in OUTCOME_TABLE, cause code, maybe delivered)
ROWS: dict[str, tuple[Exception, int, str, bool]] = {
    "bad message": (
        MessageError("recipient", "recipient_invalid", "no @"),
        0,
        "recipient_invalid",
        False,
    ),
    "550 at RCPT": (reply(Step.RCPT, 550), 1, "smtp_rcpt", False),
    "554 at DATA": (reply(Step.DATA, 554), 1, "smtp_data", False),
    "552 at MAIL": (reply(Step.MAIL, 552), 1, "smtp_mail", False),
    "lost after the final dot": (
        SmtpDisconnectedError("lost", endpoint=ENDPOINT, step=Step.DATA, maybe_accepted=True),
        2,
        "smtp_outcome_unknown",
        True,
    ),
    "timed out after the final dot": (
        SmtpTimeoutError("no answer", endpoint=ENDPOINT, step=Step.DATA, maybe_accepted=True),
        2,
        "smtp_outcome_unknown",
        True,
    ),
    "garbage after the final dot": (
        SmtpProtocolError("?", endpoint=ENDPOINT, step=Step.DATA, maybe_accepted=True),
        2,
        "smtp_outcome_unknown",
        True,
    ),
    "untrusted certificate": (SmtpTlsError("not trusted", endpoint=ENDPOINT), 3, "smtp_tls", False),
    "AUTH refused": (reply(Step.AUTH, 535), 3, "smtp_auth", False),
    "no AUTH offered": (SmtpAuthError("no AUTH", endpoint=ENDPOINT), 3, "smtp_auth", False),
    "554 greeting": (reply(Step.CONNECT, 554), 3, "smtp_connect", False),
    "550 to EHLO": (reply(Step.EHLO, 550), 3, "smtp_ehlo", False),
    "bad URI": (
        ConfigError("connection_uri.port", "uri_bad_port", "not a port"),
        3,
        "uri_bad_port",
        False,
    ),
    "421 greeting": (reply(Step.CONNECT, 421), 4, "smtp_connect", False),
    "454 to AUTH": (reply(Step.AUTH, 454), 4, "smtp_auth", False),
    "451 at RCPT": (reply(Step.RCPT, 451), 4, "smtp_rcpt", False),
    "421 at MAIL": (reply(Step.MAIL, 421), 4, "smtp_mail", False),
    "refused connection": (
        SmtpConnectError("refused", endpoint=ENDPOINT),
        4,
        "smtp_connect",
        False,
    ),
    "timeout before DATA": (
        SmtpTimeoutError("no answer", endpoint=ENDPOINT, step=Step.RCPT),
        4,
        "smtp_timeout",
        False,
    ),
    "TLS handshake timeout": (
        SmtpTimeoutError("no answer", endpoint=ENDPOINT, step=Step.TLS),
        4,
        "smtp_timeout",
        False,
    ),
    "lost before MAIL": (
        SmtpDisconnectedError("lost", endpoint=ENDPOINT, step=Step.MAIL),
        4,
        "smtp_disconnected",
        False,
    ),
    "garbage greeting": (
        SmtpProtocolError("?", endpoint=ENDPOINT, step=Step.CONNECT),
        4,
        "smtp_protocol",
        False,
    ),
    "in progress elsewhere": (DeliveryInProgressError("busy"), 5, "idempotency_in_progress", True),
    "SSM throttled": (ConfigUnavailableError("throttled"), 6, "config_unavailable", False),
    "DynamoDB down": (IdempotencyStoreError("down"), 6, "idempotency_unavailable", False),
    "token endpoint down": (
        TokenUnavailableError("login.example answered 503"),
        7,
        "oauth_token_unavailable",
        False,
    ),
    "out of time": (
        OutOfTimeError("short", remaining_seconds=3, needed_seconds=13),
        8,
        "out_of_time",
        False,
    ),
    "a bug": (
        UnicodeEncodeError("ascii", "\0user\0pässword", 8, 9, "no"),
        9,
        "internal_error",
        False,
    ),
}


def test_every_row_of_the_table_is_covered() -> None:
    assert {row for _, row, _, _ in ROWS.values()} == set(range(len(OUTCOME_TABLE)))


@pytest.mark.parametrize(("error", "row", "code", "maybe"), ROWS.values(), ids=ROWS)
def test_each_failure_meets_its_row(error: Exception, row: int, code: str, maybe: bool) -> None:
    # WHEN a first attempt fails with it
    decision = decide(error, attempt=1, limits=LIMITS)

    # THEN its row decides: dead-lettered at once, or retried (a wait lasts past the other
    # attempt's time)
    assert decision.row is OUTCOME_TABLE[row]
    assert (decision.cause.code, decision.cause.maybe_delivered) == (code, maybe)
    policy = OUTCOME_TABLE[row].policy
    if policy is Policy.DEAD_LETTER:
        assert (decision.outcome, decision.reason, decision.delay) == (
            Outcome.DEAD_LETTERED,
            DeadLetterReason.PERMANENT,
            None,
        )
    elif policy is Policy.RETRY:
        assert (decision.outcome, decision.delay) == (Outcome.RETRIED, 30)
    else:
        assert (decision.outcome, decision.delay) == (Outcome.RETRIED, 61)


@pytest.mark.parametrize(
    ("error", "row", "code", "maybe"),
    [value for value in ROWS.values() if OUTCOME_TABLE[value[1]].policy is Policy.RETRY],
)
def test_retried_failures_back_off_then_dead_letter_when_the_attempts_run_out(
    error: Exception, row: int, code: str, maybe: bool
) -> None:
    # WHEN the project's six attempts fail alike
    decisions = [decide(error, attempt=n, limits=LIMITS) for n in range(1, 7)]

    # THEN five retries back off, doubling, and the sixth is dead-lettered with the last cause
    assert [d.delay for d in decisions[:5]] == [30, 60, 120, 240, 480]
    last = decisions[-1]
    assert (last.outcome, last.reason) == (
        Outcome.DEAD_LETTERED,
        DeadLetterReason.ATTEMPTS_EXHAUSTED,
    )
    assert (last.cause.code, last.cause.maybe_delivered) == (code, maybe)


def test_the_default_retries_apply_only_when_the_projects_settings_could_not_be_read() -> None:
    busy = reply(Step.RCPT, 450)
    unread = Limits(message_retries=None, max_receive_count=21)
    strict = Limits(message_retries=0, max_receive_count=21)

    assert unread.max_attempts == 6
    assert decide(busy, attempt=1, limits=strict).outcome is Outcome.DEAD_LETTERED
    assert decide(busy, attempt=5, limits=unread).outcome is Outcome.RETRIED
    assert decide(busy, attempt=6, limits=unread).outcome is Outcome.DEAD_LETTERED


def test_backoff_is_capped_and_the_queue_limit_wins_over_the_projects() -> None:
    busy = reply(Step.RCPT, 450)
    many = Limits(message_retries=30, max_receive_count=21)

    assert decide(busy, attempt=10, limits=many).delay == 900
    assert decide(busy, attempt=21, limits=many).outcome is Outcome.DEAD_LETTERED


def test_a_retry_waits_past_an_idempotency_record_left_in_progress() -> None:
    # GIVEN a 4xx whose attempt could not release its idempotency record
    limits = Limits(message_retries=5, max_receive_count=21, min_delay_seconds=61)

    # WHEN it is decided
    decision = decide(reply(Step.RCPT, 450), attempt=1, limits=limits)

    # THEN the retry comes after the record expires, not after the usual 30 s
    assert (decision.outcome, decision.delay) == (Outcome.RETRIED, 61)


def test_a_message_held_elsewhere_is_dead_lettered_only_at_the_queues_last_receive() -> None:
    held = DeliveryInProgressError("busy")

    decisions = [decide(held, attempt=n, limits=LIMITS) for n in range(1, 21)]
    assert {d.outcome for d in decisions} == {Outcome.RETRIED}

    # At the queue's last receive SQS would move it without a cause: courier says why.
    last = decide(held, attempt=21, limits=LIMITS)
    assert (last.outcome, last.cause.maybe_delivered) == (Outcome.DEAD_LETTERED, True)


def test_an_earlier_attempt_that_may_have_delivered_marks_the_dead_letter() -> None:
    # GIVEN a message whose first attempt lost the connection after the final dot, and whose
    # second meets a 550
    refused = reply(Step.RCPT, 550)

    # WHEN the second attempt is decided
    decision = decide(refused, attempt=2, limits=LIMITS, earlier_maybe_delivered=True)

    # THEN it is dead-lettered at once, saying the server may have the mail
    assert (decision.outcome, decision.cause.maybe_delivered) == (Outcome.DEAD_LETTERED, True)


def test_a_bugs_text_is_never_shown_since_it_may_quote_a_secret() -> None:
    cause = cause_of(UnicodeEncodeError("ascii", "\0user\0pässword", 8, 9, "no"))

    assert "pässword" not in cause.message
    assert cause.message.startswith("unexpected UnicodeEncodeError")


def test_the_dlq_attributes_stay_within_the_sqs_limit_of_ten() -> None:
    # GIVEN the failure with the most facts: an SMTP reply, maybe delivered
    error = SmtpTimeoutError("x" * 5000, endpoint=ENDPOINT, step=Step.DATA, maybe_accepted=True)
    decision = decide(error, attempt=6, limits=LIMITS)

    # WHEN its attributes are built
    attributes = dead_letter_attributes(
        decision, attempts=6, project_id="acme", source_message_id="m-1"
    )

    # THEN there are at most ten, each text within 1024 characters, and it says "maybe"
    assert len(attributes) <= 10
    assert all(len(value["StringValue"]) <= 1024 for value in attributes.values())
    assert attributes["courier.maybe_delivered"]["StringValue"] == "true"
    assert attributes["courier.error_code"]["StringValue"] == "smtp_outcome_unknown"


def test_the_readme_outcome_table_is_the_decision_table() -> None:
    # GIVEN the README's section on what happens to a message
    text = README.read_text("utf-8")
    section = text[text.index("### What happens to a message") :]
    table = re.search(r"^\| what went wrong \|.*?(?=\n\n)", section, re.MULTILINE | re.DOTALL)

    # THEN its table is exactly the one courier.outcomes decides by
    assert table is not None
    assert table.group(0) + "\n" == outcome_table_markdown()
