"""Fixtures of the fault suite: the real sender, moto, and scripted hostile SMTP servers."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
import trustme

from courier.observability import metrics
from local.stack import StackResources
from tests.faults.harness import FaultBench


@pytest.fixture
def bench(stack: StackResources, ca: trustme.CA, trust_test_ca: None) -> Iterator[FaultBench]:
    metrics.clear_metrics()
    bench = FaultBench(stack=stack, ca=ca)
    yield bench
    bench.stop()
    metrics.clear_metrics()


@pytest.fixture
def outcomes(courier_logs: io.StringIO) -> OutcomeLog:
    return OutcomeLog(courier_logs)


class OutcomeLog:
    """The sender's per-message outcome lines, read back from its JSON logs."""

    def __init__(self, stream: io.StringIO) -> None:
        self._stream = stream

    def lines(self) -> list[dict[str, object]]:
        lines = []
        for line in self._stream.getvalue().splitlines():
            if line.startswith("{"):
                lines.append(json.loads(line))
        return lines

    def codes(self, outcome: str) -> list[object]:
        """The ``error_code`` of each message logged as ``outcome`` (``retried`` ...)."""
        return [
            line.get("error_code")
            for line in self.lines()
            if str(line.get("message", "")).startswith(f"message {outcome}")
        ]

    def text(self) -> str:
        return self._stream.getvalue()
