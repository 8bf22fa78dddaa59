"""``send_test_to`` against real servers: the connection check goes on past AUTH and sends a
test mail (MAIL, RCPT, DATA, then QUIT), each step reported with the server's reply; a refusal
at any of them is reported with the step, the reply and the fix. aiosmtpd for the well-behaved
server, the scripted raw-socket server for replies aiosmtpd cannot give. The configuration
comes from SSM (moto)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
import trustme

from courier.config import DEFAULT_FROM_ADDRESS
from courier.validation import ValidationResponse
from local.smtpd import Faults
from tests.conftest import StartServer
from tests.faults.scripted_smtpd import Event, Mode, Reply, ScriptedSmtpServer
from tests.integration.test_validator_probe import (  # the fixture, shared
    CANARY,
    COURIER,
    DEFAULT_PARAMETER,
    TLS_VERSIONS,
    URI,
    Validate,
    steps,
    validate,  # noqa: F401
)

TO = "ada@example.org"
SENDER = {"from_address": "hello@acme.example", "from_name": "Acme", "headers": {"X-Stream": "a"}}
SES_REFUSAL = (
    "554 Message rejected: Email address is not verified. The following identities failed the "
    "check in region US-EAST-1: hello@acme.example"
)
SENDER_FIX = (
    "the provider does not accept this sender: verify the from_address with the provider "
    "(Amazon SES: verify the identity) or change smtp.from_address"
)
SESSION = {
    "starttls": ["connect", "EHLO", "TLS", "EHLO", "AUTH", "MAIL", "RCPT", "DATA"],
    "smtps": ["connect", "TLS", "EHLO", "AUTH", "MAIL", "RCPT", "DATA"],
}

StartScripted = Callable[..., ScriptedSmtpServer]


def sender_settings(smtp: dict[str, Any] = SENDER) -> list[dict[str, Any]]:
    """The patch that gives acme its own sender settings."""
    return [{"op": "add", "path": f"{COURIER}/smtp/{key}", "value": v} for key, v in smtp.items()]


def uri_of(port: int, mode: str) -> str:
    scheme = "smtps" if mode == "smtps" else "smtp"
    return f"{scheme}://user:{CANARY}@127.0.0.1:{port}/"


def use_as_default_sender(port: int) -> None:
    """The stack's default sender: an implicit-TLS server on ``port``."""
    boto3.client("ssm").put_parameter(
        Name=DEFAULT_PARAMETER, Value=uri_of(port, "smtps"), Type="SecureString"
    )


def failed_step(response: ValidationResponse) -> dict[str, Any]:
    assert response["connection"] is not None
    last = dict(response["connection"]["steps"][-1])
    assert last["ok"] is False
    return last


@pytest.fixture
def start_scripted(ca: trustme.CA, trust_test_ca: None) -> Iterator[StartScripted]:
    """``start_scripted(mode, script)``: a scripted server (password ``CANARY``), stopped after."""
    servers: list[ScriptedSmtpServer] = []

    def start(mode: Mode = "starttls", script: Callable[[Event], Any] | None = None) -> Any:
        server = ScriptedSmtpServer(
            mode=mode,
            certificate=ca.issue_cert("localhost", "127.0.0.1"),
            password=CANARY,
            pipelining=False,
            script=script,
        ).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.mark.parametrize("mode", ["starttls", "smtps"])
def test_the_test_mail_reaches_the_server_over_tls(
    validate: Validate,  # noqa: F811
    start_smtpd: StartServer,
    mode: str,
) -> None:
    # GIVEN acme's own server, in either TLS mode, and its sender settings
    server = start_smtpd(listener=mode, password=CANARY)

    # WHEN a settings change is checked with a test send (a dry run)
    response = validate(uri_of(server.port, mode), send_test_to=TO, patch=sender_settings())

    # THEN every step passed, through DATA, and the check is valid; nothing was written
    assert response["valid"] is True, response["errors"]
    assert (response["dry_run"], response["applied"]) == (True, False)
    assert [step for step, _ in steps(response)] == SESSION[mode]
    assert all(ok for _, ok in steps(response))
    connection = response["connection"]
    assert connection is not None
    replies = {step["step"]: step["reply"] for step in connection["steps"]}
    assert replies["MAIL"].startswith("250")
    assert replies["RCPT"].startswith("250")
    assert replies["DATA"] == "250 2.0.0 OK: queued"

    # AND the server has the one test mail, from acme's sender, over TLS
    [received] = server.messages
    assert received.mail_from == "hello@acme.example"
    assert received.rcpt_tos == (TO,)
    assert received.tls_version in TLS_VERSIONS
    mail = received.message
    assert mail["From"] == "Acme <hello@acme.example>"
    assert mail["To"] == TO
    assert mail["Subject"] == "courier test mail for project acme"
    assert mail["X-Courier-Test"] == "true"
    assert mail["X-Stream"] == "a"
    body = mail.get_content()
    assert "sent by the courier config validator on " in body
    assert " UTC" in body

    # AND the report names it; this server gives no queue id
    assert connection["test_mail"] == {
        "to": TO,
        "message_id": mail["Message-ID"],
        "accepted": True,
        "queue_id": None,
    }
    # AND the session ended with QUIT
    [session] = server.client_sessions
    assert session.verbs[-1] == "QUIT"


