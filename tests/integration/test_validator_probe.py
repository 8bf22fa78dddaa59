"""``check_connection`` against real aiosmtpd servers: each step with the server's reply, up to
AUTH, then QUIT; never MAIL (the test send of ``send_test_to`` is test_validator_test_send.py).
The configuration comes from SSM (moto)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from courier.stack import StackSettings
from courier.validation import ConfigValidator, SsmConfigStore, ValidationResponse
from local.smtpd import Faults, SmtpServer
from tests.conftest import OTHER_NAME, StartServer

COURIER = "/services/identity/config/courier"
URI = f"{COURIER}/smtp/connection_uri"
DEFAULT_PARAMETER = "/courier/default/smtp/connection_uri"
CANARY = "canary-pw-93c7"
TLS_VERSIONS = {"TLSv1.2", "TLSv1.3"}

Validate = Callable[..., ValidationResponse]


@pytest.fixture
def validate(aws: None, caplog: pytest.LogCaptureFixture) -> Validate:
    """``validate(uri, **request)``: check acme with ``uri``; private hosts allowed (loopback)."""
    caplog.set_level(logging.DEBUG)
    ssm = boto3.client("ssm")
    ssm.put_parameter(Name="/courier/acme/config", Value="{}", Type="String")

    def run(uri: str | None, *, timeout: float = 5, **request: Any) -> ValidationResponse:
        settings = StackSettings(
            default_connection_uri_parameter=DEFAULT_PARAMETER,
            allow_private_hosts=True,
            smtp_timeout=timeout,
        )
        validator = ConfigValidator(settings=settings, store=SsmConfigStore(settings=settings))
        set_uri = [f"{URI}={json.dumps(uri)}"] if uri is not None else []
        data = {"project_id": "acme", "add": set_uri, "check_connection": True, **request}
        response = validator.handle(data)
        assert CANARY not in json.dumps(response)
        ours = [r.getMessage() for r in caplog.records if r.name.startswith("courier")]
        assert all(CANARY not in line for line in ours)
        return response

    return run


def steps(response: ValidationResponse) -> list[tuple[str, bool]]:
    assert response["connection"] is not None
    return [(step["step"], step["ok"]) for step in response["connection"]["steps"]]


def assert_no_mail(server: SmtpServer) -> None:
    assert server.messages == []
    for session in server.client_sessions:
        assert "MAIL" not in session.verbs
        assert "RCPT" not in session.verbs


def test_starttls_session_reports_each_step_and_sends_no_mail(
    validate: Validate, start_smtpd: StartServer
) -> None:
    # GIVEN a STARTTLS server
    server = start_smtpd(listener="starttls")

    # WHEN the connection is checked
    response = validate(f"smtp://user:secret@127.0.0.1:{server.port}/")

    # THEN every step passed, with the server's replies, in order
    assert response["valid"] is True, response["errors"]
    assert steps(response) == [
        ("connect", True),
        ("EHLO", True),
        ("TLS", True),
        ("EHLO", True),
        ("AUTH", True),
    ]
    connection = response["connection"]
    assert connection is not None
    replies = [step["reply"] for step in connection["steps"]]
    assert replies[0].startswith("220 ")
    assert "STARTTLS" in replies[1]
    assert replies[2].startswith("220 ")
    assert "certificate verified for 127.0.0.1" in replies[2]
    assert "AUTH" in replies[3]
    assert replies[4].startswith("235 ")
    assert connection["tls_version"] in TLS_VERSIONS
    assert connection["endpoint"] == f"smtp://user:***@127.0.0.1:{server.port}/"
    assert connection["test_mail"] is None  # only with send_test_to

    # AND the session ended with QUIT, without a mail
    assert_no_mail(server)
    [session] = server.client_sessions
    assert session.verbs[-1] == "QUIT"


def test_implicit_tls_session(validate: Validate, start_smtpd: StartServer) -> None:
    server = start_smtpd(listener="smtps", certificate="other-name")

    response = validate(f"smtps://user:secret@127.0.0.1:{server.port}/?server_name={OTHER_NAME}")

    assert steps(response) == [("connect", True), ("TLS", True), ("EHLO", True), ("AUTH", True)]
    assert response["connection"] is not None
    assert OTHER_NAME in response["connection"]["steps"][1]["reply"]
    assert_no_mail(server)


def test_without_a_user_auth_is_not_sent(validate: Validate, start_smtpd: StartServer) -> None:
    server = start_smtpd(listener="starttls")

    response = validate(f"smtp://127.0.0.1:{server.port}/")

    assert response["connection"] is not None
    assert response["connection"]["steps"][-1] == {
        "step": "AUTH",
        "ok": True,
        "reply": "not sent: no user",
    }
    assert all("AUTH" not in session.verbs for session in server.client_sessions)


def test_cleartext_session_warns_and_still_checks(
    validate: Validate, start_smtpd: StartServer
) -> None:
    server = start_smtpd(listener="plain")

    response = validate(f"smtp://user:secret@127.0.0.1:{server.port}/?disable_starttls=true")

    assert response["valid"] is True
    assert [w["code"] for w in response["warnings"]] == ["credentials_in_cleartext"]
    assert steps(response) == [("connect", True), ("EHLO", True), ("AUTH", True)]
    assert response["connection"] is not None
    assert response["connection"]["tls_version"] is None


def test_wrong_password_fails_at_auth_with_the_reply(
    validate: Validate, start_smtpd: StartServer
) -> None:
    # GIVEN a server, and a URI with the wrong password
    server = start_smtpd(listener="starttls")

    # WHEN the connection is checked
    response = validate(f"smtp://user:{CANARY}@127.0.0.1:{server.port}/")

    # THEN AUTH failed with the server's 535, the config is invalid, and no password is shown
    assert response["valid"] is False
    assert steps(response)[-1] == ("AUTH", False)
    assert response["connection"] is not None
    assert response["connection"]["steps"][-1]["reply"].startswith("535 ")
    assert [(e["path"], e["code"]) for e in response["errors"]] == [(URI, "connection_failed")]
    assert "SMTP AUTH failed" in response["errors"][0]["message"]
    assert_no_mail(server)


def test_untrusted_certificate_fails_at_tls_with_the_fix(
    validate: Validate, start_smtpd: StartServer
) -> None:
    server = start_smtpd(listener="starttls", certificate="untrusted")

    response = validate(f"smtp://user:{CANARY}@127.0.0.1:{server.port}/")

    assert steps(response) == [("connect", True), ("EHLO", True), ("TLS", False)]
    message = response["errors"][0]["message"]
    assert "not trusted" in message
    assert "server_name=" in message
    assert all("AUTH" not in session.verbs for session in server.client_sessions)


def test_server_without_starttls_fails_at_tls(validate: Validate, start_smtpd: StartServer) -> None:
    server = start_smtpd(listener="plain")

    response = validate(f"smtp://user:{CANARY}@127.0.0.1:{server.port}/")

    assert steps(response)[-1] == ("TLS", False)
    assert "does not offer STARTTLS" in response["errors"][0]["message"]
    assert all("AUTH" not in session.verbs for session in server.client_sessions)


def test_smtps_to_a_starttls_port_says_use_smtp(
    validate: Validate, start_smtpd: StartServer
) -> None:
    server = start_smtpd(listener="starttls")

    response = validate(f"smtps://user:{CANARY}@127.0.0.1:{server.port}/")

    assert steps(response) == [("connect", True), ("TLS", False)]
    assert "use smtp:// instead of smtps://" in response["errors"][0]["message"]


def test_smtp_to_an_implicit_tls_port_times_out_and_says_use_smtps(
    validate: Validate, start_smtpd: StartServer
) -> None:
    server = start_smtpd(listener="smtps")

    response = validate(f"smtp://user:{CANARY}@127.0.0.1:{server.port}/", timeout=1)

    assert steps(response) == [("connect", False)]
    assert "use smtps://" in response["errors"][0]["message"]


def test_refused_ehlo_is_reported_with_its_reply(
    validate: Validate, start_smtpd: StartServer
) -> None:
    server = start_smtpd(listener="starttls", faults=Faults(ehlo_reply="554 5.7.1 go away"))

    response = validate(f"smtp://user:secret@127.0.0.1:{server.port}/")

    assert steps(response) == [("connect", True), ("EHLO", False)]
    assert response["connection"] is not None
    assert response["connection"]["steps"][-1]["reply"] == "554 5.7.1 go away"


def test_connection_refused_at_connect(validate: Validate) -> None:
    from local.smtpd import free_port

    response = validate(f"smtp://user:secret@127.0.0.1:{free_port()}/")

    assert steps(response) == [("connect", False)]
    assert response["valid"] is False


def test_connection_is_not_checked_when_the_config_has_errors(
    validate: Validate, start_smtpd: StartServer
) -> None:
    server = start_smtpd(listener="starttls")

    response = validate(
        f"smtp://user:secret@127.0.0.1:{server.port}/",
        patch=[{"op": "add", "path": f"{COURIER}/message_retries", "value": 99}],
    )

    assert response["connection"] is None
    assert "connection_not_checked" in [note["code"] for note in response["notes"]]
    assert server.client_sessions == []


def test_default_sender_is_checked_for_a_project_without_its_own(
    validate: Validate, start_smtpd: StartServer
) -> None:
    # GIVEN the stack's default sender, and acme without a URI of its own
    server = start_smtpd(listener="smtps")
    boto3.client("ssm").put_parameter(
        Name=DEFAULT_PARAMETER,
        Value=f"smtps://user:secret@127.0.0.1:{server.port}/",
        Type="SecureString",
    )

    # WHEN acme's connection is checked
    response = validate(None)

    # THEN the default sender's session is the one reported
    assert response["connection"] is not None
    assert response["connection"]["endpoint"] == f"smtps://user:***@127.0.0.1:{server.port}/"
    assert steps(response)[-1] == ("AUTH", True)


def test_failed_check_blocks_apply(validate: Validate, start_smtpd: StartServer) -> None:
    # GIVEN a URI the server refuses, to apply with a connection check
    server = start_smtpd(listener="starttls")

    # WHEN it is applied
    response = validate(f"smtp://user:{CANARY}@127.0.0.1:{server.port}/", dry_run=False)

    # THEN nothing is written
    assert response["applied"] is False
    names = [p["Name"] for p in boto3.client("ssm").describe_parameters()["Parameters"]]
    assert "/courier/acme/smtp/connection_uri" not in names
