"""Local token login: the projects ``up`` and the demo seed, their token endpoint, and servers
that take only the endpoint's token."""

from __future__ import annotations

import json
import smtplib
import ssl
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from courier.config import parse_project_config
from courier.oauth import Tokens, check_settings
from local.mailbox import Mailbox
from local.mailservers import TOKEN_LOGINS, SmtpFleet, TokenLogin
from local.projects import seed_projects

PREFIX = "/courier"
LOGINS = {login.project: login for login in TOKEN_LOGINS}


class RecordingSsm:
    """The one call :func:`seed_projects` makes, kept by parameter name."""

    def __init__(self) -> None:
        self.parameters: dict[str, tuple[str, str]] = {}

    def put_parameter(self, *, Name: str, Value: str, Type: str, Overwrite: bool) -> None:
        self.parameters[Name] = (Value, Type)

    def value(self, name: str) -> str:
        return self.parameters[name][0]


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[tuple[SmtpFleet, Mailbox]]:
    mailbox = Mailbox(tmp_path / "mail")
    with SmtpFleet(workdir=tmp_path, on_message=mailbox.save) as fleet:
        yield fleet, mailbox


def test_the_token_login_projects_are_seeded_as_courier_reads_them(
    fleet: tuple[SmtpFleet, Mailbox],
) -> None:
    # GIVEN the servers and their token endpoint
    servers, _ = fleet
    ssm = RecordingSsm()

    # WHEN the demo projects are written to SSM
    uris = seed_projects(ssm, servers, prefix=PREFIX, default_parameter=None)  # type: ignore[arg-type]

    # THEN each token-login project has a URI that logs in as its mailbox with its mechanism and
    # no password, and a SecureString saying where its token comes from: the local endpoint
    port = {name: server.port for name, server in servers.servers.items()}
    assert {name: uris[name] for name in LOGINS} == {
        "xoauth2": f"smtp://no-reply%40xoauth2.courier.example@127.0.0.1:{port['xoauth2']}/"
        "?auth=xoauth2",
        "oauthbearer": "smtps://no-reply%40oauthbearer.courier.example@127.0.0.1:"
        f"{port['oauthbearer']}/?auth=oauthbearer",
    }
    for name, login in LOGINS.items():
        base = f"{PREFIX}/{name}"
        assert ssm.parameters[f"{base}/smtp/connection_uri"] == (uris[name], "SecureString")
        settings_json, kind = ssm.parameters[f"{base}/smtp/oauth2"]
        assert kind == "SecureString"
        settings = json.loads(settings_json)
        assert settings["grant"] == login.grant
        assert settings["scope"] == login.scope
        token_url = settings.get("token_url") or settings["service_account_key"]["token_uri"]
        assert token_url == servers.token_endpoint.token_url
        # ... which courier's own rules accept without a warning (a loopback endpoint, as
        # AllowPrivateSmtpHosts=true allows) ...
        found = check_settings(
            settings_json, parameter=f"{base}/smtp/oauth2", allow_private_hosts=True
        )
        assert (found.errors, found.warnings) == ((), ())
        # ... and with the URI and the config, a project that sends as its mailbox
        config = parse_project_config(
            name,
            config_json=ssm.value(f"{base}/config"),
            connection_uri=ssm.value(f"{base}/smtp/connection_uri"),
            default_connection_uri=None,
            default_from_address="no-reply@courier.example",
            oauth2_json=settings_json,
            allow_private_hosts=True,
        )
        assert config.connection_uri.token_user == login.mailbox
        assert config.oauth is not None
        assert json.loads(ssm.value(f"{base}/config"))["smtp"]["from_address"] == login.mailbox


def mail(login: TokenLogin) -> EmailMessage:
    message = EmailMessage()
    message["From"] = login.mailbox
    message["To"] = "ada@example.org"
    message["Subject"] = "Your code"
    message.set_content("123456")
    return message


def connect(servers: SmtpFleet, login: TokenLogin) -> smtplib.SMTP:
    """A session with the project's server, over TLS verified against the fleet's CA."""
    server = servers.servers[login.project]
    context = ssl.create_default_context(cafile=str(servers.ca_bundle))
    if login.mode.listener == "smtps":
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            server.host, server.port, context=context, timeout=5
        )
    else:
        client = smtplib.SMTP(server.host, server.port, timeout=5)
        client.starttls(context=context)
    client.ehlo()
    return client


def token_login(client: smtplib.SMTP, login: TokenLogin, token: str) -> Any:
    if login.mechanism == "XOAUTH2":
        response = f"user={login.mailbox}\x01auth=Bearer {token}\x01\x01"
    else:
        response = f"n,a={login.mailbox},\x01auth=Bearer {token}\x01\x01"
    # A refusal may come as a challenge first (as Google's): its answer is an empty response.
    return client.auth(
        login.mechanism, lambda challenge=None: response if challenge is None else "\x01"
    )


@pytest.mark.parametrize("login", TOKEN_LOGINS, ids=[login.project for login in TOKEN_LOGINS])
def test_a_token_login_server_takes_the_endpoints_token_and_nothing_else(
    login: TokenLogin, fleet: tuple[SmtpFleet, Mailbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a token-login project's server, and a token courier got with the project's settings
    # (the functions trust the fleet's CA the same way: SSL_CERT_FILE)
    servers, mailbox = fleet
    monkeypatch.setenv("SSL_CERT_FILE", str(servers.ca_bundle))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    parameter = f"{PREFIX}/{login.project}/smtp/oauth2"
    settings = check_settings(
        json.dumps(servers.oauth2_settings(login.project)),
        parameter=parameter,
        allow_private_hosts=True,
    ).settings
    assert settings is not None
    token = Tokens(allow_private_hosts=True).token(settings, mailbox=login.mailbox)

    # WHEN a client logs in with the account's password, then with a token of its own making,
    # then with the endpoint's token, and sends
    with connect(servers, login) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError) as password:
            client.login(servers.username, servers.password)
        with pytest.raises(smtplib.SMTPAuthenticationError) as forged:
            token_login(client, login, "ya29.not-the-endpoints")
    with connect(servers, login) as client:
        accepted = token_login(client, login, token)
        client.send_message(mail(login))

    # THEN only the endpoint's token logged in, as the project's mailbox
    assert password.value.smtp_code == 535
    assert forged.value.smtp_code == 535
    assert accepted[0] == 235
    server = servers.servers[login.project]
    [received] = server.messages
    assert (received.auth_mechanism, received.auth_login) == (login.mechanism, login.mailbox)
    assert [
        attempt.accepted for session in server.sessions for attempt in session.token_attempts
    ] == [
        False,
        True,
    ]
    # ... and the mail is kept under the project's name, with how it logged in
    [path] = mailbox.saved
    assert path.name == f"01-{login.project}-ada_example.org.eml"
    assert (
        f"X-Courier-Local: mode={login.mode.number} {login.mode.name}; tls=TLSv1.3; "
        f"auth={login.mailbox}; mechanism={login.mechanism}; project={login.project}"
    ) in path.read_text()
    # ... and the one token came from one request to the endpoint
    assert servers.token_endpoint.requests == 1
