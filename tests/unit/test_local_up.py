"""``up``'s console: one whole line per outcome, and the servers' tracebacks only when asked."""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
import threading
from collections.abc import Iterator

import pytest
import trustme

from local.cli import quiet_servers
from local.invoke import InvokeResult
from local.poller import BatchReport
from local.smtpd import SmtpServer
from local.up import batch_lines

HINT = (
    "If the certificate is issued for another name, set server_name=<that name>; to skip "
    "verification (not recommended) set skip_ssl_verify=true"
)
TLS_FAILURE = (
    "message retried in 30s: SMTP TLS failed at smtps://courier:***@127.0.0.1:43941/: the "
    f"certificate of 127.0.0.1 is not trusted (unable to get local issuer certificate). {HINT}"
)


def report(logs: list[dict[str, object]], *, failed: tuple[str, ...] = ()) -> BatchReport:
    ids = ("edfb7f36-8982-4833-9133-951dc30f8ebc", "0c9a7d2e-0000-4000-8000-000000000001")
    return BatchReport(
        message_ids=ids,
        failed_ids=failed,
        error_type=None,
        result=InvokeResult(
            output=json.dumps({"batchItemFailures": []}),
            logs="START RequestId: x\n" + "\n".join(json.dumps(entry) for entry in logs),
            exit_code=0,
        ),
        receive_counts=dict.fromkeys(ids, 1),
    )


def test_an_outcome_line_is_whole_with_its_hint() -> None:
    # GIVEN a batch whose first message was retried with a long cause, the second delivered
    batch = report(
        [
            {"message": TLS_FAILURE, "sqs_message_id": "edfb7f36-8982-4833-9133-951dc30f8ebc"},
            {
                "message": "message delivered",
                "sqs_message_id": "0c9a7d2e-0000-4000-8000-000000000001",
            },
        ],
        failed=("edfb7f36-8982-4833-9133-951dc30f8ebc",),
    )

    # WHEN up prints it
    lines = batch_lines(batch)

    # THEN one line for the batch, then one per outcome, each whole (the hint at its end)
    assert lines == [
        "batch of 2: 1 done, 1 back on the queue",
        f"  edfb7f36  {TLS_FAILURE.removeprefix('message ')}",
        "  0c9a7d2e  delivered",
    ]
    assert len(lines[1]) > 150
    assert lines[1].endswith(HINT)


def test_a_failed_invocation_is_one_line_unless_verbose() -> None:
    # GIVEN a batch whose invocation failed (the handler could not be imported)
    failed = BatchReport(
        message_ids=("m1",),
        failed_ids=("m1",),
        error_type="Runtime.ImportModuleError",
        result=InvokeResult(
            output=json.dumps(
                {
                    "errorType": "Runtime.ImportModuleError",
                    "errorMessage": "Unable to import module 'app':\nbad setting",
                }
            ),
            logs="Traceback (most recent call last):\n  ...\n",
            exit_code=1,
        ),
        receive_counts={"m1": 1},
    )

    # WHEN up prints it, with and without --verbose
    quiet = batch_lines(failed)
    verbose = batch_lines(failed, verbose=True)

    # THEN the error on one line (the log is for --verbose, which writes it to stderr)
    assert quiet == [
        "batch of 1: 0 done, 1 back on the queue, invoke failed: Runtime.ImportModuleError",
        "  Unable to import module 'app': bad setting (--verbose for the function's log)",
    ]
    assert verbose == quiet[:1]


@pytest.fixture
def mail_log() -> Iterator[logging.Logger]:
    logger = logging.getLogger("mail.log")
    level = logger.level
    yield logger
    logger.setLevel(level)


class _Recorded(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.traceback = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        if record.exc_info:
            self.traceback.set()


def test_the_servers_tracebacks_show_only_with_verbose(mail_log: logging.Logger) -> None:
    # GIVEN a STARTTLS server whose certificate the client does not trust
    certificate = trustme.CA().issue_cert("127.0.0.1")
    recorded = _Recorded()
    mail_log.addHandler(recorded)
    try:
        with SmtpServer(listener="starttls", certificate=certificate) as server:
            # WHEN a client gives up on its handshake, with --verbose
            quiet_servers(verbose=True)
            with smtplib.SMTP(server.host, server.port, timeout=5) as client:
                client.ehlo()
                with pytest.raises(ssl.SSLCertVerificationError):
                    client.starttls(context=ssl.create_default_context())

            # THEN aiosmtpd's traceback is logged
            assert recorded.traceback.wait(timeout=10)
    finally:
        mail_log.removeHandler(recorded)

    # ... and without --verbose its log is off: not even an error gets through
    quiet_servers(verbose=False)
    assert not mail_log.isEnabledFor(logging.CRITICAL)
