"""The config validator's connection check of a token login (issue 15): a real token endpoint
(HTTPS on loopback) and an SMTP server that takes only the token it issued; SSM is moto."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from courier.stack import StackSettings
from courier.validation.store import SsmConfigStore
from courier.validation.validator import ConfigValidator
from local.token_endpoint import TokenEndpoint
from tests.conftest import StartServer

PROJECT = "m365"
MAILBOX = "sender@contoso.example"
CLIENT_ID = "courier-validator-app"
CLIENT_SECRET = "Vq7~the-secret-value-never-shown"


@pytest.fixture
def endpoint(token_endpoint: TokenEndpoint) -> TokenEndpoint:
    token_endpoint.add_client(CLIENT_ID, CLIENT_SECRET, mailbox=MAILBOX)
    return token_endpoint


def check(aws: None, start_smtpd: StartServer, endpoint: TokenEndpoint) -> dict[str, Any]:
    """Patch the project's URI to token login and run the connection check."""
    server = start_smtpd(password="pw-canary-unused", oauth_tokens=endpoint.valid_tokens)
    ssm = boto3.client("ssm")
    ssm.put_parameter(
        Name=f"/courier/{PROJECT}/smtp/oauth2",
        Value=json.dumps(
            {
                "grant": "client_credentials",
                "token_url": endpoint.token_url,
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "scope": "https://outlook.office365.com/.default",
            }
        ),
        Type="SecureString",
    )
    uri = f"smtp://sender%40contoso.example@127.0.0.1:{server.port}/?auth=xoauth2"
    settings = StackSettings(allow_private_hosts=True, smtp_timeout=5)
    validator = ConfigValidator(
        settings=settings, store=SsmConfigStore(settings=settings, boto3_client=ssm)
    )
    response = validator.handle(
        {
            "project_id": PROJECT,
            "replace": [f"/services/identity/config/courier/smtp/connection_uri={json.dumps(uri)}"],
            "check_connection": True,
        }
    )
    return dict(response)


def test_the_connection_check_gets_a_token_and_logs_in_with_it(
    aws: None, start_smtpd: StartServer, endpoint: TokenEndpoint
) -> None:
    # WHEN a token-login URI is checked
    response = check(aws, start_smtpd, endpoint)

    # THEN the report has the TOKEN step before AUTH, both passed, and no secret or token
    assert response["errors"] == [], response["errors"]
    connection = response["connection"]
    assert connection["ok"] is True
    steps = [(step["step"], step["ok"]) for step in connection["steps"]]
    assert steps[-2:] == [("TOKEN", True), ("AUTH", True)]
    assert "localhost" in connection["steps"][-2]["reply"]
    assert_no_secret(response, endpoint)


def test_a_revoked_secret_fails_the_token_step_with_the_endpoints_words(
    aws: None, start_smtpd: StartServer, endpoint: TokenEndpoint
) -> None:
    # GIVEN a client whose secret the provider revoked
    endpoint.revoke(CLIENT_ID)

    # WHEN its URI is checked
    response = check(aws, start_smtpd, endpoint)

    # THEN the TOKEN step failed with the refusal, no AUTH was tried, and the error says why
    connection = response["connection"]
    assert connection["ok"] is False
    assert connection["steps"][-1]["step"] == "TOKEN"
    assert connection["steps"][-1]["ok"] is False
    assert "AUTH" not in [step["step"] for step in connection["steps"]]
    [error] = [e for e in response["errors"] if e["code"] == "oauth_client_refused"]
    assert "invalid_client" in error["message"]
    assert_no_secret(response, endpoint)


def assert_no_secret(response: dict[str, Any], endpoint: TokenEndpoint) -> None:
    text = json.dumps(response)
    assert CLIENT_SECRET not in text
    for token in endpoint.valid_tokens.values():
        assert token not in text
