"""``python -m local messages``: the status records of the running ``up``, as the routes give them.

Every record is read through :class:`local.status_reader.StatusReader`, i.e. the config
validator's own :class:`~courier.status_api.MessageStatusApi`: a listing is
``GET /projects/{project_id}/courier/messages`` (its pages followed up to ``limit``), one message
``GET .../messages/{id}``. Without a project, every project that has records is asked, and the
listings are merged, newest first.

Example
-------
>>> print("\\n".join(message_table(answer["messages"])))  # doctest: +SKIP
id                                    project  template type     recipient        status ...
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from local.status_reader import Answer, StatusReader

__all__ = [
    "MessagesError",
    "MessagesQuery",
    "find_message",
    "json_text",
    "list_messages",
    "message_lines",
    "message_table",
]

PAGE = 100
"""The routes' largest ``limit``."""


class MessagesError(Exception):
    """A request the routes refused, an unknown id, a table that cannot be read."""


@dataclass(frozen=True, kw_only=True)
class MessagesQuery:
    """What ``messages`` was asked for (``None``: not given)."""

    project: str | None = None
    recipient: str | None = None
    status: str | None = None
    template_type: str | None = None
    limit: int = 50

    def query_string(self, *, limit: int, page_token: str | None = None) -> str:
        """The listing route's query string."""
        options = {
            "recipient": self.recipient,
            "status": self.status,
            "template_type": self.template_type,
            "limit": str(limit),
            "page_token": page_token,
        }
        return urlencode({k: v for k, v in options.items() if v is not None}, quote_via=quote)


def list_messages(reader: StatusReader, query: MessagesQuery) -> tuple[list[dict[str, Any]], bool]:
    """The messages the listing routes give, newest first, at most ``query.limit``; and whether
    there are more.

    Raises
    ------
    MessagesError
        A route answered with an error (a bad filter, a table that cannot be read).
    """
    found: list[dict[str, Any]] = []
    more = False
    for project in _projects(reader, query.project):
        token: str | None = None
        listed = 0
        while True:
            size = min(PAGE, query.limit - listed)
            answer = _checked(
                reader.list_messages(project, query.query_string(limit=size, page_token=token))
            )
            page = answer.body["messages"]
            found += page
            listed += len(page)
            token = answer.body.get("next_page_token")
            if token is None or listed >= query.limit:
                more |= token is not None
                break
    found.sort(key=lambda message: str(message["created_at"]), reverse=True)
    return found[: query.limit], more or len(found) > query.limit


def find_message(
    reader: StatusReader, message_id: str, project: str | None
) -> list[dict[str, Any]]:
    """The message ``message_id`` with its dispatches: in ``project``, or in every project that
    has it.

    Raises
    ------
    MessagesError
        No project has it (the message names where it looked), or a route refused.
    """
    projects = _projects(reader, project)
    found = []
    for name in projects:
        answer = reader.get_message(name, message_id)
        if answer.error_id != "message_not_found":
            found.append(_checked(answer).body)
    if not found:
        where = (
            f"project {project}"
            if project
            else f"any project ({', '.join(projects) or 'none has records'})"
        )
        raise MessagesError(f"no message {message_id} in {where}")
    return found


def _projects(reader: StatusReader, project: str | None) -> list[str]:
    if project is not None:
        return [project]
    projects: list[str] = _checked(reader.projects()).body["projects"]
    return projects


def _checked(answer: Answer) -> Answer:
    if answer.status != 200:
        raise MessagesError(f"{answer.status} {answer.error_id}: {answer.error_message}")
    return answer


_COLUMNS = ("id", "project", "template type", "recipient", "status", "sends", "updated (UTC)")


def message_table(messages: Sequence[dict[str, Any]]) -> list[str]:
    """One line per message, under a header."""
    rows = [_COLUMNS] + [
        (
            str(message["id"]),
            str(message["project_id"]),
            message["template_type"] or "-",
            message["recipient"] or "-",
            str(message["status"]),
            str(message["send_count"]),
            _time(message["updated_at"]),
        )
        for message in messages
    ]
    return _aligned(rows)


def message_lines(message: dict[str, Any]) -> list[str]:
    """A message, then one line per dispatch, oldest first."""
    lines = [
        f"message     {message['id']}",
        f"project     {message['project_id']}",
        f"template    {message['template_type'] or '-'}",
        f"recipient   {message['recipient'] or '-'}",
        f"status      {message['status']}",
        f"sends       {message['send_count']}",
        f"created     {message['created_at']}",
        f"updated     {message['updated_at']}",
        f"last error  {message['last_error_code'] or '-'}",
        f"Message-ID  {message['smtp_message_id'] or '-'}",
        "",
    ]
    dispatches = message.get("dispatches") or []
    if not dispatches:
        return [*lines, "no dispatches"]
    header = ("#", "time (UTC)", "status", "step", "reply", "error", "Message-ID", "queue id")
    rows = [header] + [
        (
            str(dispatch["attempt"]),
            _time(dispatch["created_at"], precise=True),
            str(dispatch["status"]),
            dispatch["step"] or "-",
            _reply(dispatch),
            (dispatch.get("error") or {}).get("code") or "-",
            dispatch["smtp_message_id"] or "-",
            dispatch["queue_id"] or "-",
        )
        for dispatch in dispatches
    ]
    lines += _aligned(rows)
    errors: dict[tuple[str, str], list[str]] = {}
    for dispatch in dispatches:
        error = dispatch.get("error") or {}
        if error.get("message"):
            text = " ".join(str(error["message"]).split())
            errors.setdefault((str(error["code"]), text), []).append(str(dispatch["attempt"]))
    lines += [f"  {', '.join(n)}: {code}: {text}" for (code, text), n in errors.items()]
    return lines


def json_text(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def _reply(dispatch: dict[str, Any]) -> str:
    code, text = dispatch.get("reply_code"), dispatch.get("reply")
    reply = " ".join(str(part) for part in (code, text) if part is not None)
    return " ".join(reply.split()) or "-"


def _time(value: Any, *, precise: bool = False) -> str:
    """``2026-12-01T11:38:05.123456Z`` as ``2026-12-01 11:38:05`` (``.123`` when precise)."""
    text = str(value or "-")
    if len(text) < 19:
        return text
    return text[:10] + " " + text[11 : 23 if precise else 19]


def _aligned(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[n]) for row in rows) for n in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
