"""The demo's outcome per message, and the summary a person reads at a glance.

Example
-------
>>> print(format_summary(result))  # doctest: +SKIP
courier demo: 11 messages through SenderFunction (app.lambda_handler, python3.13) in 6.2 s
 #  message                  project               mode                      outcome  ...
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from local.demo_status import StatusCheck, status_lines
from local.mailservers import Mode
from local.poller import BatchReport
from local.smtpd import TOKEN_MECHANISMS

__all__ = [
    "DemoResult",
    "MessageOutcome",
    "ProgressLine",
    "format_summary",
    "log_entries",
    "record_outcomes",
    "retry_causes",
]


@dataclass(frozen=True)
class MessageOutcome:
    """Where one demo message ended, and what the servers and the DLQ saw."""

    number: int
    label: str
    project: str | None
    mode: Mode | None
    outcome: str
    """``delivered``, ``dead-lettered`` or ``pending`` (no outcome by the deadline)."""
    expected: str
    attempts: int
    expected_attempts: int
    tls_version: str | None
    server_name: str | None
    dead_letter: dict[str, str] | None
    """The DLQ message's ``courier.*`` attributes."""
    retried_because: str | None
    retries: tuple[tuple[int, str], ...] = ()
    """``(attempt, cause)`` of each attempt that handed the message back, in order."""
    subject: str | None = None
    """The mail's subject (as delivered, or as the sender rendered it); ``None`` for a message
    that never rendered."""
    mail_file: Path | None = None
    """The ``.eml`` file of the delivered mail."""
    expected_login: tuple[str, str] | None = None
    """A token login's ``(mechanism, mailbox)`` that its server must have seen."""
    auth_mechanism: str | None = None
    """The AUTH mechanism of the session the server accepted the mail in."""
    auth_login: str | None = None
    """Who that session logged in as (the user, or a token login's mailbox)."""

    @property
    def as_documented(self) -> bool:
        login = (self.auth_mechanism, self.auth_login)
        return (
            self.outcome == self.expected
            and self.attempts == self.expected_attempts
            and (self.expected_login is None or login == self.expected_login)
        )

    @property
    def documented(self) -> str:
        """What the demo documents for the message, in words."""
        text = f"{self.expected} after {self.expected_attempts} tries"
        if self.expected_login:
            mechanism, mailbox = self.expected_login
            text += f", logged in with {mechanism} as {mailbox}"
        return text

    @property
    def server_saw(self) -> str:
        """How a delivered mail arrived: the TLS version (or cleartext), the SNI name, and a
        token login's mechanism; ``-`` for a mail that was not delivered."""
        if self.outcome != "delivered":
            return "-"
        seen = self.tls_version or "cleartext"
        if self.server_name:
            seen += f", SNI {self.server_name}"
        if self.auth_mechanism in TOKEN_MECHANISMS:
            seen += f", {self.auth_mechanism} token"
        return seen

    @property
    def title(self) -> str:
        """The mail's subject, or what the message was (its label) when it never rendered."""
        return self.subject or self.label

    @property
    def cause(self) -> str:
        """Why it was dead-lettered (the code, then the server's reply or else the error
        message, whole) or retried; empty for a message delivered at once."""
        if self.dead_letter:
            code = self.dead_letter.get("courier.error_code", "?")
            detail = self.dead_letter.get("courier.smtp_reply") or self.dead_letter.get(
                "courier.error_message"
            )
            return f"{code}: {detail}" if detail else code
        if self.retried_because:
            return f"retried after {self.retried_because}"
        return ""


@dataclass(frozen=True)
class DemoResult:
    outcomes: list[MessageOutcome]
    seconds: float
    function: str
    backoff_seconds: int
    preview: Path
    mail_files: int
    batches: int
    statuses: tuple[StatusCheck, ...] = ()
    """Each message's status record, checked against its documented outcome."""

    @property
    def ok(self) -> bool:
        """Every message reached its documented outcome in the documented number of attempts,
        and its status record says so."""
        return self.outcomes_ok and all(check.matches for check in self.statuses)

    @property
    def outcomes_ok(self) -> bool:
        return all(outcome.as_documented for outcome in self.outcomes)


def log_entries(report: BatchReport) -> list[dict[str, Any]]:
    """The batch's JSON log lines (Powertools) that are about one SQS message."""
    entries = []
    for line in report.result.logs.splitlines():
        try:
            entry = json.loads(line) if line.startswith("{") else None
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("sqs_message_id"):
            entries.append(entry)
    return entries


