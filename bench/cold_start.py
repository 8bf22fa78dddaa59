"""Cold start: importing the sender's handler module in a fresh interpreter, against boto3 alone.

Each measurement is a new process with the environment Lambda gives the function
(:func:`bench.environment.lambda_environment`: tracing on, the layer on ``PYTHONPATH``). The
child times only its ``import`` statement, so the interpreter's own start (the same for both)
is left out. The two imports alternate, and the ratio is the median of the pairs' ratios (the
figure's min / max are the pairs' smallest and largest).

What the handler leaves to its first invocation is not in this figure: its AWS clients (each
made where it is first used), Jinja2, email-validator and the X-Ray SDK (each imported by the
first template, address and invocation), Go template support. :mod:`bench.first_invocation`
keeps the first invocation within its bound of the warm ones, so the two figures together bound
a cold start: what leaves the import is only worth it where the first invocation spends it
while it waits for the network anyway (the DynamoDB client and Jinja2 are first needed while
the SMTP sessions open).

:func:`import_profile` runs ``python -X importtime`` once and sums each top-level package's own
import time, which shows where the handler's cold start goes.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from bench.environment import ROOT
from bench.report import Figure, Target, median

__all__ = ["IMPORT_TARGET", "ColdStart", "import_profile", "measure", "summarize", "time_import"]

IMPORT_TARGET = Target("at_most", 1.5)

_TIMED_IMPORT = (
    "import time; start = time.perf_counter(); import {module}; print(time.perf_counter() - start)"
)
_IMPORTTIME = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


@dataclass(frozen=True)
class ColdStart:
    """Median import times (seconds) and the median ratio of the pairs."""

    handler: float
    boto3: float
    ratio: float
    runs: int
    ratios: tuple[float, ...] = ()
    """Each pair's ratio, in the order measured."""


def time_import(module: str, environment: Mapping[str, str]) -> float:
    """Seconds ``import module`` takes in a fresh interpreter."""
    result = subprocess.run(  # noqa: S603 (our interpreter, no shell)
        [sys.executable, "-c", _TIMED_IMPORT.format(module=module)],
        env=dict(environment),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"import {module} failed:\n{result.stderr}")
    return float(result.stdout.strip().splitlines()[-1])


def measure(environment: Mapping[str, str], *, handler: str, runs: int) -> ColdStart:
    """Time ``import handler`` and ``import boto3``, alternating, ``runs`` times each.

    One import of each runs first and is not counted (it writes the bytecode caches a deployed
    layer would ship).
    """
    time_import(handler, environment)
    time_import("boto3", environment)
    pairs: list[tuple[float, float]] = []
    for run in range(runs):
        if run % 2:
            baseline = time_import("boto3", environment)
            pairs.append((time_import(handler, environment), baseline))
        else:
            pairs.append((time_import(handler, environment), time_import("boto3", environment)))
    ratios = tuple(h / b for h, b in pairs)
    return ColdStart(
        handler=median(h for h, _ in pairs),
        boto3=median(b for _, b in pairs),
        ratio=median(ratios),
        runs=runs,
        ratios=ratios,
    )


def import_profile(module: str, environment: Mapping[str, str]) -> list[tuple[str, float]]:
    """Seconds of ``import module`` by top-level package (own time of its modules, summed),
    largest first. A module's own time includes running its body."""
    result = subprocess.run(  # noqa: S603 (our interpreter, no shell)
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        env=dict(environment),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    by_package: Counter[str] = Counter()
    for line in result.stderr.splitlines():
        if match := _IMPORTTIME.match(line):
            by_package[match[4].split(".")[0]] += int(match[1])
    return [(package, micros / 1e6) for package, micros in by_package.most_common()]


def summarize(
    cold: ColdStart, profile: list[tuple[str, float]], *, handler: str
) -> tuple[list[Figure], list[str]]:
    """The ``cold_import_ratio`` figure and the notes that say where the time goes."""
    top = ", ".join(f"{package} {seconds * 1000:.0f}" for package, seconds in profile[:10])
    low, high = (min(cold.ratios), max(cold.ratios)) if cold.ratios else (None, None)
    figure = Figure("cold_import_ratio", cold.ratio, target=IMPORT_TARGET, low=low, high=high)
    spread = f" (pairs {low:.2f} to {high:.2f})" if low is not None and high is not None else ""
    return [figure], [
        f"cold import, fresh interpreter, median of {cold.runs}: import {handler} "
        f"{cold.handler * 1000:.0f} ms, import boto3 {cold.boto3 * 1000:.0f} ms, ratio "
        f"{cold.ratio:.2f}{spread}",
        f"import {handler}, own time by top-level package in ms (-X importtime; a module's own "
        f"time includes running its body): {top}",
    ]
