"""``make demo``: a set of messages through the queue, the poller and the real sender.

One message per security mode (each to its own project and server), one per token login (each
to a project whose server takes only the token the local endpoint issued: XOAUTH2 with a token
by client credentials, OAUTHBEARER with one by a service account's JWT), one to a recipient the
server refuses with 550 (dead-lettered at once), one the server greylists with 451 on the first
attempt (retried, then delivered) and one whose body is not JSON (dead-lettered at once). A
token login's message is as documented only when its server saw it logged in as the project's
mailbox with the documented mechanism. The demo ends when every message has its outcome (or
at a deadline), prints a summary (:mod:`local.summary`) and leaves the delivered mail as
``.eml`` files beside an ``index.html`` that shows every message, delivered or not
(:mod:`local.demo_page`).

Retries back off ``COURIER_RETRY_BACKOFF_BASE_SECONDS`` (1 s here, 30 s by default) instead of
faking the clock.

Example
-------
>>> result = run_demo(out_dir=Path("out/demo"))  # doctest: +SKIP
>>> print(format_summary(result))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TextIO

from local.demo_page import write_demo_page
from local.demo_status import StatusCheck, Wanted, read_statuses
from local.mailbox import Mailbox, mail_subject
from local.mailservers import MODES, TOKEN_LOGINS
from local.poller import BatchReport
from local.render import rendered_subjects
from local.sandbox import SENDER, LocalStack
from local.smtpd import Faults
from local.stack import TEMPLATE
from local.status_reader import VALIDATOR
from local.summary import (
    DemoResult,
    MessageOutcome,
    ProgressLine,
    format_summary,
    retry_causes,
)

__all__ = ["DEMO_FAULTS", "DemoMessage", "demo_messages", "format_summary", "run_demo"]

REFUSED = "nobody@example.org"
GREYLISTED = "greylisted@example.org"
DEMO_FAULTS = {
    "starttls": Faults(rcpt_replies={REFUSED: f"550 5.1.1 <{REFUSED}>: user unknown"}),
    "smtps": Faults(first_rcpt_replies={GREYLISTED: "451 4.7.1 greylisted, try again later"}),
}
"""The servers' canned refusals: a permanent and a transient one."""

_TEMPLATES = {
    "starttls": ("recovery_code_valid", {"recovery_code": "482913"}),
    "starttls-skip-verify": ("verification_code_valid", {"verification_code": "551023"}),
    "cleartext": ("login_code_valid", {"login_code": "771204"}),
    "smtps": ("registration_code_valid", {"registration_code": "390117"}),
    "smtps-skip-verify": ("recovery_valid", {"recovery_url": "https://app.example/recover?t=1"}),
    "smtps-server-name": (
        "verification_valid",
        {"verification_url": "https://app.example/verify?t=2"},
    ),
    "xoauth2": ("login_code_valid", {"login_code": "604418"}),
    "oauthbearer": ("recovery_code_valid", {"recovery_code": "318260"}),
}


@dataclass(frozen=True)
class DemoMessage:
    """One message of the demo and the outcome the design documents for it."""

    label: str
    body: str
    project: str | None
    recipient: str | None
    expected: str
    """``delivered`` or ``dead-lettered``."""
    expected_attempts: int = 1
    expected_login: tuple[str, str] | None = None
    """A token login's ``(mechanism, mailbox)``, as its server must have seen it."""


def demo_messages() -> list[DemoMessage]:
    """The demo's messages, in the order they are sent."""
    messages = []
    for mode in MODES:
        template_type, data = _TEMPLATES[mode.name]
        recipient = f"ada+{mode.name}@example.org"
        messages.append(_message(template_type, mode.name, recipient, data, expected="delivered"))
    for login in TOKEN_LOGINS:
        template_type, data = _TEMPLATES[login.project]
        recipient = f"ada+{login.project}@example.org"
        message = _message(template_type, login.project, recipient, data, expected="delivered")
        messages.append(replace(message, expected_login=(login.mechanism, login.mailbox)))
    messages.append(
        _message(
            "recovery_code_valid",
            "starttls",
            REFUSED,
            {"recovery_code": "1"},
            expected="dead-lettered",
            label="550 unknown recipient",
        )
    )
    messages.append(
        _message(
            "login_code_valid",
            "smtps",
            GREYLISTED,
            {"login_code": "2"},
            expected="delivered",
            label="451 once, then accepted",
            attempts=2,
        )
    )
    messages.append(
        DemoMessage(
            "malformed body",
            '{"recipient": "ada@example.org", "template_type": ',
            None,
            None,
            expected="dead-lettered",
        )
    )
    return messages


