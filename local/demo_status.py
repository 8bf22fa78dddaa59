"""The demo's last check: each message's status record against the outcome documented for it.

The records are read as ``GET /projects/{project_id}/courier/messages/{id}`` answers them
(:class:`local.status_reader.StatusReader`, the config validator's own code). A message the
demo documents as delivered must say ``delivered``, a dead-lettered one ``dead_lettered``, each
with as many dispatches (and ``send_count``) as the demo documents tries: the greylisted one 2.

Example
-------
>>> checks = read_statuses(spec, environment, [Wanted(8, "smtps", message_id, "delivered", 2)])
...     # doctest: +SKIP
>>> checks[0].matches  # doctest: +SKIP
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from local.status_reader import StatusReader, StatusReaderError

if TYPE_CHECKING:
    from local.template import FunctionSpec

__all__ = ["EXPECTED_STATUS", "StatusCheck", "Wanted", "read_statuses", "status_lines"]

EXPECTED_STATUS = {"delivered": "delivered", "dead-lettered": "dead_lettered"}
"""The record's ``status`` for each outcome the demo documents."""


@dataclass(frozen=True)
class Wanted:
    """A demo message whose record is read: where, and what the demo documents for it."""

    number: int
    project_id: str
    message_id: str
    """The id the sender records it under: its SQS id (the demo's bodies have no ``id``)."""
    outcome: str
    attempts: int


@dataclass(frozen=True, kw_only=True)
class StatusCheck:
    """A message's status record and what it should say."""

    number: int
    expected_status: str
    expected_sends: int
    status: str | None = None
    """``None``: no record could be read (see :attr:`problem`)."""
    recipient: str | None = None
    template_type: str | None = None
    send_count: int | None = None
    dispatches: int | None = None
    last_error_code: str | None = None
    problem: str | None = None
    """The route's error (``404 message_not_found: ...``), or why the reader failed."""

    @property
    def matches(self) -> bool:
        sends = self.expected_sends
        return (self.status, self.send_count, self.dispatches) == (
            self.expected_status,
            sends,
            sends,
        )


def read_statuses(
    spec: FunctionSpec, environment: Mapping[str, str], wanted: Sequence[Wanted]
) -> list[StatusCheck]:
    """Each wanted message's record, checked.

    Parameters
    ----------
    spec:
        The config validator, resolved.
    environment:
        The local stack's endpoint and region for it.
    wanted:
        The messages.
    """
    checks: list[StatusCheck] = []
    try:
        with StatusReader(spec, extra_env=environment) as reader:
            for message in wanted:
                answer = reader.get_message(message.project_id, message.message_id)
                if answer.status != 200:
                    problem = f"{answer.status} {answer.error_id}: {answer.error_message}"
                    checks.append(_check(message, problem=problem))
                    continue
                body = answer.body
                checks.append(
                    _check(
                        message,
                        status=str(body["status"]),
                        recipient=body["recipient"],
                        template_type=body["template_type"],
                        send_count=int(body["send_count"]),
                        dispatches=len(body["dispatches"]),
                        last_error_code=body["last_error_code"],
                    )
                )
    except StatusReaderError as error:
        done = len(checks)
        checks += [_check(message, problem=str(error)) for message in wanted[done:]]
    return checks


def _check(message: Wanted, **found: Any) -> StatusCheck:
    return StatusCheck(
        number=message.number,
        expected_status=EXPECTED_STATUS.get(message.outcome, message.outcome),
        expected_sends=message.attempts,
        **found,
    )


_COLUMNS = ("#", "recipient", "template type", "status", "sends", "last error")


def status_lines(checks: Sequence[StatusCheck]) -> list[str]:
    """A title, then one line per message; a record that does not match says what it should."""
    rows = [_COLUMNS]
    marks = []
    for check in checks:
        rows.append(
            (
                str(check.number),
                check.recipient or "-",
                check.template_type or "-",
                check.status or "-",
                "-" if check.send_count is None else str(check.send_count),
                check.last_error_code or "-",
            )
        )
        marks.append("" if check.matches else _mismatch(check))
    widths = [max(len(row[n]) for row in rows) for n in range(len(_COLUMNS))]
    lines = [
        "status records (GET /projects/{project_id}/courier/messages/{id}, the validator's code):"
    ]
    for row, mark in zip(rows, ["", *marks], strict=True):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        lines.append(("  ".join(cells) + mark).rstrip())
    return lines


def _mismatch(check: StatusCheck) -> str:
    expected = f"{check.expected_status} after {check.expected_sends} dispatch(es)"
    if check.problem:
        return f"  <- {check.problem}; documented: {expected}"
    seen = f"{check.dispatches} dispatch(es)"
    return f"  <- documented: {expected}, the record has {seen}"
