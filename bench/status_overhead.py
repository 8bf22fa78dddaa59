"""What the message status records cost: the handler's time for a batch with them ÷ without.

Each run is :func:`bench.batch.run_batch`'s: a batch of 100 messages from an empty AWS (moto's
server in the benchmark's process), handled end to end by the deployed handler in a fresh
process (SSM, DynamoDB idempotency, the loopback SMTP server without delay, so the SMTP part is
as small as it gets and the status writes weigh the most). *With* is the function's environment
as the template sets it (``COURIER_STATUS_TABLE`` = the table); *without* sets
``COURIER_STATUS_TABLE`` empty, which the sender reads as unset: no status table, no status
calls (each run's AWS calls are checked for that). The two alternate, one pair a run, the order
swapped every other pair; the figure is the median of the paired ratios.

DynamoDB is moto's here, as when the figure was defined (not :mod:`bench.dynamodb`'s in-memory
endpoint, as for the handler's figures): moto's few milliseconds per status call stand in for
DynamoDB's latency, which the in-memory endpoint leaves out.

Example
-------
>>> runs = measure(endpoints, trust=trust, messages=100, runs=5, directory=d)  # doctest: +SKIP
>>> figures, notes = summarize(runs)  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.batch import BatchResult, run_batch
from bench.environment import REGION
from bench.network import Endpoints
from bench.report import Figure, Target, median
from local.aws import EmbeddedAws

__all__ = ["STATUS_TARGET", "WITHOUT_STATUS", "StatusRuns", "measure", "summarize"]

STATUS_TARGET = Target("at_most", 1.1)
WITHOUT_STATUS = {"COURIER_STATUS_TABLE": ""}
"""The sender's environment on top of the template's, for the runs without status records."""
_STATUS_WRITES = "BatchWriteItem"


@dataclass(frozen=True)
class StatusRuns:
    """The paired runs, in the order they were measured within each pair."""

    with_status: list[BatchResult]
    without: list[BatchResult]

    @property
    def ratios(self) -> list[float]:
        return [a.seconds / b.seconds for a, b in zip(self.with_status, self.without, strict=True)]


def measure(
    endpoints: Endpoints, *, trust: str, messages: int, runs: int, directory: Path
) -> StatusRuns:
    """``runs`` pairs of batches of ``messages``, with and without status records.

    Raises
    ------
    RuntimeError
        A run with status records wrote none, or one without wrote some.
    """
    with_status: list[BatchResult] = []
    without: list[BatchResult] = []
    with EmbeddedAws(region=REGION) as aws:
        for run in range(runs):
            for recorded in (True, False) if run % 2 == 0 else (False, True):
                result = run_batch(
                    aws,
                    endpoints,
                    trust=trust,
                    messages=messages,
                    directory=directory,
                    name=f"status-{'on' if recorded else 'off'}-{run}",
                    extra_env=None if recorded else WITHOUT_STATUS,
                )
                writes = result.calls.get("dynamodb", {}).get(_STATUS_WRITES, 0)
                if bool(writes) != recorded:
                    state = "with" if recorded else "without"
                    raise RuntimeError(f"a run {state} status records made {writes} status writes")
                (with_status if recorded else without).append(result)
    return StatusRuns(with_status=with_status, without=without)


def summarize(runs: StatusRuns) -> tuple[list[Figure], list[str]]:
    """``status_overhead_ratio``, and a note with the spread and the calls the records add."""
    ratios = runs.ratios
    ratio = median(ratios)
    with_ms = median(r.seconds * 1000 for r in runs.with_status)
    without_ms = median(r.seconds * 1000 for r in runs.without)
    messages = runs.with_status[0].messages
    added = _added_calls(runs.with_status[-1], runs.without[-1])
    figure = Figure(
        "status_overhead_ratio", ratio, 2, target=STATUS_TARGET, low=min(ratios), high=max(ratios)
    )
    return [figure], [
        f"status records: a batch of {messages} takes {with_ms:.0f} ms with them, "
        f"{without_ms:.0f} ms without (medians); the paired ratio min/median/max "
        f"{min(ratios):.3f}/{ratio:.3f}/{max(ratios):.3f} over {len(ratios)} pairs, alternating; "
        f"the calls they add: {added or 'none'}"
    ]


def _added_calls(with_status: BatchResult, without: BatchResult) -> str:
    added = []
    for service, operations in with_status.calls.items():
        for operation, number in operations.items():
            extra = number - without.calls.get(service, {}).get(operation, 0)
            if extra:
                added.append(f"{service} {operation} {extra:+d}")
    return ", ".join(added)
