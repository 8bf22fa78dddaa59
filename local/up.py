"""``python -m local up``: the local stack and the queue's event source mapping, until Ctrl-C.

It prints the endpoints, the SMTP servers' URIs and their projects (the token-login ones with
the local token endpoint their tokens come from; no secret is printed), then one line per batch
the sender ran, one per message outcome (whole, with the sender's hint) and one per mail a
server accepted. While it
runs, ``workdir/session.json`` tells ``python -m local invoke`` and ``python -m local send``
where it is, and ``workdir/sam-env-vars.json`` is an ``--env-vars`` file for the real ``sam
local invoke`` (:mod:`local.sam_env`); mail is kept in ``workdir/mail`` with an ``index.html``
preview. Every path it records or prints is absolute: the functions run in their code folder.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

from local.mailbox import Mailbox
from local.mailservers import MODES, TOKEN_LOGINS, SmtpFleet
from local.poller import BatchReport, EventSourceMapping
from local.projects import DEFAULT_SENDER_MODE
from local.sam_env import (
    SAM_ENV_FILE,
    ignored_by_sam,
    sam_env_vars,
    sam_invoke_command,
    write_sam_env_vars,
)
from local.sandbox import SENDER, LocalStack
from local.smtpd import ReceivedMessage
from local.summary import record_outcomes
from local.template import default_template

__all__ = ["READY_LINE", "batch_lines", "mail_line", "project_lines", "run_up"]

READY_LINE = "courier local stack is up"
"""The first line ``up`` prints once everything listens (scripts may wait for it)."""

_SIGNAL_CHECK_SECONDS = 0.25
"""How often the main thread wakes to run a pending SIGINT or SIGTERM handler."""


def run_up(
    *,
    template: Path,
    parameter_overrides: Mapping[str, str],
    env_vars: Mapping[str, Mapping[str, str]],
    workdir: Path,
    region: str = "us-east-1",
    retry_backoff: int | None = None,
    verbose: bool = False,
) -> int:
    """Run until interrupted (SIGINT or SIGTERM); return the exit status.

    Parameters
    ----------
    template:
        The SAM template.
    parameter_overrides, env_vars:
        As ``sam local invoke``'s ``--parameter-overrides`` and ``--env-vars``.
    workdir:
        Where the session, the CA bundle, the ``--env-vars`` file and the mail go (made
        absolute here).
    region:
        The functions' region.
    retry_backoff:
        ``COURIER_RETRY_BACKOFF_BASE_SECONDS`` (``None``: the template's 30 s).
    verbose:
        Also write a failed invocation's whole log to stderr (else one line with its error).
    """
    workdir = workdir.resolve()
    stopped = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def saved(path: Path, server: str, message: ReceivedMessage) -> None:
        mailbox.write_preview()
        print(mail_line(path, server, message), flush=True)

    mailbox = Mailbox(workdir / "mail", on_saved=saved)
    extra = {"COURIER_RETRY_BACKOFF_BASE_SECONDS": str(retry_backoff)} if retry_backoff else {}
    session_file = workdir / "session.json"
    env_file = workdir / SAM_ENV_FILE
    with LocalStack(
        workdir=workdir,
        template=template,
        parameter_overrides=parameter_overrides,
        env_vars=env_vars,
        mailbox=mailbox,
        extra_env=extra,
        region=region,
    ) as stack:
        mapping = stack.event_source_mapping(on_batch=lambda report: _batch(report, verbose))
        mapping.start()
        stack.session().write(session_file)
        mailbox.write_preview()
        try:
            _write_sam_env(stack, env_file)
            _print_endpoints(stack, mapping, retry_backoff, env_file)
            # A signal may reach any thread, and Python runs its handler in the main thread
            # only once that thread runs again: an untimed wait could miss Ctrl-C for good.
            while not stopped.wait(timeout=_SIGNAL_CHECK_SECONDS):
                pass
            print("\nstopping ...", flush=True)
        finally:
            session_file.unlink(missing_ok=True)
            env_file.unlink(missing_ok=True)
            mapping.stop()
    return 0


def _write_sam_env(stack: LocalStack, path: Path) -> None:
    session = stack.session()
    document = sam_env_vars(
        stack.template,
        endpoint_url=session.endpoint_url,
        region=stack.region,
        resource_values=session.resource_values,
        parameter_overrides=stack.parameter_overrides,
        env_vars=stack.env_vars,
        extra_env=stack.extra_env,
    )
    write_sam_env_vars(path, document)


def _print_endpoints(
    stack: LocalStack, mapping: EventSourceMapping, retry_backoff: int | None, env_file: Path
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
        f"  token login   {stack.fleet.token_endpoint.token_url}  (OAuth 2.0 token endpoint, "
        "certificate from the CA bundle)",
        *project_lines(
            stack.project_uris, prefix=spec.environment.get("COURIER_SSM_PREFIX") or "/courier"
        ),
    ]
    mail_dir = stack.mailbox.directory if stack.mailbox else "-"
    built = default_template(Path.cwd()).resolve()
    command = sam_invoke_command(
        env_file, region=stack.region, template=None if stack.template == built else stack.template
    )
    lines += [
        f"  mail          {mail_dir}/*.eml, preview {mail_dir}/index.html",
        f"  sam (Docker)  --env-vars {env_file}",
        *_sam_notes(stack),
        "try:",
        "  python -m local invoke SenderFunction -e events/sender/recovery-code.json",
        '  python -m local send \'{"project_id": "smtps", "recipient": "ada@example.org", '
        '"template_type": "login_code_valid", "template_data": {"login_code": "123456"}}\'',
        '  python -m local send \'{"project_id": "xoauth2", "recipient": "ada@example.org", '
        '"template_type": "login_code_valid", "template_data": {"login_code": "123456"}}\'',
        f"  {command}",
    ]
    print("\n".join(lines), flush=True)


def project_lines(project_uris: Mapping[str, str], *, prefix: str) -> list[str]:
    """The projects ``up`` offers, by server: one line per mode (its URI, redacted, and its
    project), then one per token-login project (its URI, which has no password, and where its
    token comes from; the settings' secrets stay in SSM).

    Parameters
    ----------
    project_uris:
        Each project's redacted URI (:attr:`LocalStack.project_uris`).
    prefix:
        The stack's ``SsmPrefix``.
    """
    lines = [f"  SMTP servers and their projects (SSM {prefix}/<project>/...):"]
    title_width = max(len(mode.title) for mode in MODES)
    uri_width = max(len(project_uris[mode.name]) for mode in MODES)
    for mode in MODES:
        project = mode.name + (" and default" if mode.name == DEFAULT_SENDER_MODE else "")
        uri = project_uris[mode.name]
        lines.append(
            f"    {mode.number} {mode.title:<{title_width}}  {uri:<{uri_width}}  {project}"
        )
    lines.append(
        "  token-login servers and their projects (no password: a token, as SSM "
        f"{prefix}/<project>/smtp/oauth2 says):"
    )
    title_width = max(len(login.mode.title) for login in TOKEN_LOGINS)
    uri_width = max(len(project_uris[login.project]) for login in TOKEN_LOGINS)
    for login in TOKEN_LOGINS:
        mode, uri = login.mode, project_uris[login.project]
        lines.append(
            f"    {mode.number} {mode.title:<{title_width}}  {uri:<{uri_width}}  {login.project} "
            f"({login.mechanism}, a token by {login.source}, as {login.provider})"
        )
    return lines


def _sam_notes(stack: LocalStack) -> list[str]:
    """What ``sam local invoke`` would not take from the file (only ``AWS_ENDPOINT_URL``
    matters: the command line passes the keys and the region)."""
    ignored = ignored_by_sam(
        stack.template,
        {SENDER: {"AWS_ENDPOINT_URL": ""}},
        parameter_overrides=stack.parameter_overrides,
    )
    if not ignored:
        return []
    return [
        f"                (sam local invoke ignores its AWS_ENDPOINT_URL: {stack.template.name} "
        f"does not declare it for {SENDER})"
    ]


def batch_lines(report: BatchReport, *, verbose: bool = False) -> list[str]:
    """What ``up`` prints for a batch: a line for the batch, then one per message outcome,
    each whole (the sender's hint included) and on one line.

    Parameters
    ----------
    report:
        The batch.
    verbose:
        Leave out the failed invocation's error message (its whole log goes to stderr).
    """
    handed_back = len(report.failed_ids)
    done = len(report.message_ids) - handed_back
    error = f", invoke failed: {report.error_type}" if report.error_type else ""
    lines = [
        f"batch of {len(report.message_ids)}: {done} done, {handed_back} back on the queue{error}"
    ]
    payload = report.result.payload
    if report.error_type and not verbose and isinstance(payload, dict):
        message = " ".join(str(payload.get("errorMessage", "")).split())
        lines.append(f"  {message} (--verbose for the function's log)")
    outcomes = record_outcomes(report)
    for message_id in report.message_ids:
        if message_id in outcomes:
            outcome = " ".join(outcomes[message_id].split())
            lines.append(f"  {message_id[:8]}  {outcome}")
    return lines


def _batch(report: BatchReport, verbose: bool) -> None:
    print("\n".join(batch_lines(report, verbose=verbose)), flush=True)
    if report.error_type and verbose:
        sys.stderr.write(report.result.logs)


def mail_line(path: Path, server: str, message: ReceivedMessage) -> str:
    """What ``up`` prints for a mail a server accepted: the server's mode and, from a
    token-login project's server, the project and the login the server took."""
    mode = SmtpFleet.mode(server)
    if SmtpFleet.token_login(server) is None:
        return f"mail via mode {mode.number} ({mode.title}): {path}"
    login = f"{message.auth_mechanism} login as {message.auth_login}"
    return f"mail via {server} (mode {mode.number}, {mode.title}; {login}): {path}"