def _message(
    template_type: str,
    project: str,
    recipient: str,
    data: Mapping[str, object],
    *,
    expected: str,
    label: str | None = None,
    attempts: int = 1,
) -> DemoMessage:
    body = {
        "project_id": project,
        "recipient": recipient,
        "template_type": template_type,
        "template_data": {**data, "expires_in_minutes": 15},
    }
    return DemoMessage(
        label or template_type, json.dumps(body), project, recipient, expected, attempts
    )


@dataclass
class _Journal:
    """What the poller and the DLQ said about each message (filled from worker threads)."""

    attempts: dict[str, int] = field(default_factory=dict)
    acknowledged: set[str] = field(default_factory=set)
    """Messages a finished batch deleted from the queue."""
    retry_causes: dict[str, str] = field(default_factory=dict)
    retries: dict[str, dict[int, str]] = field(default_factory=dict)
    """Each handed-back attempt's cause, by message and attempt."""
    batches: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    verbose: bool = False
    """Write a failed invocation's whole log to stderr."""

    def record(self, report: BatchReport) -> None:
        causes = retry_causes(report)
        with self.lock:
            self.batches += 1
            for message_id, count in report.receive_counts.items():
                self.attempts[message_id] = max(self.attempts.get(message_id, 0), count)
            self.acknowledged |= set(report.message_ids) - set(report.failed_ids)
            self.retry_causes.update(causes)
            for message_id, cause in causes.items():
                attempt = report.receive_counts.get(message_id, 1)
                self.retries.setdefault(message_id, {})[attempt] = cause
        if self.verbose and report.error_type:
            sys.stderr.write(report.result.logs)


def run_demo(
    *,
    out_dir: Path,
    template: Path = TEMPLATE,
    backoff_seconds: int = 1,
    deadline_seconds: float = 60,
    progress: TextIO = sys.stderr,
    verbose: bool = False,
) -> DemoResult:
    """Run the demo; return every message's outcome.

    Parameters
    ----------
    out_dir:
        Where the delivered mail (``*.eml``) and ``index.html`` go; earlier ones are removed.
    template:
        The SAM template whose ``SenderFunction`` and queues are used.
    backoff_seconds:
        ``COURIER_RETRY_BACKOFF_BASE_SECONDS`` of the sender.
    deadline_seconds:
        Give up waiting after this long (unsettled messages are reported as such).
    progress:
        Where the progress line goes.
    verbose:
        Also write a failed invocation's whole log to stderr.
    """
    mailbox = Mailbox(out_dir)
    mailbox.clear()
    messages = demo_messages()
    journal = _Journal(verbose=verbose)
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="courier-demo-") as workdir,
        LocalStack(
            workdir=Path(workdir),
            template=template,
            mailbox=mailbox,
            faults=DEMO_FAULTS,
            extra_env={"COURIER_RETRY_BACKOFF_BASE_SECONDS": str(backoff_seconds)},
        ) as stack,
    ):
        sqs = stack.aws.client("sqs")
        ids = {
            sqs.send_message(QueueUrl=stack.stack.queue_url, MessageBody=message.body)[
                "MessageId"
            ]: message
            for message in messages
        }
        mapping = stack.event_source_mapping(on_batch=journal.record)
        mapping.start()
        line = ProgressLine(progress, total=len(messages))
        try:
            while True:
                dead = _dead_letters(stack)
                outcomes = _outcomes(ids, stack, dead, journal)
                settled = sum(outcome.outcome != "pending" for outcome in outcomes)
                line.show(time.monotonic() - started, outcomes, journal.batches)
                if settled == len(messages) or time.monotonic() - started > deadline_seconds:
                    break
                time.sleep(0.1)  # a poll interval, not a wait for an outcome
        finally:
            mapping.stop()
            line.done()
        dead = _dead_letters(stack)
        outcomes = _outcomes(ids, stack, dead, journal)
        spec = stack.function(SENDER)
        statuses = _statuses(stack, ids)
    seconds = time.monotonic() - started
    outcomes = _with_mail(
        outcomes,
        list(ids.values()),
        mailbox,
        rendered_subjects(spec, [message.body for message in ids.values()]),
    )
    result = DemoResult(
        outcomes=outcomes,
        seconds=seconds,
        function=f"{spec.logical_id} ({spec.handler}, {spec.runtime})",
        backoff_seconds=backoff_seconds,
        preview=out_dir / "index.html",
        mail_files=len(mailbox.saved),
        batches=journal.batches,
        statuses=tuple(statuses),
    )
    write_demo_page(result.preview, result)
    return result


