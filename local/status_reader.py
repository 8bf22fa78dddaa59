"""The message status records, read by the bundle's own code: the class behind the HTTP API.

The routes ``GET /projects/{project_id}/courier/messages`` and ``.../messages/{id}`` are
answered by :class:`courier.status_api.MessageStatusApi` in the config validator. As
:mod:`local.render` does for the sender, :class:`StatusReader` runs that class in a child
process that has the validator's code folder, layers and environment (its
``COURIER_STATUS_TABLE`` as the template resolves it) and nothing of this one's:
``python -m local.status_reader``. The child builds the API as the validator's handler does
(``MessageStatusApi(table_name=StackSettings.from_environment().status_table)``), so every
answer is a route's own ``(status, body)``; nothing here queries the table another way.

One child serves a reader's whole life: one JSON request a line on its stdin, one answer a line
on its stdout.

Example
-------
>>> with StatusReader(stack.function(VALIDATOR), extra_env=stack.child_environment()) as reader:
...     reader.get_message("smtps", message_id).body["status"]  # doctest: +SKIP
'delivered'
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from local.template import FunctionSpec

__all__ = ["VALIDATOR", "Answer", "StatusReader", "StatusReaderError", "main"]

VALIDATOR = "ConfigValidatorFunction"
"""The function that serves the status routes."""


class StatusReaderError(Exception):
    """The child that reads the status records failed (its stderr is in the message)."""


@dataclass(frozen=True)
class Answer:
    """A route's answer: the HTTP status and the JSON body."""

    status: int
    body: dict[str, Any]

    @property
    def error_id(self) -> str | None:
        """The error's ``id`` (``message_not_found``, ``status_not_configured``, ...)."""
        error = self.body.get("error")
        return str(error.get("id")) if isinstance(error, dict) else None

    @property
    def error_message(self) -> str:
        error = self.body.get("error")
        return str(error.get("message", "")) if isinstance(error, dict) else ""


class StatusReader:
    """The status routes' code, in a child process with the validator's environment.

    Parameters
    ----------
    spec:
        The config validator, resolved (:data:`VALIDATOR`): its layers hold ``courier``.
    extra_env:
        On top of its environment: the local AWS endpoint and region.
    """

    def __init__(self, spec: FunctionSpec, *, extra_env: Mapping[str, str]) -> None:
        self._spec = spec
        self._extra_env = dict(extra_env)
        self._child: subprocess.Popen[str] | None = None

    def __enter__(self) -> Self:
        from local.invoke import runtime_environment

        self._child = subprocess.Popen(
            [sys.executable, "-m", "local.status_reader"],
            cwd=self._spec.code_dir,
            env=runtime_environment(self._spec, extra_env=self._extra_env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        return self

    def __exit__(self, *exc_info: object) -> None:
        child, self._child = self._child, None
        if child is None:
            return
        assert child.stdin is not None
        child.stdin.close()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        for stream in (child.stdout, child.stderr):
            if stream is not None:
                stream.close()

    def list_messages(self, project_id: str, query: str) -> Answer:
        """``GET /projects/{project_id}/courier/messages?{query}``."""
        return self._ask(["list", project_id, query])

    def get_message(self, project_id: str, message_id: str) -> Answer:
        """``GET /projects/{project_id}/courier/messages/{message_id}``."""
        return self._ask(["get", project_id, message_id])

    def projects(self) -> Answer:
        """The projects that have records (``{"projects": [...]}``): the routes are per project,
        so this says which to ask. Only the index's keys are read, never a record."""
        return self._ask(["projects"])

    def _ask(self, request: list[str]) -> Answer:
        child = self._child
        if child is None or child.stdin is None or child.stdout is None:
            raise RuntimeError("use the reader in a with block")
        try:
            child.stdin.write(json.dumps(request) + "\n")
            child.stdin.flush()
            line = child.stdout.readline()
        except OSError:
            line = ""
        if not line:
            child.kill()
            stderr = child.stderr.read() if child.stderr is not None else ""
            raise StatusReaderError(f"the status reader ended: {stderr.strip() or 'no output'}")
        status, body = json.loads(line)
        return Answer(status=int(status), body=body)


def main() -> int:
    """The child: ``["list", project, query]``, ``["get", project, id]`` or ``["projects"]``
    a line on stdin; ``[status, body]`` a line on stdout."""
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # anything the code prints goes to stderr, not into the answers
    from courier.stack import StackSettings
    from courier.status_api import MessageStatusApi

    settings = StackSettings.from_environment()
    api = MessageStatusApi(table_name=settings.status_table)  # as the validator's handler
    for line in sys.stdin:
        kind, *arguments = json.loads(line)
        if kind == "list":
            answer = api.list_messages(*arguments)
        elif kind == "get":
            answer = api.get_message(*arguments)
        else:
            answer = _projects(api, settings.default_project)
        answers.write(json.dumps(list(answer)) + "\n")
        answers.flush()
    return 0


def _projects(api: Any, default_project: str) -> tuple[int, dict[str, Any]]:
    """The project ids of the ``by_project`` index's keys (a keys-only scan, with boto3's own
    client: the validator's knows only the calls courier makes, :mod:`courier.aws_session`)."""
    import boto3

    from courier.status import PROJECT_INDEX

    if api.table_name is None:  # the routes' own answer for a stack without the table
        answer: tuple[int, dict[str, Any]] = api.list_messages(default_project, "")
        return answer
    projects: set[str] = set()
    arguments: dict[str, Any] = {
        "TableName": api.table_name,
        "IndexName": PROJECT_INDEX,
        "ProjectionExpression": "project_id",
    }
    try:
        client = boto3.session.Session().client("dynamodb")
        while True:
            page = client.scan(**arguments)
            projects |= {item["project_id"]["S"] for item in page.get("Items", [])}
            if "LastEvaluatedKey" not in page:
                break
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    except Exception as exc:  # boto's errors, as the routes report them
        message = f"the status table: {type(exc).__name__}"
        return 503, {"error": {"code": 503, "id": "status_unavailable", "message": message}}
    return 200, {"projects": sorted(projects)}


if __name__ == "__main__":
    sys.exit(main())
