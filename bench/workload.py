"""What the benchmarks send: the sample recovery-code message of ``events/``, to many recipients."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from bench.environment import ROOT

__all__ = ["SAMPLE_EVENT", "message_bodies"]

SAMPLE_EVENT = ROOT / "events" / "sender" / "recovery-code.json"


def message_bodies(
    count: int, *, tag: str = "bench", projects: Sequence[str | None] | None = None
) -> list[str]:
    """``count`` SQS bodies: the sample message, each to its own recipient with its own id
    (``{tag}-{n}``: the idempotency key's part), for the default project or for
    ``projects[n]``."""
    event = json.loads(SAMPLE_EVENT.read_text(encoding="utf-8"))
    sample: dict[str, Any] = json.loads(event["Records"][0]["body"])
    bodies = []
    for n in range(count):
        body = {**sample, "id": f"{tag}-{n}", "recipient": f"user{n}@example.org"}
        if projects is not None and projects[n] is not None:
            body["project_id"] = projects[n]
        bodies.append(json.dumps(body))
    return bodies