def _with_mail(
    outcomes: list[MessageOutcome],
    messages: list[DemoMessage],
    mailbox: Mailbox,
    subjects: list[str | None],
) -> list[MessageOutcome]:
    """The outcomes with each message's ``.eml`` file and subject: the delivered mail's own,
    else the one the sender rendered (``None`` for a message that never rendered)."""
    completed = []
    for outcome, message, rendered in zip(outcomes, messages, subjects, strict=True):
        mail_file = next(
            (
                path
                for path, (server, recipients) in mailbox.received.items()
                if server == message.project and message.recipient in recipients
            ),
            None,
        )
        subject = mail_subject(mail_file) if mail_file is not None else None
        completed.append(replace(outcome, mail_file=mail_file, subject=subject or rendered))
    return completed


def _statuses(stack: LocalStack, ids: dict[str, DemoMessage]) -> list[StatusCheck]:
    """Each message's status record, read as the HTTP API's route reads it (the batches are
    over: the mapping has stopped), checked against its documented outcome."""
    default = stack.function(SENDER).environment.get("COURIER_DEFAULT_PROJECT") or "default"
    wanted = [
        Wanted(
            number,
            message.project or default,
            message_id,
            message.expected,
            message.expected_attempts,
        )
        for number, (message_id, message) in enumerate(ids.items(), start=1)
    ]
    return read_statuses(stack.function(VALIDATOR), stack.child_environment(), wanted)


def _dead_letters(stack: LocalStack) -> dict[str, dict[str, str]]:
    """DLQ messages by the ID they had on the queue."""
    return {
        dead.get("courier.source_message_id") or dead["MessageId"]: dead
        for dead in stack.dead_letters()
    }


def _outcomes(
    ids: dict[str, DemoMessage],
    stack: LocalStack,
    dead: dict[str, dict[str, str]],
    journal: _Journal,
) -> list[MessageOutcome]:
    outcomes = []
    with journal.lock:
        attempts = dict(journal.attempts)
        acknowledged = set(journal.acknowledged)
        causes = dict(journal.retry_causes)
        journal_retries = {key: dict(value) for key, value in journal.retries.items()}
    for number, (message_id, message) in enumerate(ids.items(), start=1):
        server = stack.fleet.servers[message.project] if message.project else None
        received = [
            mail
            for mail in (server.messages if server else [])
            if message.recipient in mail.rcpt_tos
        ]
        attributes = dead.get(message_id)
        outcome = "pending"
        if received and message_id in acknowledged:
            outcome = "delivered"
        elif attributes:
            outcome = "dead-lettered"
        names = [name for name in (server.server_names if server else []) if name]
        retries = journal_retries.get(message_id, {})
        outcomes.append(
            MessageOutcome(
                number=number,
                label=message.label,
                project=message.project,
                mode=stack.fleet.mode(message.project) if message.project else None,
                outcome=outcome,
                expected=message.expected,
                attempts=attempts.get(message_id, 0),
                expected_attempts=message.expected_attempts,
                expected_login=message.expected_login,
                auth_mechanism=received[0].auth_mechanism if received else None,
                auth_login=received[0].auth_login if received else None,
                tls_version=received[0].tls_version if received else None,
                server_name=names[-1] if names and message.project == MODES[5].name else None,
                dead_letter=attributes,
                retried_because=causes.get(message_id),
                retries=tuple(sorted(retries.items())),
            )
        )
    return outcomes