def test_the_queue_id_is_read_from_the_reply_to_data(
    validate: Validate,  # noqa: F811
    start_scripted: StartScripted,
) -> None:
    # GIVEN a server (no pipelining) that names the queued mail
    def queued(event: Event) -> Reply | None:
        return Reply("250 2.0.0 Ok: queued as ABC123") if event.point == "dot" else None

    server = start_scripted(script=queued)

    # WHEN a test mail is sent
    response = validate(uri_of(server.port, "starttls"), send_test_to=TO, patch=sender_settings())

    # THEN the report gives the queue id, and the DATA step its whole reply
    assert response["valid"] is True, response["errors"]
    connection = response["connection"]
    assert connection is not None
    assert connection["test_mail"] is not None
    assert connection["test_mail"]["queue_id"] == "ABC123"
    assert connection["steps"][-1] == {
        "step": "DATA",
        "ok": True,
        "reply": "250 2.0.0 Ok: queued as ABC123",
    }
    [delivery] = server.mailbox
    assert delivery.message_id == connection["test_mail"]["message_id"]
    assert delivery.tls_version in TLS_VERSIONS
    assert server.sessions[0].verbs[-3:] == ["RCPT", "DATA", "QUIT"]


REFUSALS = {
    "mail-not-verified": (
        Faults(mail_reply="554 5.7.1 Email address is not verified"),
        "MAIL",
        "554 5.7.1 Email address is not verified",
        SENDER_FIX,
    ),
    "rcpt-no-such-user": (
        Faults(rcpt_reply="550 5.1.1 no such user"),
        "RCPT",
        "550 5.1.1 no such user",
        "the server refuses this recipient: check send_test_to",
    ),
    "rcpt-greylisted": (
        Faults(rcpt_reply="451 4.7.1 greylisted, try later"),
        "RCPT",
        "451 4.7.1 greylisted, try later",
        "try again later",
    ),
    "data-ses-not-verified": (
        Faults(data_reply=SES_REFUSAL),
        "DATA",
        SES_REFUSAL,
        SENDER_FIX,
    ),
}
LATER_STEPS = {"MAIL": ["RCPT", "DATA"], "RCPT": ["DATA"], "DATA": []}


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "one-by-one"])
@pytest.mark.parametrize(("faults", "step", "reply", "fix"), REFUSALS.values(), ids=REFUSALS)
def test_a_refusal_is_reported_with_its_step_reply_and_fix(
    validate: Validate,  # noqa: F811
    start_smtpd: StartServer,
    faults: Faults,
    step: str,
    reply: str,
    fix: str,
    pipelining: bool,
) -> None:
    # GIVEN a server that takes the login, then refuses the mail at one step
    server = start_smtpd(listener="starttls", password=CANARY, faults=faults, pipelining=pipelining)

    # WHEN a test mail is sent
    response = validate(uri_of(server.port, "starttls"), send_test_to=TO, patch=sender_settings())

    # THEN that step failed with the server's reply, after AUTH passed
    assert response["valid"] is False
    assert failed_step(response) == {"step": step, "ok": False, "reply": reply}
    assert ("AUTH", True) in steps(response)
    # AND the error names the step, the reply and the fix
    [error] = response["errors"]
    assert (error["path"], error["code"]) == (URI, "connection_failed")
    assert (
        f"SMTP {step} failed at smtp://user:***@127.0.0.1:{server.port}/: {reply}"
        in (error["message"])
    )
    assert fix in error["message"]
    # AND the test mail was not accepted, and the server kept nothing
    connection = response["connection"]
    assert connection is not None
    assert connection["ok"] is False
    assert connection["test_mail"] is not None
    assert (connection["test_mail"]["accepted"], connection["test_mail"]["queue_id"]) == (
        False,
        None,
    )
    assert server.messages == []
    [session] = server.client_sessions
    assert session.verbs[-1] == "QUIT"
    if not pipelining:  # nothing was sent after the refused command
        sent = session.verbs[session.verbs.index(step) + 1 :]
        assert not set(sent) & set(LATER_STEPS[step])


