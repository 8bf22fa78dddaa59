"""One invocation of the deployed handler in a process of its own, measured.

``python -m bench.invoke --event EVENT.json --timeout 60 --out RESULT.json`` is what a Lambda
execution environment does with one SQS event: import the handler module (init), then call
``lambda_handler`` once. It notes the call's wall-clock time, the peak RSS after init and after
the call, and counts every AWS API call of the call by service and operation, with a botocore
``before-call`` handler installed the way moto installs its own (before any session exists), so
the handler's clients need no change. It imports nothing else that allocates: the event is
prepared by :mod:`bench.batch`, and AWS is a moto server in another process (``AWS_ENDPOINT_URL``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import resource
import time
from collections import Counter
from pathlib import Path
from typing import Any

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
    parser.add_argument("--event", type=Path, required=True)
    parser.add_argument("--timeout", type=float, required=True)
    parser.add_argument("--out", type=Path, required=True)
    options = parser.parse_args(argv)

    calls: Counter[tuple[str, str]] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[(model.service_model.service_name, model.name)] += 1

    from botocore.handlers import BUILTIN_HANDLERS

    BUILTIN_HANDLERS.append(("before-call", count))

    from local.lambda_context import LocalLambdaContext

    event = json.loads(options.event.read_text(encoding="utf-8"))
    module, _, function = options.handler.rpartition(".")
    handler = getattr(importlib.import_module(module), function)  # Lambda's init
    context = LocalLambdaContext(
        os.environ["AWS_LAMBDA_FUNCTION_NAME"], timeout_seconds=options.timeout
    )
    before = peak_rss_kb()
    calls.clear()
    started = time.perf_counter()
    response = handler(event, context)
    seconds = time.perf_counter() - started
    after = peak_rss_kb()

    by_service: dict[str, dict[str, int]] = {}
    for (service, operation), number in sorted(calls.items()):
        by_service.setdefault(service, {})[operation] = number
    result = {
        "messages": len(event["Records"]),
        "rss_before_kb": before,
        "rss_after_kb": after,
        "calls": by_service,
        "failures": len(response["batchItemFailures"]),
        "seconds": seconds,
    }
    options.out.write_text(json.dumps(result), encoding="utf-8")


if __name__ == "__main__":
    main()
