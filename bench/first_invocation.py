"""A cold start's first invocation against the warm ones that follow it, in fresh processes.

Each process is :mod:`bench.invoke` with the handler's environment as for the warm figures
(:mod:`bench.end_to_end`: the b10 shape through the 10 ms proxy, SSM and SQS from moto,
DynamoDB in memory, the full trust store): it imports the handler, then handles
``1 + warm`` b10 events, keys unique per event. The first invocation starts with empty caches
(the project's configuration from SSM, the TLS context and its trust store, the templates,
the clients' connections); the figure is, per process, the first invocation's time ÷ the median
of the warm ones, and its median over the processes.

Example
-------
>>> runs = measure(aws, endpoints, trust=trust, processes=7, warm=5, directory=d)  # doctest: +SKIP
>>> figures, notes = summarize(runs)  # doctest: +SKIP
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.aws import BenchAws
from bench.batch import invoke_events
from bench.end_to_end import SHAPES
from bench.environment import TrustStore, invocation_environment
from bench.network import Endpoints
from bench.profiling import Row, summary
from bench.report import Figure, Target, median
from bench.workload import message_bodies

__all__ = ["FIRST_TARGET", "FirstInvocations", "measure", "summarize"]

FIRST_TARGET = Target("at_most", 1.3)


@dataclass(frozen=True)
class FirstInvocations:
    """Each process's invocations, in order (the first is the cold one)."""

    processes: list[list[dict[str, Any]]]
    profiled: dict[str, Any]
    """One more process's first invocation, under cProfile."""
    profile: list[Row]

    @property
    def ratios(self) -> list[float]:
        return [
            runs[0]["seconds"] / median(run["seconds"] for run in runs[1:])
            for runs in self.processes
        ]

    @property
    def messages(self) -> int:
        """Messages sent, the profiled run's included."""
        sent: int = sum(run["messages"] for runs in self.processes for run in runs)
        return sent + int(self.profiled["messages"])


def measure(
    aws: BenchAws,
    endpoints: Endpoints,
    *,
    trust: TrustStore,
    processes: int,
    warm: int,
    directory: Path,
) -> FirstInvocations:
    """``processes`` fresh processes of ``1 + warm`` b10 invocations each, then one more whose
    first invocation runs under :mod:`cProfile` (not counted).

    ``aws`` holds the default sender's URI through the proxy already (:func:`bench.end_to_end.
    measure` stores it).

    Raises
    ------
    RuntimeError
        A process failed, or a message was not delivered.
    """
    environment = invocation_environment(aws.child_environment(), trust=trust.path)
    results = []
    for process in range(processes):
        files = [_event_file(aws, directory, f"first-{process}-{run}") for run in range(1 + warm)]
        out = directory / f"first-{process}-result.json"
        results.append(invoke_events(files, out, environment)["invocations"])
    files = [_event_file(aws, directory, "first-profiled")]
    profiled = invoke_events(files, directory / "first-profiled.json", environment, profile=True)
    runs = FirstInvocations(results, profiled["invocations"][0], profiled["profile"])
    if failed := sum(run["failures"] for process in [*results, [runs.profiled]] for run in process):
        raise RuntimeError(f"{failed} messages were not delivered")
    return runs


def _event_file(aws: BenchAws, directory: Path, tag: str) -> Path:
    shape = SHAPES[0]
    bodies = message_bodies(len(shape.projects), tag=tag, projects=shape.projects)
    path = directory / f"{tag}.json"
    path.write_text(json.dumps(aws.event(bodies)), encoding="utf-8")
    return path


def summarize(runs: FirstInvocations) -> tuple[list[Figure], list[str]]:
    """``first_invocation_ratio``, and a note with both times and what the first one adds."""
    ratios = runs.ratios
    first = [process[0] for process in runs.processes]
    warm = [median(run["seconds"] for run in process[1:]) for process in runs.processes]

    def aws_ms(invocations: list[dict[str, Any]], service: str) -> float:
        return median(i["aws_in_flight"].get(service, 0.0) for i in invocations) * 1000

    warm_runs = [run for process in runs.processes for run in process[1:]]
    figure = Figure(
        "first_invocation_ratio",
        median(ratios),
        target=FIRST_TARGET,
        low=min(ratios),
        high=max(ratios),
    )
    return [figure], [
        f"first invocation (b10 at 10 ms, fresh process after import) "
        f"{median(r['seconds'] for r in first) * 1000:.0f} ms, warm "
        f"{median(warm) * 1000:.0f} ms (medians of {len(ratios)} processes with "
        f"{len(runs.processes[0]) - 1} warm invocations each), CPU time "
        f"{median(r['cpu_seconds'] for r in first) * 1000:.0f} ms against "
        f"{median(r['cpu_seconds'] for r in warm_runs) * 1000:.0f} ms; ratio min/median/max "
        f"{min(ratios):.2f}/{median(ratios):.2f}/{max(ratios):.2f}; AWS calls in flight, "
        "first/warm: "
        f"SSM {aws_ms(first, 'ssm'):.1f}/{aws_ms(warm_runs, 'ssm'):.1f} ms (moto), DynamoDB "
        f"{aws_ms(first, 'dynamodb'):.1f}/{aws_ms(warm_runs, 'dynamodb'):.1f} ms",
        f"profile of a first invocation under cProfile ({runs.profiled['seconds'] * 1000:.0f} "
        f"ms, one more fresh process; as for the warm one), cumulative ms: "
        f"{summary(runs.profile)}",
    ]
