"""``up``'s console: one whole line per outcome, the projects it offers (the token-login ones
too), and the servers' tracebacks only when asked."""

from __future__ import annotations

import json
import logging
import re
import smtplib
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from local.cli import quiet_servers
from local.invoke import InvokeResult
from local.mailservers import MODES
from local.poller import BatchReport
from local.smtpd import ReceivedMessage, SmtpServer
from local.up import batch_lines, mail_line, project_lines

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


XOAUTH2_URI = "smtp://no-reply%40xoauth2.courier.example@127.0.0.1:40117/?auth=xoauth2"
OAUTHBEARER_URI = "smtps://no-reply%40oauthbearer.courier.example@127.0.0.1:40118/?auth=oauthbearer"


def test_up_lists_the_token_login_projects_after_the_modes() -> None:
    # GIVEN the projects' URIs as the stack seeded them (the modes' redacted)
    uris = {mode.name: f"smtp://courier:***@127.0.0.1:{40110 + mode.number}/" for mode in MODES}
    uris |= {"xoauth2": XOAUTH2_URI, "oauthbearer": OAUTHBEARER_URI}

    # WHEN up lists them
    lines = project_lines(uris, prefix="/courier")

    # THEN the six modes' projects, then the token-login ones: each with its server's mode, its
    # URI, its mechanism and where its token comes from (said by SSM; no secret printed)
    assert lines[0] == "  SMTP servers and their projects (SSM /courier/<project>/...):"
    assert [line.split()[-1] for line in lines[1:7]] == [
        "default",
        *(mode.name for mode in MODES[1:]),
    ]
    assert lines[7] == (
        "  token-login servers and their projects (no password: a token, as SSM "
        "/courier/<project>/smtp/oauth2 says):"
    )
    assert [re.split(r"\s{2,}", line.strip()) for line in lines[8:]] == [
        [
            "1 STARTTLS, verified",
            XOAUTH2_URI,
            "xoauth2 (XOAUTH2, a token by client credentials, as Microsoft 365)",
        ],
        [
            "4 implicit TLS, verified",
            OAUTHBEARER_URI,
            "oauthbearer (OAUTHBEARER, a token by a service account's JWT, as Google Workspace)",
        ],
    ]


def test_a_token_login_mail_line_names_the_project_and_the_login() -> None:
    # GIVEN a mail the xoauth2 project's server took after an XOAUTH2 login, and one of mode 4
    def received(mechanism: str, login: str) -> ReceivedMessage:
        return ReceivedMessage(
            mail_from=login,
            rcpt_tos=("ada@example.org",),
            content=b"",
            tls_version="TLSv1.3",
            auth_login=login,
            auth_mechanism=mechanism,
        )

    token = received("XOAUTH2", "no-reply@xoauth2.courier.example")
    password = received("PLAIN", "courier")

    # WHEN up prints them
    lines = [
        mail_line(Path("/out/mail/01-xoauth2-ada_example.org.eml"), "xoauth2", token),
        mail_line(Path("/out/mail/02-smtps-ada_example.org.eml"), "smtps", password),
    ]

    # THEN the token login's line says so; a mode's line is as it was
    assert lines == [
        "mail via xoauth2 (mode 1, STARTTLS, verified; XOAUTH2 login as "
        "no-reply@xoauth2.courier.example): /out/mail/01-xoauth2-ada_example.org.eml",
        "mail via mode 4 (implicit TLS, verified): /out/mail/02-smtps-ada_example.org.eml",
    ]
