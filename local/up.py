"""``python -m local up``: the local stack and the queue's event source mapping, until Ctrl-C.

It prints the endpoints and the SMTP servers' URIs, then one line per batch the sender ran and
per mail a server accepted. While it runs, ``workdir/session.json`` tells ``python -m local
invoke`` and ``python -m local send`` where it is; mail is kept in ``workdir/mail`` with an
``index.html`` preview.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

from local.mailbox import Mailbox
from local.mailservers import MODES, Mode
from local.poller import BatchReport, EventSourceMapping
from local.projects import DEFAULT_SENDER_MODE
from local.sandbox import SENDER, LocalStack
from local.summary import record_outcomes

__all__ = ["READY_LINE", "run_up"]

READY_LINE = "courier local stack is up"
"""The first line ``up`` prints once everything listens (scripts may wait for it)."""


def run_up(
    *,
    template: Path,
    parameter_overrides: Mapping[str, str],
    env_vars: Mapping[str, Mapping[str, str]],
    workdir: Path,
    region: str = "us-east-1",
    retry_backoff: int | None = None,
) -> int:
    """Run until interrupted (SIGINT or SIGTERM); return the exit status."""
    stopped = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    mailbox = Mailbox(workdir / "mail", on_saved=lambda path, mode: _mail_line(mailbox, path, mode))
    extra = {"COURIER_RETRY_BACKOFF_BASE_SECONDS": str(retry_backoff)} if retry_backoff else {}
    session_file = workdir / "session.json"
    with LocalStack(
        workdir=workdir,
        template=template,
        parameter_overrides=parameter_overrides,
        env_vars=env_vars,
        mailbox=mailbox,
        extra_env=extra,
        region=region,
    ) as stack:
        mapping = stack.event_source_mapping(on_batch=_batch_line)
        mapping.start()
        stack.session().write(session_file)
        mailbox.write_preview()
        try:
            _print_endpoints(stack, mapping, retry_backoff)
            stopped.wait()
            print("\nstopping ...", flush=True)
        finally:
            session_file.unlink(missing_ok=True)
            mapping.stop()
    return 0


def _print_endpoints(
    stack: LocalStack, mapping: EventSourceMapping, retry_backoff: int | None
) -> None:
    resources = stack.stack
    spec = stack.function(SENDER)
    source = mapping.source
    lines = [
        f"{READY_LINE} (Ctrl-C to stop)",
        f"  template      {stack.template}",
        f"  AWS (moto)    AWS_ENDPOINT_URL={stack.aws.endpoint_url}  "
        f"AWS_DEFAULT_REGION={stack.region}  (any access keys)",
        f"  queue         {resources.queue_url}",
        f"                -> {SENDER} ({spec.handler}, {spec.runtime}): BatchSize "
        f"{source.batch_size}, ReportBatchItemFailures {source.report_batch_item_failures}, "
        f"{mapping.workers} poller(s)",
        f"  DLQ           {resources.dead_letter_queue_url}  "
        f"(maxReceiveCount {resources.max_receive_count})",
        f"  table         {resources.idempotency_table}",
        f"  retries       first after {retry_backoff or 30} s"
        + ("" if retry_backoff else " (--retry-backoff 1 for a quick one)"),
        f"  CA bundle     SSL_CERT_FILE={stack.fleet.ca_bundle}",
        f"  SMTP account  {stack.fleet.username} / {stack.fleet.password}",
        "  SMTP servers and their projects (SSM "
        f"{spec.environment.get('COURIER_SSM_PREFIX', '/courier')}/<project>/...):",
    ]
    title_width = max(len(mode.title) for mode in MODES)
    uri_width = max(len(uri) for uri in stack.project_uris.values())
    for mode in MODES:
        project = mode.name + (" and default" if mode.name == DEFAULT_SENDER_MODE else "")
        uri = stack.project_uris[mode.name]
        lines.append(
            f"    {mode.number} {mode.title:<{title_width}}  {uri:<{uri_width}}  {project}"
        )
    mail_dir = stack.mailbox.directory if stack.mailbox else "-"
    lines += [
        f"  mail          {mail_dir}/*.eml, preview {mail_dir}/index.html",
        "try:",
        "  python -m local invoke SenderFunction -e events/sender/recovery-code.json",
        '  python -m local send \'{"project_id": "smtps", "recipient": "ada@example.org", '
        '"template_type": "login_code_valid", "template_data": {"login_code": "123456"}}\'',
    ]
    print("\n".join(lines), flush=True)


def _batch_line(report: BatchReport) -> None:
    handed_back = len(report.failed_ids)
    done = len(report.message_ids) - handed_back
    error = f", invoke failed: {report.error_type}" if report.error_type else ""
    lines = [
        f"batch of {len(report.message_ids)}: {done} done, {handed_back} back on the queue{error}"
    ]
    outcomes = record_outcomes(report)
    for message_id in report.message_ids:
        if message_id in outcomes:
            lines.append(f"  {message_id[:8]}  {outcomes[message_id][:150]}")
    print("\n".join(lines), flush=True)
    if report.error_type:
        sys.stderr.write(report.result.logs)


def _mail_line(mailbox: Mailbox, path: Path, mode: Mode) -> None:
    mailbox.write_preview()
    print(f"mail via mode {mode.number} ({mode.title}): {path}", flush=True)
