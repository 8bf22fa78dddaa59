"""Invocations of the deployed handler in a process of its own, measured.

``python -m bench.invoke --event E1.json [--event E2.json ...] --timeout 60 --out RESULT.json``
is what a Lambda execution environment does with SQS events: import the handler module (init),
then call ``lambda_handler`` once per event, in order; the first call is a cold start's first
invocation, the later ones are warm (``--profile``: the first one under :mod:`cProfile`, its
functions with the most cumulative time in the result). For each call it notes the wall-clock
time, the process's CPU time, the peak RSS before and after it, and every AWS API call it made
(:class:`bench.aws_calls.AwsCalls`, counted and timed by service and operation, installed
before any session exists, so the handler's clients need no change). It imports nothing else
that allocates: the events are prepared by the benchmark, and AWS runs in another process
(``AWS_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_DYNAMODB``).
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import json
import os
import re
import resource
import time
from pathlib import Path
from typing import Any

from bench.aws_calls import AwsCalls
from bench.profiling import top

__all__ = ["main", "peak_rss_kb"]


def peak_rss_kb() -> int:
    """This process's peak resident set size, in KiB.

    Linux's ``VmHWM``, the peak of this process's own memory. ``getrusage().ru_maxrss`` would
    do, but Linux carries the parent's peak into it through ``exec``: a child of the benchmark
    (which holds moto and more) would start at the parent's size.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            if found := re.search(r"^VmHWM:\s+(\d+) kB", status.read(), re.MULTILINE):
                return int(found[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.invoke", description=__doc__)
    parser.add_argument("--handler", required=True, help="module.function")
    parser.add_argument("--event", type=Path, action="append", required=True)
    parser.add_argument("--timeout", type=float, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--profile", action="store_true", help="the first invocation under cProfile"
    )
    options = parser.parse_args(argv)

    aws = AwsCalls()
    aws.install()

    from local.lambda_context import LocalLambdaContext

    events = [json.loads(path.read_text(encoding="utf-8")) for path in options.event]
    module, _, function = options.handler.rpartition(".")
    handler = getattr(importlib.import_module(module), function)  # Lambda's init
    invocations: list[dict[str, Any]] = []
    profiler = cProfile.Profile() if options.profile else None
    for event in events:
        context = LocalLambdaContext(
            os.environ["AWS_LAMBDA_FUNCTION_NAME"], timeout_seconds=options.timeout
        )
        before = peak_rss_kb()
        aws.clear()
        if profiler is not None and not invocations:
            profiler.enable()
        started, cpu_started = time.perf_counter(), time.process_time()
        response = handler(event, context)
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        if profiler is not None and not invocations:
            profiler.disable()
        after = peak_rss_kb()
        invocations.append(
            {
                "messages": len(event["Records"]),
                "rss_before_kb": before,
                "rss_after_kb": after,
                **aws.snapshot(),
                "failures": len(response["batchItemFailures"]),
                "seconds": seconds,
                "cpu_seconds": cpu_seconds,
            }
        )
    result: dict[str, Any] = {"invocations": invocations}
    if profiler is not None:
        result["profile"] = top(profiler)
    options.out.write_text(json.dumps(result), encoding="utf-8")


if __name__ == "__main__":
    main()
