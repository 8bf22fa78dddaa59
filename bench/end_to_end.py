"""The warm handler, end to end, against (a) a new connection per message and (b) the floor.

Two batch shapes, both through the delaying proxy (:mod:`bench.network`, ``delay`` each way)
to one STARTTLS + AUTH server that offers PIPELINING:

* **b10**: one project (the stack's default sender), 10 messages;
* **p10**: 10 projects with a connection URI of their own each (an account each on the same
  server), one message each.

Each shape's events are real SQS events (:class:`bench.aws.BenchAws`: queued in moto, received
as the event source mapping would), keys unique per run. :mod:`bench.warm` runs them in one
process with the function's Lambda environment: SSM and SQS from moto, DynamoDB from
:mod:`bench.dynamodb` (``AWS_ENDPOINT_URL_DYNAMODB``), the status table on as deployed, the
system trust store plus the benchmark's CA. (a) and (b) run in the same process, interleaved
with the handler; each ratio is the median of the ratios paired by repetition.

Example
-------
>>> runs = measure(aws, endpoints, trust=trust, repeat=7, directory=scratch)  # doctest: +SKIP
>>> figures, notes = summarize(runs, delay=0.010)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.aws import BenchAws
from bench.batch import run_child
from bench.environment import FUNCTION, TrustStore, invocation_environment
from bench.network import PROJECTS, Endpoints, smtp_uri
from bench.profiling import Row, summary
from bench.report import Figure, Target, median
from bench.workload import message_bodies
from local.stack import load_template

__all__ = [
    "FLOOR_TARGET",
    "SHAPES",
    "SPEEDUP_TARGETS",
    "HandlerRuns",
    "Shape",
    "floor_round_trips",
    "measure",
    "summarize",
]

SPEEDUP_TARGETS = {"b10": Target("at_least", 5), "p10": Target("at_least", 8)}
FLOOR_TARGET = Target("at_most", 1.3)
VCPU_MB = 1769
"""Lambda's memory size that gets one whole vCPU; smaller ones get that share of one."""
OPEN_ROUND_TRIPS = 7
"""A session's opening through the proxy: TCP and the greeting (2), EHLO, STARTTLS, the TLS 1.3
handshake, EHLO, AUTH (1 each)."""


@dataclass(frozen=True)
class Shape:
    """A batch: which project each of its messages is for (``None``: the default project)."""

    name: str
    projects: tuple[str | None, ...]
    floor: bool
    """Whether (b) applies: one project, so one pipelined session can carry the batch."""


SHAPES = (
    Shape("b10", (None,) * 10, floor=True),
    Shape("p10", PROJECTS, floor=False),
)


def floor_round_trips(messages: int) -> int:
    """Round trips of (b): the opening, MAIL+RCPT+DATA, one per message, QUIT."""
    return OPEN_ROUND_TRIPS + 1 + messages + 1


@dataclass(frozen=True)
class HandlerRuns:
    """What :mod:`bench.warm` measured, and what the in-memory DynamoDB saw meanwhile."""

    runs: dict[str, dict[str, list[float]]]
    """Shape → way (``a``, ``b``, ``b_sessions``, ``handler``) → seconds of each repetition."""
    cpu: dict[str, dict[str, list[float]]]
    """The same runs' CPU seconds (the measuring process's, every thread)."""
    invocations: dict[str, list[dict[str, Any]]]
    """Shape → each counted invocation's seconds, AWS calls and seconds in them."""
    sessions: dict[str, int]
    """Shape → SMTP sessions the handler opened for it (its warm-up invocation)."""
    delivered: int
    """Messages that reached the server (warm-ups and the profiled run included)."""
    unpipelined: int
    """Of those, the ones (a) sent, without pipelining."""
    dynamodb_calls: dict[str, list[float]]
    """Kind of call → seconds of each, one after another, from a client of that process."""
    profile: list[Row]
    profiled: dict[str, Any]
    dynamodb_answers: dict[str, list[float]]
    """Operation → the endpoint's own seconds for each answer."""
    trust_certificates: int
    trust_source: str
    memory_mb: int
    """The function's ``MemorySize``."""


