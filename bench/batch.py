"""Memory and AWS calls of one 100-message batch, handled end to end by the deployed handler.

For each run, moto's server (:class:`local.aws.EmbeddedAws`, in this process) gets the
stack's queues and table from ``template.yaml`` (:mod:`local.stack`) and the default sender's
URI in SSM (the loopback SMTP server of :mod:`bench.network`, without delay); the messages are
queued and received as one SQS event, as the event source mapping would. Then
:mod:`bench.invoke` handles that event in a fresh process with the function's Lambda
environment (tracing on, the full trust store: :func:`bench.environment.invocation_environment`)
and ``AWS_ENDPOINT_URL`` pointing at moto: its peak RSS after init and after the batch, and
the AWS calls the batch made. DynamoDB is moto's here (these figures count calls and bytes, not
time; :mod:`bench.status_overhead` times them on purpose with moto's cost: see its notes).

moto runs outside the measured process on purpose: in process (``mock_aws``), moto's import
and the setup push the peak RSS above anything the batch adds, and the difference reads 0.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.environment import FUNCTION, REGION, ROOT, invocation_environment, lambda_environment
from bench.network import Endpoints
from bench.report import Figure, Target, median
from bench.workload import message_bodies
from local.aws import EmbeddedAws

__all__ = [
    "RSS_TARGET",
    "SSM_TARGET",
    "BatchFigures",
    "BatchResult",
    "invoke_events",
    "measure",
    "run_batch",
    "run_child",
    "summarize",
]

RSS_TARGET = Target("at_most", 60, " MB")
SSM_TARGET = Target("at_most", 2)


@dataclass(frozen=True)
class BatchResult:
    """What :mod:`bench.invoke` measured in one run."""

    messages: int
    rss_before_kb: int
    rss_after_kb: int
    calls: dict[str, dict[str, int]]
    """API calls during the batch: service → operation → count."""
    aws_seconds: dict[str, float]
    """Seconds in those calls, by service, summed."""
    aws_in_flight: dict[str, float]
    """Seconds during which a call of the service was in flight."""
    failures: int
    seconds: float
    """The handler's call, wall clock."""
    cpu_seconds: float
    """The CPU time of the handler's process during the call (every thread)."""

    @property
    def extra_mb(self) -> float:
        return (self.rss_after_kb - self.rss_before_kb) / 1024

    def calls_per_100(self, service: str) -> float:
        return sum(self.calls.get(service, {}).values()) * 100 / self.messages


@dataclass(frozen=True)
class BatchFigures:
    """Medians over the runs."""

    extra_mb: float
    init_mb: float
    """Peak RSS after the handler's init, before the batch."""
    calls_per_100: dict[str, float]
    calls: dict[str, dict[str, int]]
    """The last run's calls by operation."""
    runs: int


def measure(
    endpoints: Endpoints, *, trust: str, messages: int, runs: int, directory: Path
) -> BatchFigures:
    """Handle a batch of ``messages`` ``runs`` times, each in a fresh process."""
    with EmbeddedAws(region=REGION) as aws:
        results = [
            run_batch(
                aws,
                endpoints,
                trust=trust,
                messages=messages,
                directory=directory,
                name=f"memory-{run}",
            )
            for run in range(runs)
        ]
    services = sorted({service for result in results for service in result.calls})
    return BatchFigures(
        extra_mb=median(result.extra_mb for result in results),
        init_mb=median(result.rss_before_kb / 1024 for result in results),
        calls_per_100={s: median(r.calls_per_100(s) for r in results) for s in services},
        calls=results[-1].calls,
        runs=runs,
    )


def run_batch(
    aws: EmbeddedAws,
    endpoints: Endpoints,
    *,
    trust: str,
    messages: int,
    directory: Path,
    name: str,
    extra_env: Mapping[str, str] | None = None,
) -> BatchResult:
    """One batch of ``messages``, end to end, from an empty AWS, handled in a fresh process.

    Parameters
    ----------
    aws:
        moto's server (reset here).
    endpoints:
        The SMTP server (its undelayed port is used).
    trust:
        The trust store's file (``SSL_CERT_FILE``).
    messages:
        The batch's size.
    directory:
        Where the event and the result go (``{name}-event.json``, ``{name}-result.json``).
    name:
        The run's name.
    extra_env:
        On top of the function's environment (e.g. ``COURIER_STATUS_TABLE`` empty).

    Raises
    ------
    RuntimeError
        The invocation failed, or not every message was delivered.
    """
    aws.reset()  # each run starts from an empty AWS
    dead_letter_queue_url, event = _queued_batch(aws, endpoints, messages)
    event_file = directory / f"{name}-event.json"
    event_file.write_text(json.dumps(event), encoding="utf-8")
    environment = invocation_environment(
        {**aws.child_environment(), "COURIER_DLQ_URL": dead_letter_queue_url},
        trust=trust,
        extra=extra_env,
    )
    answer = invoke_events([event_file], directory / f"{name}-result.json", environment)
    (invocation,) = answer["invocations"]
    result = BatchResult(**invocation)
    if result.failures:
        raise RuntimeError(f"{result.failures} of {messages} messages were not delivered")
    return result


