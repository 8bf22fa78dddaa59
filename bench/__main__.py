"""``python -m bench``: every figure as a ``name: value`` line, then a table; also written to
``bench/results.txt``.

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

from bench import batch, cold_start, status_overhead, throughput, validator
from bench.environment import ROOT, handler_module, lambda_environment
from bench.network import Network
from bench.report import figure_lines, table_lines

RESULTS = ROOT / "bench" / "results.txt"


def main(argv: Sequence[str] | None = None) -> None:
    options = _parser().parse_args(argv)
    delay = options.delay_ms / 1000
    batches = sorted({int(size) for size in options.batches.split(",")})
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
        network = Network(delay=delay, directory=Path(scratch))
        with network as endpoints:
            os.environ["SSL_CERT_FILE"] = endpoints.ca_file  # trust the far side's CA
            os.environ.pop("SSL_CERT_DIR", None)
            _progress(f"throughput: batches of {batches}, both ways, x{options.repeat}")
            sent = throughput.measure(
                endpoints.proxied_uri,
                undelayed_uri=endpoints.direct_uri,
                batches=batches,
                repeat=options.repeat,
            )
            _progress(f"memory and AWS calls: {options.memory_runs} batches of {options.messages}")
            handled = batch.measure(
                endpoints,
                messages=options.messages,
                runs=options.memory_runs,
                directory=Path(scratch),
            )
            _progress(
                f"status records: {options.status_runs} pairs of batches of {options.messages}, "
                "with and without"
            )
            statuses = status_overhead.measure(
                endpoints,
                messages=options.messages,
                runs=options.status_runs,
                directory=Path(scratch),
            )
            far = network.close()
    count = sum(run.batch for run in [*sent.runs, sent.undelayed])
    count += options.messages * (options.memory_runs + 2 * options.status_runs)
    if far.messages != count:
        raise SystemExit(f"the server accepted {far.messages} of the {count} messages sent")

    throughput_figures, throughput_notes = throughput.summarize(sent, delay=delay)
    batch_figures, batch_notes = batch.summarize(handled, messages=options.messages)
    status_figures, status_notes = status_overhead.summarize(statuses)
    figures = throughput_figures + cold_figures + batch_figures + status_figures
    figures += validator_figures
    notes += throughput_notes
    notes.append(
        f"proxy: {far.connections} connections, each chunk written {far.mean_lateness * 1e3:.2f}"
        f" ms after due on average (max {far.max_lateness * 1e3:.1f} ms)"
    )
    notes += cold_notes + batch_notes + status_notes + validator_notes

    lines = figure_lines(figures) + [""] + [f"# {note}" for note in notes] + [""]
    lines += table_lines(figures)
    print("\n".join(lines))
    options.results.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _progress(f"written to {options.results}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--delay-ms", type=float, default=10, help="one-way delay (10)")
    parser.add_argument("--batches", default="10,100", help="batch sizes (10,100)")
    parser.add_argument("--repeat", type=int, default=3, help="throughput repetitions (3)")
    parser.add_argument("--import-runs", type=int, default=9, help="cold imports of each (9)")
    parser.add_argument("--memory-runs", type=int, default=3, help="batch processes (3)")
    parser.add_argument("--messages", type=int, default=100, help="messages per batch process")
    parser.add_argument(
        "--status-runs", type=int, default=5, help="batch pairs with and without status (5)"
    )
    parser.add_argument("--validator-runs", type=int, default=21, help="validator patches (21)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where to write the lines")
    return parser


def _machine(options: argparse.Namespace) -> str:
    venv = Path(sys.prefix).name if sys.prefix != sys.base_prefix else "no venv"
    return (
        f"{time.strftime('%Y-%m-%d')}, Python {platform.python_version()} ({venv}), "
        f"{os.cpu_count()} CPUs (shared), delay {options.delay_ms:g} ms each way, "
        f"medians of {options.repeat} (throughput), {options.import_runs} (imports), "
        f"{options.memory_runs} (memory)"
    )


_START = time.monotonic()


def _progress(message: str) -> None:
    print(f"bench [{time.monotonic() - _START:5.0f} s]: {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