def record_outcomes(report: BatchReport) -> dict[str, str]:
    """What the sender logged as each message's outcome (``delivered``, ``retried in 30s:
    ...``, ``dead-lettered (permanent): ...``)."""
    return {
        str(entry["sqs_message_id"]): str(entry["message"]).removeprefix("message ")
        for entry in log_entries(report)
        if str(entry.get("message", "")).startswith("message ")
    }


def retry_causes(report: BatchReport) -> dict[str, str]:
    """Why each handed-back message of a batch was retried, from the sender's JSON log lines:
    the error code, then the last part of the sender's message (the server's reply, or the
    error with its hint)."""
    causes: dict[str, str] = {}
    for entry in log_entries(report):
        message_id = entry["sqs_message_id"]
        if message_id in report.failed_ids and entry.get("error_code"):
            text = " ".join(str(entry.get("message", "")).split())
            reply = text.rsplit(": ", 1)[-1] if ": " in text else ""
            causes[message_id] = (
                f"{entry['error_code']} ({reply})" if reply else entry["error_code"]
            )
    return causes


_COLUMNS = ("#", "message", "project", "mode", "outcome", "tries", "server saw", "cause")


def format_summary(result: DemoResult) -> str:
    """The summary table, with one line per message and the totals."""
    rows = [_COLUMNS]
    for outcome in result.outcomes:
        mark = "" if outcome.as_documented else f"  <- documented: {outcome.documented}"
        rows.append(
            (
                str(outcome.number),
                outcome.label,
                outcome.project or "(default)",
                f"{outcome.mode.number} {outcome.mode.title}" if outcome.mode else "-",
                outcome.outcome,
                str(outcome.attempts),
                outcome.server_saw,
                (outcome.cause or "-") + mark,
            )
        )
    widths = [max(len(row[n]) for row in rows) for n in range(len(_COLUMNS) - 1)]
    lines = [
        f"courier demo: {len(result.outcomes)} messages through {result.function} "
        f"in {result.seconds:.1f} s ({result.batches} batches)",
        f"retries back off {result.backoff_seconds} s instead of 30 s "
        f"(COURIER_RETRY_BACKOFF_BASE_SECONDS={result.backoff_seconds})",
        "",
    ]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    delivered = sum(o.outcome == "delivered" for o in result.outcomes)
    dead = sum(o.outcome == "dead-lettered" for o in result.outcomes)
    lines += [
        "",
        f"{delivered} delivered, {dead} dead-lettered (the DLQ keeps each body with its cause in "
        "courier.* message attributes)",
        f"mail: {result.mail_files} .eml file(s); every message, with its mail or its cause: "
        f"{result.preview}",
    ]
    if result.statuses:
        lines += ["", *status_lines(result.statuses), ""]
    lines.append(
        "every message reached its documented outcome"
        if result.outcomes_ok
        else "SOME MESSAGES DID NOT REACH THEIR DOCUMENTED OUTCOME"
    )
    if result.statuses:
        lines.append(
            "every status record says so"
            if all(check.matches for check in result.statuses)
            else "SOME STATUS RECORDS DO NOT MATCH THEIR DOCUMENTED OUTCOME"
        )
    return "\n".join(lines)


class ProgressLine:
    """One line that says how far the demo is: rewritten in place on a terminal."""

    def __init__(self, stream: TextIO, *, total: int) -> None:
        self._stream = stream
        self._total = total
        self._tty = stream.isatty()
        self._last = ""

    def show(self, seconds: float, outcomes: list[MessageOutcome], batches: int) -> None:
        delivered = sum(o.outcome == "delivered" for o in outcomes)
        dead = sum(o.outcome == "dead-lettered" for o in outcomes)
        pending = self._total - delivered - dead
        text = (
            f"{delivered + dead}/{self._total} messages settled: {delivered} delivered, "
            f"{dead} dead-lettered, {pending} in flight ({batches} batches so far)"
        )
        if self._tty:
            self._stream.write(f"\r[{seconds:5.1f}s] {text}\x1b[K")
            self._stream.flush()
        elif text != self._last:
            self._stream.write(f"[{seconds:5.1f}s] {text}\n")
            self._stream.flush()
        self._last = text

    def done(self) -> None:
        if self._tty:
            self._stream.write("\n")
            self._stream.flush()
