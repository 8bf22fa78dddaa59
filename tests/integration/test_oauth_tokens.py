"""Token login's tokens from a real token endpoint on loopback (local/token_endpoint.py, HTTPS
with a trustme certificate): both grants, the cache, expiry by an injected clock, refresh,
refusals with the endpoint's words, an endpoint down, stalled or gone, the SSRF guard, and no
secret, assertion or token in any error, repr or log line."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import trustme

from courier.deadline import Deadline
from courier.errors import ConfigError, CourierError, TokenUnavailableError
from courier.oauth import ClientCredentials, ServiceAccount, Tokens
from courier.transport import Transport
from courier.uri import ConnectionUri
from local.smtpd import SmtpServer
from local.token_endpoint import ServiceAccountKey, TokenEndpoint, make_service_account_key
from tests.conftest import CredentialGuard, exception_chain, find_credential_leaks

MAILBOX = "sender@acme.example"
CLIENT_ID = "6731de76-14a6-49ae-97bc-6eba6914391e"
CLIENT_SECRET = "qL8~Q.secret-canary-Wx2.d7"
SCOPE = "https://outlook.office365.com/.default"


class Clock:
    """Wall-clock seconds that move only when told."""

    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def endpoint(ca: trustme.CA, trust_test_ca: None, clock: Clock) -> Iterator[TokenEndpoint]:
    with TokenEndpoint(certificate=ca.issue_cert("localhost"), clock=clock) as running:
        running.add_client(CLIENT_ID, CLIENT_SECRET, mailbox=MAILBOX, scopes=[SCOPE])
        yield running


@pytest.fixture
def tokens(clock: Clock) -> Tokens:
    return Tokens(timeout=2.0, allow_private_hosts=True, clock=clock)


@pytest.fixture
def client(endpoint: TokenEndpoint) -> ClientCredentials:
    return ClientCredentials(
        token_url=endpoint.token_url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, scope=SCOPE
    )


@pytest.fixture(scope="module")
def account_key() -> ServiceAccountKey:
    # One RSA key for the module (generating one takes tens of ms); its token_uri is set per
    # test, to the endpoint's port.
    return make_service_account_key(token_uri="https://localhost/")


@pytest.fixture
def account(endpoint: TokenEndpoint, account_key: ServiceAccountKey) -> ServiceAccount:
    endpoint.add_service_account(account_key, subjects=[MAILBOX])
    return ServiceAccount(
        client_email=account_key.client_email,
        private_key=account_key.private_key,
        private_key_id=str(account_key.key_json["private_key_id"]),
        client_id=str(account_key.key_json["client_id"]),
        token_uri=endpoint.token_url,
    )


# --- both grants, and the cache --------------------------------------------------------------


def test_the_client_credentials_grant_gets_a_token(
    tokens: Tokens, client: ClientCredentials, endpoint: TokenEndpoint
) -> None:
    # WHEN a session asks for a token
    token = tokens.source(client, mailbox=MAILBOX)(False)

    # THEN it came from the endpoint, for the client's mailbox, posted as the grant says
    assert endpoint.is_valid(MAILBOX, token)
    assert endpoint.forms == [
        {
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "scope": SCOPE,
        }
    ]


def test_the_service_account_grant_gets_a_token_for_the_mailbox(
    tokens: Tokens, account: ServiceAccount, endpoint: TokenEndpoint
) -> None:
    # WHEN a session asks for a token for the mailbox
    token = tokens.source(account, mailbox=MAILBOX)(False)

    # THEN the endpoint verified the signed JWT (iss, sub, aud, exp) and issued it for the
    # mailbox, the JWT's subject
    assert endpoint.valid_tokens == {MAILBOX: token}
    assert endpoint.grants == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]


def test_a_cached_token_serves_many_batches(
    tokens: Tokens, client: ClientCredentials, endpoint: TokenEndpoint, clock: Clock
) -> None:
    # GIVEN a token fetched by one batch's session
    first = tokens.source(client, mailbox=MAILBOX)(False)

    # WHEN later batches' sessions ask within its lifetime (less the margin)
    later = []
    for _ in range(5):
        clock.advance(600)
        later.append(tokens.source(client, mailbox=MAILBOX)(False))

    # THEN they get the same token, and the endpoint was asked once
    assert later == [first] * 5
    assert endpoint.requests == 1


def test_a_token_about_to_expire_is_fetched_anew(
    tokens: Tokens, account: ServiceAccount, endpoint: TokenEndpoint, clock: Clock
) -> None:
    source = tokens.source(account, mailbox=MAILBOX)
    first = source(False)

    # WHEN the clock comes within a minute of the token's expiry
    clock.advance(3600 - 59)
    second = source(False)

    # THEN a new token was fetched (with a new JWT), and it is the one the endpoint holds valid
    assert second != first
    assert endpoint.requests == 2
    assert endpoint.is_valid(MAILBOX, second)


def test_refresh_fetches_a_new_token(
    tokens: Tokens, client: ClientCredentials, endpoint: TokenEndpoint
) -> None:
    # GIVEN a fresh token the server has stopped accepting
    source = tokens.source(client, mailbox=MAILBOX)
    first = source(False)
    endpoint.expire_tokens()

    # WHEN the session asks for a new one
    second = source(True)

    # THEN it is fetched, and used from then on
    assert second != first
    assert source(False) == second
    assert endpoint.requests == 2


def test_sessions_in_parallel_threads_share_one_fetch(
    tokens: Tokens, client: ClientCredentials, endpoint: TokenEndpoint
) -> None:
    # GIVEN eight sessions of one project starting at once
    barrier = threading.Barrier(8)
    got: list[str] = []

    def session() -> None:
        barrier.wait()
        got.append(tokens.source(client, mailbox=MAILBOX)(False))

    threads = [threading.Thread(target=session) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    # THEN one request served them all
    assert len(set(got)) == 1
    assert len(got) == 8
    assert endpoint.requests == 1


# --- refusals and failures ---------------------------------------------------------------------


def test_a_revoked_secret_is_a_config_error_with_the_endpoints_words(
    tokens: Tokens, client: ClientCredentials, endpoint: TokenEndpoint
) -> None:
    endpoint.revoke(CLIENT_ID)

    with pytest.raises(ConfigError) as caught:
        tokens.source(client, mailbox=MAILBOX)(False)

    error = caught.value
    assert (error.field, error.code) == ("smtp.oauth2", "oauth_client_refused")
    assert "401" in error.message
    assert 'error "invalid_client"' in error.message
    assert '"AADSTS7000215: Invalid client secret provided.' in error.message
    assert "put the Value" in error.message
    assert "localhost" in error.message


def test_a_mailbox_without_delegation_is_refused_with_the_fix(
    tokens: Tokens, account: ServiceAccount, endpoint: TokenEndpoint
) -> None:
    with pytest.raises(ConfigError) as caught:
        tokens.source(account, mailbox="someone-else@acme.example")(False)

    assert caught.value.code == "oauth_client_refused"
    assert 'error "unauthorized_client"' in caught.value.message
    assert "Domain-wide delegation" in caught.value.message
    assert str(account.client_id) in caught.value.message


def token_unavailable(tokens: Tokens, settings: Any) -> TokenUnavailableError:
    with pytest.raises(TokenUnavailableError) as caught:
        tokens.source(settings, mailbox=MAILBOX)(False)
    return caught.value


def test_an_endpoint_that_is_down_is_transient(
    tokens: Tokens, client: ClientCredentials, endpoint: TokenEndpoint
) -> None:
    endpoint.go_down(503)

    error = token_unavailable(tokens, client)

    assert "localhost" in str(error)
    assert "503" in str(error)


@pytest.mark.parametrize(
    ("status", "document", "said"),
    [
        (429, {"error": "too_many_requests"}, "429"),
        (500, {}, "500"),
        (200, {"token_type": "Bearer", "expires_in": 3600}, "without a usable Bearer"),
        (200, {"access_token": "a b", "token_type": "Bearer"}, "without a usable Bearer"),
        (400, {"error": "temporarily_unavailable"}, "temporarily_unavailable"),
    ],
)
def test_answers_without_a_token_are_transient(
    tokens: Tokens,
    client: ClientCredentials,
    endpoint: TokenEndpoint,
    status: int,
    document: object,
    said: str,
) -> None:
    endpoint.answer_with(status, document)

    assert said in str(token_unavailable(tokens, client))


def test_a_redirect_is_not_followed(
    tokens: Tokens, client: ClientCredentials, endpoint: TokenEndpoint
) -> None:
    endpoint.answer_with(302, {})

    with pytest.raises(ConfigError) as caught:
        tokens.source(client, mailbox=MAILBOX)(False)

    assert (caught.value.field, caught.value.code) == (
        "smtp.oauth2.token_url",
        "oauth_token_url_wrong",
    )


def test_an_endpoint_that_stalls_is_cut_off_at_the_timeout(
    client: ClientCredentials, endpoint: TokenEndpoint, clock: Clock
) -> None:
    endpoint.stall()
    tokens = Tokens(timeout=0.3, allow_private_hosts=True, clock=clock)

    error = token_unavailable(tokens, client)

    assert "did not answer in time" in str(error)
    assert endpoint.requests == 1


def test_the_sessions_deadline_cuts_a_stalled_endpoint_off_before_the_timeout(
    client: ClientCredentials, endpoint: TokenEndpoint, clock: Clock
) -> None:
    # GIVEN a stalled endpoint, a long timeout, and a session whose deadline is near
    endpoint.stall()
    tokens = Tokens(timeout=120, allow_private_hosts=True, clock=clock)
    source = tokens.source(client, mailbox=MAILBOX, deadline=Deadline.after(0.3))

    # WHEN the session asks for its token
    with pytest.raises(TokenUnavailableError) as caught:
        source(False)

    # THEN the fetch ended by the deadline (the test would wait 120 s otherwise)
    assert "did not answer in time" in str(caught.value)


def test_a_session_past_its_deadline_asks_the_endpoint_nothing(
    client: ClientCredentials, endpoint: TokenEndpoint, tokens: Tokens
) -> None:
    source = tokens.source(client, mailbox=MAILBOX, deadline=Deadline.after(-1))

    with pytest.raises(TokenUnavailableError) as caught:
        source(False)

    assert "no time was left" in str(caught.value)
    assert endpoint.requests == 0


def test_an_endpoint_that_is_not_listening_is_transient(
    tokens: Tokens, client: ClientCredentials, trust_test_ca: None
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gone = ClientCredentials(
        token_url=f"https://localhost:{port}/token",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        scope=SCOPE,
    )

    error = token_unavailable(tokens, gone)

    assert f"localhost:{port}" in str(error)
    assert "refused the connection" in str(error)


def test_a_failure_is_not_cached(
    tokens: Tokens, client: ClientCredentials, endpoint: TokenEndpoint
) -> None:
    endpoint.go_down()
    token_unavailable(tokens, client)

    endpoint.recover()

    assert endpoint.is_valid(MAILBOX, tokens.source(client, mailbox=MAILBOX)(False))


def test_the_ssrf_guard_refuses_a_token_endpoint_on_loopback(
    client: ClientCredentials, endpoint: TokenEndpoint, clock: Clock
) -> None:
    guarded = Tokens(timeout=2.0, allow_private_hosts=False, clock=clock)

    with pytest.raises(ConfigError) as caught:
        guarded.source(client, mailbox=MAILBOX)(False)

    error = caught.value
    assert (error.field, error.code) == ("smtp.oauth2.token_url", "oauth2_token_url_not_public")
    assert "127.0.0.1" in error.message
    assert "AllowPrivateSmtpHosts" in error.message
    assert endpoint.requests == 0


def test_an_untrusted_certificate_is_refused(
    client: ClientCredentials,
    endpoint: TokenEndpoint,
    tokens: Tokens,
    monkeypatch: pytest.MonkeyPatch,
    unknown_ca: trustme.CA,
    tmp_path: Any,
) -> None:
    bundle = tmp_path / "other-ca.pem"
    unknown_ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))

    error = token_unavailable(tokens, client)

    assert "certificate is not trusted" in str(error)


# --- no secret anywhere ------------------------------------------------------------------------


def test_no_secret_assertion_or_token_is_in_any_error_repr_or_log(
    tokens: Tokens,
    client: ClientCredentials,
    account: ServiceAccount,
    endpoint: TokenEndpoint,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
    credential_guard: CredentialGuard,
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[BaseException] = []

    def attempt(source: Any, refresh: bool = False) -> None:
        try:
            source(refresh)
        except CourierError as exc:
            errors.append(exc)

    # GIVEN tokens issued for both grants, then every way of failing
    client_source = tokens.source(client, mailbox=MAILBOX)
    account_source = tokens.source(account, mailbox=MAILBOX)
    issued = [client_source(False), account_source(False)]
    endpoint.revoke(CLIENT_ID)
    attempt(client_source, True)
    attempt(tokens.source(account, mailbox="other@acme.example"))
    endpoint.answer_with(400, {"error": "invalid_grant", "error_description": CLIENT_SECRET})
    attempt(client_source, True)
    for status in (503, 429, 200):
        endpoint.answer_with(status, {"error": "x"})
        attempt(client_source, True)
        attempt(account_source, True)
    endpoint.stall()
    attempt(
        Tokens(timeout=0.2, allow_private_hosts=True, clock=clock).source(client, mailbox=MAILBOX)
    )
    endpoint.recover()
    attempt(Tokens(allow_private_hosts=False, clock=clock).source(account, mailbox=MAILBOX))
    assertions = [form["assertion"] for form in endpoint.forms if "assertion" in form]
    key_lines = account.private_key.strip().splitlines()[1:-1]

    # THEN no error, no error in a chain, no repr and no log line holds any of them
    secrets = [CLIENT_SECRET, *assertions, *issued, *key_lines]
    assert len(errors) == 11
    assert find_credential_leaks([(error, "this test") for error in errors], secrets) == []
    shown = [repr(client), repr(account), repr(client_source), repr(account_source), caplog.text]
    shown += [repr(link) for error in errors for _, link in exception_chain(error)]
    assert not [secret for secret in secrets for text in shown if secret in text]
    for secret in secrets:  # and every courier error built meanwhile (checked at teardown)
        credential_guard.add_password(secret)


# --- the pieces together: the endpoint's tokens log a Transport in ---------------------------


def test_a_transport_logs_in_with_the_endpoints_token_and_refreshes_a_refused_one(
    ca: trustme.CA,
    tokens: Tokens,
    client: ClientCredentials,
    endpoint: TokenEndpoint,
    credential_guard: CredentialGuard,
) -> None:
    # GIVEN an SMTP server that takes the tokens the endpoint holds valid, by mailbox
    certificate = ca.issue_cert("localhost", "127.0.0.1")
    with SmtpServer(
        listener="smtps", certificate=certificate, oauth_tokens=endpoint.valid_tokens
    ) as server:
        uri = ConnectionUri.parse(
            f"smtps://sender%40acme.example@127.0.0.1:{server.port}/?auth=xoauth2"
        )

        def session() -> None:
            source = tokens.source(client, mailbox=MAILBOX)
            with Transport(uri, timeout=5, allow_private_hosts=True, token_source=source):
                pass

        # WHEN two sessions log in, then the provider revokes the token, and one more does
        session()
        session()
        endpoint.expire_tokens()
        session()

    # THEN the first token served both sessions, and the refused one was replaced once
    assert endpoint.requests == 2
    for form in endpoint.forms:
        credential_guard.add_password(form["client_secret"])
