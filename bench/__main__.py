"""``python -m bench``: every figure as a ``name: value`` line, then notes, then a table; also
written to ``bench/results.txt``.

Run it in a virtualenv without aws-sam-cli (``make bench`` makes ``.venv-bench``): aws-sam-cli
brings ``awscrt``, which makes ``import boto3`` slower than in the Lambda runtime.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench import batch, cold_start, end_to_end, first_invocation, status_overhead, validator
from bench.aws import BenchAws
from bench.environment import ROOT, handler_module, lambda_environment, trust_store
from bench.network import Network
from bench.report import figure_lines, table_lines
from bench.smtp_clients import round_trip

RESULTS = ROOT / "bench" / "results.txt"


def main(argv: Sequence[str] | None = None) -> None:
    options = _parser().parse_args(argv)
    delay = options.delay_ms / 1000
    notes = [_machine(options)]
    if importlib.util.find_spec("awscrt") is not None:
        notes.append("WARNING: awscrt is installed here: import boto3 is slower than in Lambda")

    _progress(f"cold start: {options.import_runs} fresh interpreters for each import")
    handler, environment = handler_module(), lambda_environment()
    cold = cold_start.measure(environment, handler=handler, runs=options.import_runs)
    profile = cold_start.import_profile(handler, environment)
    cold_figures, cold_notes = cold_start.summarize(cold, profile, handler=handler)
    _progress(f"config validator: {options.validator_runs} patches with 50 bad settings, 50 good")
    validator_figures, validator_notes = validator.summarize(
        validator.measure(runs=options.validator_runs)
    )

    with tempfile.TemporaryDirectory(prefix="courier-bench-") as scratch:
        directory = Path(scratch)
        network = Network(delay=delay, directory=directory)
        with network as endpoints:
            trust = trust_store(endpoints.ca_file, directory)
            with BenchAws() as aws:
                _progress(
                    f"warm handler, (a) and (b): {options.repeat} interleaved repetitions of "
                    "b10 and p10"
                )
                warm = end_to_end.measure(
                    aws, endpoints, trust=trust, repeat=options.repeat, directory=directory
                )
                _progress(f"first invocations: {options.first_processes} fresh processes")
                first = first_invocation.measure(
                    aws,
                    endpoints,
                    trust=trust,
                    processes=options.first_processes,
                    warm=options.first_warm,
                    directory=directory,
                )
            rtt = round_trip("127.0.0.1", endpoints.proxy_port)
            _progress(f"memory and AWS calls: {options.memory_runs} batches of {options.messages}")
            handled = batch.measure(
                endpoints,
                trust=trust.path,
                messages=options.messages,
                runs=options.memory_runs,
                directory=directory,
            )
            _progress(
                f"status records: {options.status_runs} pairs of batches of {options.messages}, "
                "with and without"
            )
            statuses = status_overhead.measure(
                endpoints,
                trust=trust.path,
                messages=options.messages,
                runs=options.status_runs,
                directory=directory,
            )
            far = network.close()
    count = warm.delivered + first.messages
    count += options.messages * (options.memory_runs + 2 * options.status_runs)
    if far.messages != count:
        raise SystemExit(
            f"the server accepted {far.messages} of the {count} messages sent (more: the "
            "duplicate check's records were sent again; fewer: some were lost)"
        )

    warm_figures, warm_notes = end_to_end.summarize(warm, delay=delay, round_trip=rtt)
    first_figures, first_notes = first_invocation.summarize(first)
    batch_figures, batch_notes = batch.summarize(handled, messages=options.messages)
    status_figures, status_notes = status_overhead.summarize(statuses)
    figures = warm_figures + first_figures + cold_figures + batch_figures + status_figures
    figures += validator_figures
    notes += warm_notes + first_notes
    notes.append(
        f"server: accepted all {far.messages} messages sent ({len(far.by_account)} accounts); "
        f"{far.pipelined_mail} of {far.mail_commands} MAIL commands came pipelined ((a) sent "
        f"{warm.unpipelined} without); proxy: "
        f"{far.connections} connections, each chunk written {far.mean_lateness * 1e3:.2f} ms "
        f"after due on average (max {far.max_lateness * 1e3:.1f} ms)"
    )
    notes += cold_notes + batch_notes + status_notes + validator_notes
    notes.append(f"make bench's measurements took {time.monotonic() - _START:.0f} s")

    lines = figure_lines(figures) + [""] + [f"# {note}" for note in notes] + [""]
    lines += table_lines(figures)
    print("\n".join(lines))
    options.results.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _progress(f"written to {options.results}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--delay-ms", type=float, default=10, help="one-way delay (10)")
    parser.add_argument(
        "--repeat", type=int, default=7, help="interleaved repetitions of a, b, handler (7)"
    )
    parser.add_argument(
        "--first-processes", type=int, default=7, help="fresh processes for first invocations (7)"
    )
    parser.add_argument(
        "--first-warm", type=int, default=5, help="warm invocations after each first one (5)"
    )
    parser.add_argument("--import-runs", type=int, default=9, help="cold imports of each (9)")
    parser.add_argument("--memory-runs", type=int, default=3, help="batch processes (3)")
    parser.add_argument("--messages", type=int, default=100, help="messages per batch process")
    parser.add_argument(
        "--status-runs", type=int, default=9, help="batch pairs with and without status (9)"
    )
    parser.add_argument("--validator-runs", type=int, default=21, help="validator patches (21)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where to write the lines")
    return parser


def _machine(options: argparse.Namespace) -> str:
    venv = Path(sys.prefix).name if sys.prefix != sys.base_prefix else "no venv"
    return (
        f"{time.strftime('%Y-%m-%d')}, {_cpu_model()}, {os.cpu_count()} CPUs (shared), "
        f"Linux {platform.release()}, Python {platform.python_version()} ({venv}); delay "
        f"{options.delay_ms:g} ms each way; {options.repeat} repetitions (handler figures), "
        f"{options.first_processes} processes (first invocation), {options.import_runs} "
        f"(imports), {options.memory_runs} (memory)"
    )


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


_START = time.monotonic()


def _progress(message: str) -> None:
    print(f"bench [{time.monotonic() - _START:5.0f} s]: {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
