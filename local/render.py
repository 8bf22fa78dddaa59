"""The subject each queue message renders to, by the bundle's own code (for the demo's page).

A message the server refused (a 550 at RCPT) was rendered by the sender but never arrived, so
no ``.eml`` file has its subject. :func:`rendered_subjects` renders such messages again, as the
sender does (``courier.message.parse_message``, then ``courier.templates.render`` with ``to``
set to the recipient), in a child process that has the function's code folder and layers on
its path and nothing of this one's: ``python -m local.render``. The built-in templates are used
(the demo projects override none).

Example
-------
>>> rendered_subjects(stack.function("SenderFunction"), [body, "not json"])  # doctest: +SKIP
['Recover access to your account', None]
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from local.template import FunctionSpec

__all__ = ["main", "rendered_subjects"]

_TIMEOUT_SECONDS = 30


def rendered_subjects(spec: FunctionSpec, bodies: Sequence[str]) -> list[str | None]:
    """The subject of each message body; ``None`` for one that does not render (not JSON, not
    the schema, a template error), or for all when the child fails.

    Parameters
    ----------
    spec:
        The sender, resolved: its layers hold the ``courier`` package.
    bodies:
        The messages, as put on the queue.
    """
    from local.invoke import runtime_environment

    if not bodies:
        return []
    try:
        done = subprocess.run(
            [sys.executable, "-m", "local.render"],
            cwd=spec.code_dir,
            env=runtime_environment(spec),
            input=json.dumps(list(bodies)),
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=_TIMEOUT_SECONDS,
            check=False,
        )
        subjects = json.loads(done.stdout) if done.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, ValueError):
        subjects = None
    if not isinstance(subjects, list) or len(subjects) != len(bodies):
        return [None] * len(bodies)
    return [subject if isinstance(subject, str) else None for subject in subjects]


def main() -> int:
    """The child: a JSON list of bodies on stdin, the list of their subjects on stdout."""
    from courier.message import parse_message
    from courier.templates import render

    subjects: list[str | None] = []
    for body in json.loads(sys.stdin.read()):
        try:
            message = parse_message(body)
            if message.template_type is not None:
                data = {"to": message.recipient, **message.template_data}
                subjects.append(render(message.template_type, data).subject)
            else:
                subjects.append(message.subject)
        except Exception:  # any message that does not render has no subject
            subjects.append(None)
    sys.stdout.write(json.dumps(subjects))
    return 0


if __name__ == "__main__":
    sys.exit(main())