def invoke_events(
    event_files: list[Path], out: Path, environment: Mapping[str, str], *, profile: bool = False
) -> dict[str, Any]:
    """Run :mod:`bench.invoke` on ``event_files`` in a fresh process: ``invocations``, one
    result per event, in order (the first is the process's first invocation), and with
    ``profile`` the first one's ``profile`` (:func:`bench.profiling.top`).

    Raises
    ------
    RuntimeError
        The process failed.
    """
    from local.stack import load_template

    function = load_template()["Resources"][FUNCTION]["Properties"]
    command = [
        *(sys.executable, "-m", "bench.invoke", "--handler", str(function["Handler"])),
        *("--timeout", str(function["Timeout"]), "--out", str(out)),
        *(argument for path in event_files for argument in ("--event", str(path))),
        *(["--profile"] if profile else []),
    ]
    return run_child(command, environment, out, what="the invocation")


def run_child(
    command: list[str], environment: Mapping[str, str], out: Path, *, what: str
) -> dict[str, Any]:
    """Run one of the bench's own modules in a fresh process, its JSON logs and metrics
    discarded, and read the JSON it wrote to ``out``.

    Raises
    ------
    RuntimeError
        The process failed (``what`` failed, with its stderr).
    """
    process = subprocess.run(  # noqa: S603 (our own module, no shell)
        command,
        env=dict(environment),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,  # the handler's JSON logs and EMF metrics
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    if process.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{process.stderr}")
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return result


def _queued_batch(
    aws: EmbeddedAws, endpoints: Endpoints, messages: int
) -> tuple[str, dict[str, Any]]:
    """Create the stack in moto, queue ``messages``; the DLQ's URL and the SQS event."""
    from local.sqs import receive_event
    from local.stack import create_stack_resources

    sqs = aws.client("sqs")
    ssm = aws.client("ssm")
    stack = create_stack_resources(sqs=sqs, dynamodb=aws.client("dynamodb"))
    ssm.put_parameter(
        Name=lambda_environment()["COURIER_DEFAULT_CONNECTION_URI_PARAMETER"],
        Value=endpoints.direct_uri,
        Type="SecureString",
    )
    for body in message_bodies(messages):
        sqs.send_message(QueueUrl=stack.queue_url, MessageBody=body)
    records: list[dict[str, Any]] = []
    while batch := receive_event(sqs, queue_url=stack.queue_url, queue_arn=stack.queue_arn)[
        "Records"
    ]:
        records.extend(batch)
    if len(records) != messages:
        raise RuntimeError(f"received {len(records)} of {messages} messages from moto")
    return stack.dead_letter_queue_url, {"Records": records}


def summarize(batch: BatchFigures, *, messages: int) -> tuple[list[Figure], list[str]]:
    """Memory and AWS-call figures, and the calls by operation."""
    figures = [
        Figure(f"batch{messages}_rss_mb", batch.extra_mb, 1, target=RSS_TARGET),
        Figure("ssm_calls_per_100", batch.calls_per_100.get("ssm", 0.0), 0, target=SSM_TARGET),
        Figure("ddb_calls_per_100", batch.calls_per_100.get("dynamodb", 0.0), 0),
    ]
    calls = "; ".join(
        f"{service} " + ", ".join(f"{operation} {n}" for operation, n in operations.items())
        for service, operations in batch.calls.items()
    )
    return figures, [
        f"memory: peak RSS {batch.init_mb:.1f} MB after the handler's init, "
        f"+{batch.extra_mb:.1f} MB after a batch of {messages} (median of {batch.runs} fresh "
        "processes; moto's server runs in the benchmark's process, not the measured one)",
        f"AWS calls during the batch: {calls or 'none'}",
    ]