def test_a_refusal_of_the_data_command_sends_no_content(
    validate: Validate,  # noqa: F811
    start_scripted: StartScripted,
) -> None:
    # GIVEN a server that refuses DATA itself (aiosmtpd cannot: it always answers 354)
    def refuse_data(event: Event) -> Reply | None:
        if event.point == "DATA":
            return Reply("554 5.7.1 Message rejected: Email address is not verified")
        return None

    server = start_scripted(mode="smtps", script=refuse_data)

    # WHEN a test mail is sent
    response = validate(uri_of(server.port, "smtps"), send_test_to=TO, patch=sender_settings())

    # THEN DATA failed with its reply and the sender's fix, and no content followed it
    assert failed_step(response) == {
        "step": "DATA",
        "ok": False,
        "reply": "554 5.7.1 Message rejected: Email address is not verified",
    }
    assert SENDER_FIX in response["errors"][0]["message"]
    assert server.mailbox == []
    assert server.sessions[0].verbs[-3:] == ["DATA", "RSET", "QUIT"]
    assert server.errors == []


@pytest.mark.parametrize(
    "address",
    [
        "not-an-address",
        "ada@",
        "ada@example.org\r\nBcc: eve@example.org",
        "Ada <ada@example.org>",
        42,
        "",
    ],
)
def test_a_malformed_address_is_refused_before_any_session(
    validate: Validate,  # noqa: F811
    start_smtpd: StartServer,
    address: object,
) -> None:
    server = start_smtpd(listener="starttls", password=CANARY)

    response = validate(uri_of(server.port, "starttls"), send_test_to=address)

    assert [(e["path"], e["code"]) for e in response["errors"]] == [
        ("/send_test_to", "send_test_to_invalid")
    ]
    assert response["connection"] is None
    assert server.client_sessions == []


def test_a_project_without_its_own_server_sends_from_the_stack_default_address(
    validate: Validate,  # noqa: F811
    start_smtpd: StartServer,
) -> None:
    # GIVEN the stack's default sender, and acme without a server of its own
    server = start_smtpd(listener="smtps", password=CANARY)
    use_as_default_sender(server.port)

    # WHEN acme's settings are checked with a test send
    response = validate(None, send_test_to=TO)

    # THEN the mail went through the default sender, from the stack's default address
    assert response["valid"] is True, response["errors"]
    [received] = server.messages
    assert received.mail_from == DEFAULT_FROM_ADDRESS
    assert received.message["From"] == DEFAULT_FROM_ADDRESS
    assert received.message["Subject"] == "courier test mail for project acme"


def test_the_default_sender_refusing_its_address_says_which_setting_to_change(
    validate: Validate,  # noqa: F811
    start_smtpd: StartServer,
) -> None:
    server = start_smtpd(
        listener="smtps", password=CANARY, faults=Faults(mail_reply="550 5.7.1 not verified")
    )
    use_as_default_sender(server.port)

    response = validate(None, send_test_to=TO)

    assert failed_step(response)["step"] == "MAIL"
    message = response["errors"][0]["message"]
    assert "change the stack's DefaultFromAddress" in message
    assert "smtp.from_address" not in message


def test_a_wrong_password_ends_the_check_at_auth_without_mail(
    validate: Validate,  # noqa: F811
    start_smtpd: StartServer,
) -> None:
    server = start_smtpd(listener="starttls", password="another-pw-1f0e")

    response = validate(uri_of(server.port, "starttls"), send_test_to=TO)

    assert failed_step(response)["step"] == "AUTH"
    connection = response["connection"]
    assert connection is not None
    assert connection["test_mail"] is not None
    assert connection["test_mail"]["accepted"] is False
    assert server.messages == []
    assert all("MAIL" not in session.verbs for session in server.client_sessions)


def test_no_mail_goes_out_when_the_settings_have_errors(
    validate: Validate,  # noqa: F811
    start_smtpd: StartServer,
) -> None:
    server = start_smtpd(listener="starttls", password=CANARY)

    response = validate(
        uri_of(server.port, "starttls"),
        send_test_to=TO,
        patch=[{"op": "add", "path": f"{COURIER}/message_retries", "value": 99}],
    )

    assert response["connection"] is None
    assert "connection_not_checked" in [note["code"] for note in response["notes"]]
    assert server.client_sessions == []


def test_an_applied_change_is_written_after_its_test_mail_was_accepted(
    validate: Validate,  # noqa: F811
    start_smtpd: StartServer,
) -> None:
    server = start_smtpd(listener="starttls", password=CANARY)

    response = validate(
        uri_of(server.port, "starttls"), send_test_to=TO, check_connection=False, dry_run=False
    )

    assert response["applied"] is True, response["errors"]
    assert len(server.messages) == 1
    stored = boto3.client("ssm").get_parameter(
        Name="/courier/acme/smtp/connection_uri", WithDecryption=True
    )
    assert stored["Parameter"]["Value"] == uri_of(server.port, "starttls")