def measure(
    aws: BenchAws, endpoints: Endpoints, *, trust: TrustStore, repeat: int, directory: Path
) -> HandlerRuns:
    """``repeat`` interleaved repetitions of each shape (:mod:`bench.warm`).

    Parameters
    ----------
    aws:
        Started; the projects' URIs are stored here.
    endpoints:
        The far side (its proxied port is used).
    trust:
        The :class:`~bench.environment.TrustStore`.
    repeat:
        Repetitions of each shape.
    directory:
        Where the plan and the result go.
    """
    aws.put_connection_uri(None, endpoints.proxied_uri)
    for project in PROJECTS:
        aws.put_connection_uri(project, smtp_uri(endpoints.proxy_port, project=project))
    function = load_template()["Resources"][FUNCTION]["Properties"]
    shapes = []
    for shape in SHAPES:
        bodies = message_bodies(
            len(shape.projects), tag=f"{shape.name}-ref", projects=shape.projects
        )
        shapes.append(
            {
                "name": shape.name,
                "floor": shape.floor,
                "mails": [
                    {
                        "project": project,
                        "uri": smtp_uri(endpoints.proxy_port, project=project),
                        "default_uri": endpoints.proxied_uri,
                        "body": body,
                    }
                    for project, body in zip(shape.projects, bodies, strict=True)
                ],
                "warmup": _event(aws, shape, "warmup"),
                "events": [_event(aws, shape, str(run)) for run in range(repeat)],
            }
        )
    variables = function["Environment"]["Variables"]
    plan = {
        "handler": function["Handler"],
        "timeout": function["Timeout"],
        "smtp_port": endpoints.proxy_port,
        "tables": {
            "idempotency": variables["COURIER_IDEMPOTENCY_TABLE"]["Ref"],
            "status": variables["COURIER_STATUS_TABLE"]["Ref"],
        },
        "repeat": repeat,
        "shapes": shapes,
        "profile": _event(aws, SHAPES[0], "profile"),
    }
    plan_file, out = directory / "warm-plan.json", directory / "warm-result.json"
    plan_file.write_text(json.dumps(plan), encoding="utf-8")
    environment = invocation_environment(aws.child_environment(), trust=trust.path)
    result = run_child(
        [sys.executable, "-m", "bench.warm", "--plan", str(plan_file), "--out", str(out)],
        environment,
        out,
        what="the warm runs",
    )
    return HandlerRuns(
        **result,
        dynamodb_answers=aws.dynamodb.stats(),
        trust_certificates=trust.certificates,
        trust_source=trust.source,
        memory_mb=int(function.get("MemorySize", 128)),
    )


def _event(aws: BenchAws, shape: Shape, run: str) -> dict[str, Any]:
    tag = f"{shape.name}-{run}"
    return aws.event(message_bodies(len(shape.projects), tag=tag, projects=shape.projects))


