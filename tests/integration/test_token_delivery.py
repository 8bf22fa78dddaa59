"""Token login (OAuth 2.0) through the sender: SSM, a real token endpoint, a real SMTP server.

Each project sends as a mailbox of a server that takes XOAUTH2 or OAUTHBEARER only with the
token the local endpoint (HTTPS on loopback) issued last for that mailbox. The sender reads the
URI and the SecureString ``…/smtp/oauth2`` from SSM (moto), gets its token from the endpoint
and logs in with it.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from courier.sender import Sender
from local.smtpd import SmtpServer
from local.token_endpoint import TokenEndpoint, make_service_account_key
from tests.integration.test_sender import Courier, recovery
from tests.integration.test_sender import courier as courier  # the fixture
from tests.queues import attributes, failed_ids, with_receive_count

MAILBOX = "sender@contoso.example"
CLIENT_ID = "0d3f6b5e-courier-app"
CLIENT_SECRET = "Xq8~client-secret-value-never-shown"


@pytest.fixture
def endpoint(token_endpoint: TokenEndpoint) -> TokenEndpoint:
    token_endpoint.add_client(CLIENT_ID, CLIENT_SECRET, mailbox=MAILBOX)
    return token_endpoint


def token_project(
    courier: Courier,
    endpoint: TokenEndpoint,
    *,
    mechanism: str = "xoauth2",
    oauth2: dict[str, Any] | None = None,
    project: str = "m365",
) -> SmtpServer:
    """A project whose URI logs in as MAILBOX with a token, and its server."""
    server = courier.start_smtpd(password="pw-canary-unused", oauth_tokens=endpoint.valid_tokens)
    uri = f"smtp://{MAILBOX.replace('@', '%40')}@127.0.0.1:{server.port}/?auth={mechanism}"
    courier.ssm.put_parameter(
        Name=courier.uri_parameter(project), Value=uri, Type="SecureString", Overwrite=True
    )
    settings = oauth2 or {
        "grant": "client_credentials",
        "token_url": endpoint.token_url,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "scope": "https://outlook.office365.com/.default",
    }
    courier.ssm.put_parameter(
        Name=f"/courier/{project}/smtp/oauth2",
        Value=json.dumps(settings),
        Type="SecureString",
        Overwrite=True,
    )
    courier.configure(project, {"smtp": {"from_address": MAILBOX}})
    return server


def send(courier: Courier, sender: Sender, project: str = "m365") -> Any:
    courier.push(recovery(project_id=project))
    return courier.run(courier.receive(), sender=sender)


def test_client_credentials_deliver_with_xoauth2(courier: Courier, endpoint: TokenEndpoint) -> None:
    # GIVEN a Microsoft 365-style project: client credentials, XOAUTH2
    server = token_project(courier, endpoint)

    # WHEN a message of it is handled
    response = send(courier, courier.sender())

    # THEN it arrived over a session logged in as the mailbox with the endpoint's token
    assert response == {"batchItemFailures": []}
    [mail] = server.messages
    assert (mail.auth_mechanism, mail.auth_login) == ("XOAUTH2", MAILBOX)
    assert endpoint.grants == ["client_credentials"]


def test_a_service_account_delivers_with_oauthbearer(
    courier: Courier, endpoint: TokenEndpoint
) -> None:
    # GIVEN a Google Workspace-style project: a service account acting for the mailbox
    key = make_service_account_key(token_uri=endpoint.token_url)
    endpoint.add_service_account(key, subjects=[MAILBOX])
    server = token_project(
        courier,
        endpoint,
        mechanism="oauthbearer",
        oauth2={"grant": "service_account", "service_account_key": key.key_json},
    )

    # WHEN a message of it is handled
    response = send(courier, courier.sender())

    # THEN the JWT grant gave the token, and OAUTHBEARER logged in as the mailbox
    assert response == {"batchItemFailures": []}
    [mail] = server.messages
    assert (mail.auth_mechanism, mail.auth_login) == ("OAUTHBEARER", MAILBOX)
    assert endpoint.grants == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]


def test_a_token_is_reused_across_batches_and_refreshed_once_when_refused(
    courier: Courier, endpoint: TokenEndpoint
) -> None:
    # GIVEN a project with token login, and one warm sender
    server = token_project(courier, endpoint)
    sender = courier.sender()

    # WHEN two batches go out
    send(courier, sender)
    send(courier, sender)

    # THEN one token served both
    assert len(server.messages) == 2
    assert endpoint.requests == 1

    # WHEN the server stops taking it (revoked or expired early) and a third batch goes out
    endpoint.expire_tokens()
    response = send(courier, sender)

    # THEN the refused token was replaced once, and the mail arrived
    assert response == {"batchItemFailures": []}
    assert len(server.messages) == 3
    assert endpoint.requests == 2


def test_a_revoked_secret_is_a_config_error_with_the_endpoints_words(
    courier: Courier, endpoint: TokenEndpoint, courier_logs: io.StringIO
) -> None:
    # GIVEN a project whose client secret the provider revoked
    server = token_project(courier, endpoint)
    endpoint.revoke(CLIENT_ID)
    courier.push(recovery(project_id="m365"))
    event = courier.receive()

    # WHEN its last attempt is handled
    response = courier.run(with_receive_count(event, 6))  # message_retries 5: its last attempt

    # THEN nothing was sent, and the message was dead-lettered with the refusal and its fix
    assert response == {"batchItemFailures": []}
    assert server.messages == []
    [dead] = courier.dead_letters()
    cause = attributes(dead)
    assert cause["courier.error_code"] == "oauth_client_refused"
    assert "invalid_client" in cause["courier.error_message"]
    assert_no_secret_or_token(endpoint, courier_logs.getvalue(), json.dumps(cause))


def test_a_token_endpoint_that_is_down_is_retried(
    courier: Courier, endpoint: TokenEndpoint, courier_logs: io.StringIO
) -> None:
    # GIVEN a project whose token endpoint answers 503
    server = token_project(courier, endpoint)
    endpoint.go_down()
    courier.push(recovery(project_id="m365"))
    event = courier.receive()

    # WHEN the message is handled
    response = courier.run(event)

    # THEN it goes back to the queue with the cause, and nothing was sent
    assert failed_ids(response) == [r["messageId"] for r in event["Records"]]
    assert server.messages == []
    logged = [json.loads(line) for line in courier_logs.getvalue().splitlines()]
    assert [line.get("error_code") for line in logged if line.get("error_kind")] == [
        "oauth_token_unavailable"
    ]
    assert_no_secret_or_token(endpoint, courier_logs.getvalue())


def assert_no_secret_or_token(endpoint: TokenEndpoint, *texts: str) -> None:
    issued = [form.get("client_secret", "") for form in endpoint.forms]
    issued += list(endpoint.valid_tokens.values())
    for text in texts:
        assert CLIENT_SECRET not in text
        for secret in filter(None, issued):
            assert secret not in text
