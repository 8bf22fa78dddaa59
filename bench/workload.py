"""What the benchmarks send: the sample recovery-code message of ``events/``, to many recipients."""

from __future__ import annotations

import json
from typing import Any

from bench.environment import ROOT

__all__ = ["SAMPLE_EVENT", "message_bodies"]

SAMPLE_EVENT = ROOT / "events" / "sender" / "recovery-code.json"


def message_bodies(count: int, *, tag: str = "bench") -> list[str]:
    """``count`` SQS bodies: the sample message, each to its own recipient with its own id."""
    event = json.loads(SAMPLE_EVENT.read_text(encoding="utf-8"))
    sample: dict[str, Any] = json.loads(event["Records"][0]["body"])
    return [
        json.dumps({**sample, "id": f"{tag}-{n}", "recipient": f"user{n}@example.org"})
        for n in range(count)
    ]