def _paired(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    return [n / d for n, d in zip(numerators, denominators, strict=True)]


def _spread(values: Sequence[float], *, scale: float = 1000, digits: int = 0) -> str:
    return "/".join(f"{v * scale:.{digits}f}" for v in (min(values), median(values), max(values)))


def summarize(
    runs: HandlerRuns, *, delay: float, round_trip: float
) -> tuple[list[Figure], list[str]]:
    """The speedups and the floor ratios (medians of ratios paired by repetition), and the
    notes: each way's min/median/max, the round trips, the AWS calls and the profile."""
    figures: list[Figure] = []
    notes: list[str] = []
    rtt = 2 * delay
    for shape in SHAPES:
        ways = runs.runs[shape.name]
        speedups = _paired(ways["a"], ways["handler"])
        figures.append(
            _figure(f"handler_speedup_{shape.name}", speedups, SPEEDUP_TARGETS[shape.name])
        )
        sessions = runs.sessions[shape.name]
        line = (
            f"{shape.name} ({len(shape.projects)} messages, {len(set(shape.projects))} "
            f"project(s); the handler opened {sessions} SMTP session(s)), ms min/median/max over "
            f"{len(speedups)} repetitions: handler {_spread(ways['handler'])}, (a) per message "
            f"{_spread(ways['a'])}"
        )
        if shape.floor:
            floors = _paired(ways["handler"], ways["b"])
            figures.append(_figure("floor_ratio", floors, FLOOR_TARGET))
            trips = floor_round_trips(len(shape.projects))
            line += (
                f", (b) floor {_spread(ways['b'])} ({trips} round trips = "
                f"{trips * rtt * 1000:.0f} ms at 2 x {delay * 1000:g} ms)"
            )
            if "b_sessions" in ways:
                same = _paired(ways["handler"], ways["b_sessions"])
                figures.append(_figure("floor_ratio_same_sessions", same, None))
                line += f", (b) over {sessions} sessions side by side {_spread(ways['b_sessions'])}"
        notes.append(line)
    notes.append(
        f"a round trip through the proxy (median NOOP): {round_trip * 1000:.1f} ms "
        f"(2 x {delay * 1000:g} ms + {(round_trip - rtt) * 1000:.1f} ms of relaying)"
    )
    notes.append(_cpu_note(runs))
    return figures, notes + _aws_notes(runs) + _profile_notes(runs)


def _cpu_note(runs: HandlerRuns) -> str:
    by_shape = "; ".join(
        f"{shape}: "
        + ", ".join(f"{way} {median(seconds) * 1000:.0f}" for way, seconds in ways.items())
        for shape, ways in runs.cpu.items()
    )
    handler = median(runs.cpu["b10"]["handler"])
    share = min(1.0, runs.memory_mb / VCPU_MB)
    return (
        f"CPU time of the measuring process, median ms ({by_shape}); all of it on this "
        f"machine's cores: Lambda gives a {runs.memory_mb} MB function {share:.0%} of a vCPU "
        f"({VCPU_MB} MB get one), where the b10 handler's {handler * 1000:.0f} ms of CPU alone "
        f"would take about {handler / share * 1000:.0f} ms (not measured)"
    )


def _figure(name: str, ratios: Sequence[float], target: Target | None) -> Figure:
    return Figure(name, median(ratios), target=target, low=min(ratios), high=max(ratios))


def _aws_notes(runs: HandlerRuns) -> list[str]:
    b10 = runs.invocations["b10"]
    listed = "; ".join(
        f"{service} " + ", ".join(f"{operation} {n}" for operation, n in operations.items())
        for service, operations in b10[-1]["calls"].items()
    )
    in_flight = median(i["aws_in_flight"].get("dynamodb", 0.0) for i in b10)
    costs = ", ".join(
        f"{kind} {median(seconds) * 1000:.2f}" for kind, seconds in runs.dynamodb_calls.items()
    )
    answers = [s for seconds in runs.dynamodb_answers.values() for s in seconds]
    ssm = sum(1 for i in b10 + runs.invocations["p10"] if i["calls"].get("ssm"))
    return [
        f"AWS calls of a warm b10 invocation: {listed}; DynamoDB calls in flight during "
        f"{in_flight * 1000:.0f} ms of its {median(i['seconds'] for i in b10) * 1000:.0f} ms "
        "(medians)",
        "DynamoDB: the benchmark's in-memory endpoint (bench/dynamodb.py), not moto; a call "
        f"costs a client of the handler's process, one after another, median ms of "
        f"{len(next(iter(runs.dynamodb_calls.values())))}: {costs} (botocore's work, HTTP on "
        f"loopback and the answer); of which the endpoint's own time, median of all "
        f"{len(answers)} answers: {median(answers) * 1000:.2f} ms. AWS's in-region latency "
        "(a few ms a call) is not included",
        f"SSM: {ssm} of the {len(b10) + len(runs.invocations['p10'])} counted invocations read "
        "a configuration (from moto: POWERTOOLS_PARAMETERS_MAX_AGE had expired)",
        f"trust store: {runs.trust_certificates} certificates ({runs.trust_source} + the "
        "benchmark's CA), for the handler and the references alike",
    ]


def _profile_notes(runs: HandlerRuns) -> list[str]:
    return [
        f"profile of one warm b10 invocation under cProfile ({runs.profiled['seconds'] * 1000:.0f}"
        " ms; every thread; cumulative times include waits, for the network and the GIL, and "
        f"overlap across threads), cumulative ms: {summary(runs.profile)}"
    ]
