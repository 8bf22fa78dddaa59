"""Token login's settings and tokens without a network: every rule of the SecureString
``…/smtp/oauth2`` and its text, the rules that join it to the URI, what an endpoint's answers
mean, and the cache (expiry by an injected clock, refresh, threads sharing one fetch) over a
stand-in endpoint. The real endpoint on loopback: tests/integration/test_oauth_tokens.py."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from courier.config import parse_project_config
from courier.config_rules import ConfigContext, check_config
from courier.errors import ConfigError, TokenUnavailableError
from courier.https_fetch import ExchangeFailedError, HttpsAnswer, HttpsFailure
from courier.oauth import ClientCredentials, ServiceAccount, Tokens, check_settings
from courier.oauth.tokens import JWT_BEARER
from courier.uri import ConnectionUri
from tests.conftest import modules_loaded_by

ROOT = Path(__file__).resolve().parents[2]
PARAMETER = "/courier/acme/smtp/oauth2"
SECRET = "Zq8~secret-canary-71f.Kd"
TOKEN_URL = "https://login.microsoftonline.com/8e3f0c1a-tenant/oauth2/v2.0/token"
CLIENT = {
    "grant": "client_credentials",
    "token_url": TOKEN_URL,
    "client_id": "6731de76-14a6-49ae-97bc-6eba6914391e",
    "client_secret": SECRET,
    "scope": "https://outlook.office365.com/.default",
}
TOKEN_URI_LOGIN = "smtps://sender%40acme.example@smtp.office365.com/?auth=xoauth2"


def pem(key: Any, *, password: bytes | None = None) -> str:
    encryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return str(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        ).decode("ascii")
    )


@pytest.fixture(scope="module")
def rsa_pem() -> str:
    return pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))


def service_account(pem_text: str, **changes: Any) -> dict[str, Any]:
    key = {
        "type": "service_account",
        "project_id": "acme-mail",
        "private_key_id": "0f1e2d3c",
        "private_key": pem_text,
        "client_email": "courier@acme-mail.iam.gserviceaccount.com",
        "client_id": "104729",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    key.update(changes)
    return {
        "grant": "service_account",
        "service_account_key": {k: v for k, v in key.items() if v is not None},
    }


def found(settings: object, *, allow_private_hosts: bool = False) -> list[tuple[str, str]]:
    text = settings if isinstance(settings, str) else json.dumps(settings)
    check = check_settings(text, parameter=PARAMETER, allow_private_hosts=allow_private_hosts)
    for problem in (*check.errors, *check.warnings):
        assert SECRET not in problem.message
        assert "MII" not in problem.message  # no key material (base64 DER begins so)
    return [(problem.field, problem.code) for problem in (*check.errors, *check.warnings)]


def messages(settings: object) -> list[str]:
    check = check_settings(json.dumps(settings), parameter=PARAMETER, allow_private_hosts=False)
    return [problem.message for problem in (*check.errors, *check.warnings)]


# --- the parameter's JSON --------------------------------------------------------------------


def test_client_credentials_are_read_and_the_secret_kept_out_of_repr() -> None:
    check = check_settings(json.dumps(CLIENT), parameter=PARAMETER, allow_private_hosts=False)

    assert check.errors == check.warnings == ()
    assert check.settings == ClientCredentials(
        token_url=TOKEN_URL,
        client_id=CLIENT["client_id"],
        client_secret=SECRET,
        scope=CLIENT["scope"],
    )
    assert check.settings.parameter == PARAMETER
    assert SECRET not in repr(check.settings)


def test_a_service_account_is_read_with_gmails_scope_by_default(rsa_pem: str) -> None:
    check = check_settings(
        json.dumps(service_account(rsa_pem)), parameter=PARAMETER, allow_private_hosts=False
    )

    settings = check.settings
    assert isinstance(settings, ServiceAccount)
    assert (settings.scope, settings.token_url, settings.private_key_id, settings.client_id) == (
        "https://mail.google.com/",
        "https://oauth2.googleapis.com/token",
        "0f1e2d3c",
        "104729",
    )
    assert "PRIVATE KEY" not in repr(settings)


@pytest.mark.parametrize(
    ("text", "expected", "said"),
    [
        ('{"grant": ', [("smtp.oauth2", "oauth2_not_json")], "is not valid JSON: Expecting value"),
        ("[1]", [("smtp.oauth2", "oauth2_not_object")], "not an object"),
        ("{}", [("smtp.oauth2.grant", "oauth2_grant_unknown")], "is missing"),
        ('{"grant": "password"}', [("smtp.oauth2.grant", "oauth2_grant_unknown")], "not a grant"),
    ],
)
def test_what_is_not_settings_at_all(text: str, expected: list[Any], said: str) -> None:
    assert found(text) == expected
    check = check_settings(text, parameter=PARAMETER, allow_private_hosts=False)
    assert said in check.errors[0].message
    assert PARAMETER in check.errors[0].message


def test_missing_and_unknown_keys_are_named_with_the_fix() -> None:
    settings = {**CLIENT, "tenant_id": "8e3f", "token_uri": TOKEN_URL}
    del settings["scope"]

    assert sorted(found(settings)) == [
        ("smtp.oauth2.scope", "oauth2_key_missing"),
        ("smtp.oauth2.tenant_id", "oauth2_key_unknown"),
        ("smtp.oauth2.token_uri", "oauth2_key_unknown"),
    ]
    said = " | ".join(messages(settings))
    assert "https://outlook.office365.com/.default" in said  # what scope to put
    assert "the tenant goes in token_url" in said
    assert "the client_credentials grant's endpoint is token_url" in said


def test_a_service_accounts_key_fields_at_the_top_level_are_pointed_inside(rsa_pem: str) -> None:
    settings = {"grant": "service_account", "client_email": "a@b.example", "private_key": rsa_pem}

    assert sorted(found(settings)) == [
        ("smtp.oauth2.client_email", "oauth2_key_unknown"),
        ("smtp.oauth2.private_key", "oauth2_key_unknown"),
        ("smtp.oauth2.service_account_key", "oauth2_key_missing"),
    ]
    assert "it belongs inside service_account_key" in messages(settings)[1]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"client_secret": ""}, ("smtp.oauth2.client_secret", "oauth2_value_invalid")),
        ({"client_id": 42}, ("smtp.oauth2.client_id", "oauth2_value_invalid")),
        ({"scope": None}, ("smtp.oauth2.scope", "oauth2_value_invalid")),
        ({"client_secret": "line\nbreak"}, ("smtp.oauth2.client_secret", "oauth2_value_invalid")),
        (
            {"token_url": "http://login.example.com/t"},
            ("smtp.oauth2.token_url", "oauth2_token_url_insecure"),
        ),
        (
            {"token_url": "login.example.com/t"},
            ("smtp.oauth2.token_url", "oauth2_token_url_invalid"),
        ),
        (
            {"token_url": "https://u:p@login.example.com/"},
            ("smtp.oauth2.token_url", "oauth2_token_url_invalid"),
        ),
        (
            {"token_url": "https://127.0.0.1/t"},
            ("smtp.oauth2.token_url", "oauth2_token_url_not_public"),
        ),
        (
            {"token_url": "https://169.254.169.254/t"},
            ("smtp.oauth2.token_url", "oauth2_token_url_not_public"),
        ),
        (
            {"token_url": "https://localhost:8443/t"},
            ("smtp.oauth2.token_url", "oauth2_token_url_not_public"),
        ),
        (
            {"token_url": "https://[fd00::1]/t"},
            ("smtp.oauth2.token_url", "oauth2_token_url_not_public"),
        ),
    ],
)
def test_client_credentials_values(change: dict[str, Any], expected: tuple[str, str]) -> None:
    settings = {**CLIENT, **change}

    assert found(settings) == [expected]


def test_the_not_public_rule_says_why_and_yields_to_allow_private_hosts() -> None:
    settings = {**CLIENT, "token_url": "https://169.254.169.254/token"}

    (message,) = messages(settings)
    assert "a link-local address" in message
    assert "AllowPrivateSmtpHosts" in message
    assert found(settings, allow_private_hosts=True) == []


def test_a_secret_id_and_a_scope_microsoft_refuses_are_warned_about() -> None:
    settings = {
        **CLIENT,
        "client_secret": "b1946ac9-2f1d-4c3b-8b8e-3c1e7d0a9f55",
        "scope": "https://outlook.office365.com/SMTP.Send",
    }

    assert found(settings) == [
        ("smtp.oauth2.client_secret", "oauth2_client_secret_looks_like_id"),
        ("smtp.oauth2.scope", "oauth2_scope_not_default"),
    ]
    secret_warning, scope_warning = messages(settings)
    assert "the Value, shown only when the secret is created" in secret_warning
    assert "b1946ac9" not in secret_warning
    assert "https://outlook.office365.com/.default" in scope_warning


@pytest.mark.parametrize(
    ("change", "expected", "said"),
    [
        (
            {"type": "authorized_user"},
            ("type", "oauth2_service_account_key_invalid"),
            "not service_account",
        ),
        (
            {"client_email": None},
            ("client_email", "oauth2_service_account_key_invalid"),
            "is missing",
        ),
        (
            {"client_email": "courier"},
            ("client_email", "oauth2_service_account_key_invalid"),
            "not an address",
        ),
        (
            {"token_uri": "http://oauth2.googleapis.com/token"},
            ("token_uri", "oauth2_token_url_insecure"),
            "http://",
        ),
        (
            {"private_key": "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"},
            ("private_key", "oauth2_private_key_invalid"),
            "not a PEM private key",
        ),
        (
            {"private_key": "-----BEGIN PRIVATE KEY-----\\nMIIE\\n-----END PRIVATE KEY-----\\n"},
            ("private_key", "oauth2_private_key_invalid"),
            "the two characters \\n",
        ),
        (
            {"private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"},
            ("private_key", "oauth2_private_key_invalid"),
            "not a readable PEM private key",
        ),
    ],
)
def test_service_account_key_fields(
    rsa_pem: str, change: dict[str, Any], expected: tuple[str, str], said: str
) -> None:
    settings = service_account(rsa_pem, **change)

    key, code = expected
    assert found(settings) == [(f"smtp.oauth2.service_account_key.{key}", code)]
    assert said in messages(settings)[0]


@pytest.mark.parametrize(
    ("make_key", "said"),
    [
        (lambda: pem(ec.generate_private_key(ec.SECP256R1())), "is not an RSA key"),
        (lambda: pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)), "1024 bits"),  # noqa: S505
        (
            lambda: pem(
                rsa.generate_private_key(public_exponent=65537, key_size=2048), password=b"pw"
            ),
            "is encrypted",
        ),
    ],
    ids=["ec", "rsa-1024", "encrypted"],
)
def test_a_private_key_that_cannot_sign_rs256_is_refused(
    make_key: Callable[[], str], said: str
) -> None:
    settings = service_account(make_key())

    assert found(settings) == [
        ("smtp.oauth2.service_account_key.private_key", "oauth2_private_key_invalid")
    ]
    assert said in messages(settings)[0]


def test_a_service_account_key_pasted_as_a_string_is_refused_with_why(rsa_pem: str) -> None:
    settings = {
        "grant": "service_account",
        "service_account_key": json.dumps(service_account(rsa_pem)),
    }

    assert found(settings) == [("smtp.oauth2.service_account_key", "oauth2_value_invalid")]
    assert "not a string holding it" in messages(settings)[0]


# --- the rules that join the parameter to the URI ----------------------------------------------


def problems(
    uri: str | None, oauth2: object | None, *, own: bool = True
) -> list[tuple[str, str, str]]:
    context = ConfigContext(
        has_own_uri=own,
        connection_uri=ConnectionUri.parse(uri) if uri else None,
        oauth2_json=None if oauth2 is None else json.dumps(oauth2),
        oauth2_parameter=PARAMETER,
    )
    return [(p.field, p.code, p.severity) for p in check_config({}, context)]


def test_a_token_login_without_settings_says_what_to_store() -> None:
    context = ConfigContext(
        has_own_uri=True,
        connection_uri=ConnectionUri.parse(TOKEN_URI_LOGIN),
        oauth2_parameter=PARAMETER,
    )

    (problem,) = check_config({}, context)

    assert (problem.field, problem.code) == ("smtp.oauth2", "oauth2_settings_missing")
    assert PARAMETER in problem.message
    assert '"grant": "client_credentials"' in problem.message
    assert '"grant": "service_account"' in problem.message


def test_settings_without_a_token_login_are_unused() -> None:
    assert problems("smtps://u:pw-123456@smtp.acme.example/", CLIENT) == [
        ("smtp.oauth2", "oauth2_unused", "warning")
    ]
    assert problems("smtps://u:pw-123456@smtp.acme.example/", CLIENT, own=False) == [
        ("smtp.oauth2", "oauth2_unused", "warning")
    ]


def test_a_default_sender_with_a_token_login_is_not_supported() -> None:
    assert problems(TOKEN_URI_LOGIN, None, own=False) == [
        ("smtp.connection_uri", "oauth2_default_sender_unsupported", "error")
    ]


def test_the_settings_are_checked_when_the_uri_logs_in_with_a_token() -> None:
    assert problems(TOKEN_URI_LOGIN, CLIENT) == []
    assert problems(TOKEN_URI_LOGIN, {**CLIENT, "grant": "implicit"}) == [
        ("smtp.oauth2.grant", "oauth2_grant_unknown", "error")
    ]


def read_config(oauth2: object | None, uri: str = TOKEN_URI_LOGIN) -> Any:
    return parse_project_config(
        "acme",
        config_json='{"message_retries": 3}',
        connection_uri=uri,
        default_connection_uri=None,
        default_from_address="no-reply@stack.example",
        oauth2_json=None if oauth2 is None else json.dumps(oauth2),
    )


def test_the_project_config_carries_the_settings_with_the_secret_hidden() -> None:
    config = read_config(CLIENT)

    assert isinstance(config.oauth, ClientCredentials)
    assert config.oauth.client_secret == SECRET
    assert config.oauth.parameter == PARAMETER
    assert config.connection_uri.token_user == "sender@acme.example"
    assert SECRET not in repr(config)


def test_the_first_error_of_the_settings_is_raised_with_the_projects_retries() -> None:
    with pytest.raises(ConfigError) as caught:
        read_config({**CLIENT, "token_url": "http://login.acme.example/t"})

    assert (caught.value.field, caught.value.code) == (
        "smtp.oauth2.token_url",
        "oauth2_token_url_insecure",
    )
    assert caught.value.message_retries == 3


def test_a_password_login_has_no_token_settings() -> None:
    assert read_config(CLIENT, uri="smtps://u:pw-123456@smtp.acme.example/").oauth is None


# --- what the endpoint's answers mean --------------------------------------------------------


class StandIn:
    """The endpoint's answers, in order, instead of an HTTPS call; records each request."""

    def __init__(self, *answers: HttpsAnswer | HttpsFailure) -> None:
        self.answers = list(answers)
        self.bodies: list[str] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def __call__(self, settings: Any, body: bytes) -> HttpsAnswer | HttpsFailure:
        self.bodies.append(body.decode())
        self.entered.set()
        self.release.wait(5)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def answer(status: int, document: object, *, reason: str = "") -> HttpsAnswer:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    return HttpsAnswer(where=TOKEN_URL, status=status, reason=reason, headers={}, body=body)


def granted(token: str = "eyJ0.token-one", expires_in: object = 3600) -> HttpsAnswer:
    return answer(200, {"access_token": token, "token_type": "Bearer", "expires_in": expires_in})


class Clock:
    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch) -> Callable[..., StandIn]:
    def install(*answers: HttpsAnswer | HttpsFailure) -> StandIn:
        endpoint = StandIn(*answers)
        monkeypatch.setattr(
            Tokens, "_call", lambda _, settings, body, timeout: endpoint(settings, body)
        )
        return endpoint

    return install


SETTINGS = ClientCredentials(
    token_url=TOKEN_URL,
    client_id="6731de76",
    client_secret=SECRET,
    scope="https://outlook.office365.com/.default",
    parameter=PARAMETER,
)


def refusal(
    stand_in: Callable[..., StandIn], result: HttpsAnswer, settings: Any = SETTINGS
) -> ConfigError:
    stand_in(result)
    with pytest.raises(ConfigError) as caught:
        Tokens().token(settings, mailbox="sender@acme.example")
    return caught.value


@pytest.mark.parametrize(
    ("document", "fix"),
    [
        (
            {
                "error": "invalid_client",
                "error_description": "AADSTS7000215: Invalid client secret provided.",
            },
            "put the Value",
        ),
        (
            {
                "error": "invalid_client",
                "error_description": "AADSTS7000222: The provided client secret keys are expired.",
            },
            "has expired",
        ),
        (
            {
                "error": "unauthorized_client",
                "error_description": "AADSTS700016: Application not found.",
            },
            "client_id is not an application of the tenant",
        ),
        ({"error": "invalid_scope"}, "https://outlook.office365.com/.default"),
        ({"error": "unsupported_grant_type"}, "is token_url the provider's token endpoint"),
        ({"error": "unauthorized_client"}, "SMTP.SendAsApp"),
        (
            {"error": "invalid_request", "error_description": "AADSTS90002: Tenant not found."},
            "the tenant in token_url does not exist",
        ),
    ],
)
def test_a_refusal_quotes_the_endpoint_and_says_what_to_change(
    stand_in: Callable[..., StandIn], document: dict[str, str], fix: str
) -> None:
    error = refusal(stand_in, answer(401, document, reason="Unauthorized"))

    assert (error.field, error.code) == ("smtp.oauth2", "oauth_client_refused")
    assert f'error "{document["error"]}"' in error.message
    assert document.get("error_description", "") in error.message
    assert "login.microsoftonline.com refused to issue a token: 401 Unauthorized" in error.message
    assert fix in error.message
    assert PARAMETER in error.message


def test_a_service_account_refusal_names_the_delegation_to_grant(
    stand_in: Callable[..., StandIn], rsa_pem: str
) -> None:
    account = ServiceAccount(
        client_email="courier@acme-mail.iam.gserviceaccount.com",
        private_key=rsa_pem,
        token_uri="https://oauth2.googleapis.com/token",
        client_id="104729",
    )
    document = {"error": "unauthorized_client", "error_description": "Client is unauthorized."}

    error = refusal(stand_in, answer(401, document), account)

    assert (
        "Domain-wide delegation) add client ID 104729 with the scope https://mail.google.com/"
        in (error.message)
    )
    assert "oauth2.googleapis.com" in error.message


def test_the_endpoints_words_are_cleaned_bounded_and_never_the_secret(
    stand_in: Callable[..., StandIn],
) -> None:
    description = f"bad\r\nSubject: x\x1b[31m {SECRET} \u202e" + "y" * 2000
    error = refusal(
        stand_in, answer(400, {"error": "invalid_client", "error_description": description})
    )

    assert SECRET not in error.message
    assert "***" in error.message
    assert not any(char in error.message for char in "\r\n\x1b\u202e")
    assert "bad Subject: x[31m" in error.message
    assert len(error.message) < 1500


@pytest.mark.parametrize(
    ("result", "said"),
    [
        (answer(503, b"busy", reason="Service Unavailable"), "answered 503 Service Unavailable"),
        (answer(429, {"error": "slow_down"}), 'answered 429 (error "slow_down")'),
        (answer(400, b"<html>bad</html>"), "answered 400"),
        (answer(200, b"not json"), "without a usable Bearer access_token"),
        (answer(200, {"access_token": "t", "token_type": "mac"}), "without a usable Bearer"),
        (
            ExchangeFailedError("timed out", where=TOKEN_URL, timed_out=True),
            "did not answer in time",
        ),
        (ExchangeFailedError("x", where=TOKEN_URL, refused=True), "refused the connection"),
    ],
)
def test_no_token_for_now_is_transient(
    stand_in: Callable[..., StandIn], result: HttpsAnswer | HttpsFailure, said: str
) -> None:
    stand_in(result)

    with pytest.raises(TokenUnavailableError) as caught:
        Tokens().token(SETTINGS, mailbox="sender@acme.example")

    assert said in str(caught.value)
    assert "login.microsoftonline.com" in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None


# --- the cache ---------------------------------------------------------------------------------


def test_the_client_credentials_form(stand_in: Callable[..., StandIn]) -> None:
    endpoint = stand_in(granted())

    Tokens().token(SETTINGS, mailbox="sender@acme.example")

    assert endpoint.bodies == [
        "grant_type=client_credentials&client_id=6731de76&client_secret=Zq8~secret-canary-71f.Kd"
        "&scope=https%3A%2F%2Foutlook.office365.com%2F.default"
    ]


def test_the_service_account_jwt(
    stand_in: Callable[..., StandIn], rsa_pem: str, clock: Clock
) -> None:
    import jwt

    endpoint = stand_in(granted())
    account = ServiceAccount(
        client_email="courier@acme-mail.iam.gserviceaccount.com",
        private_key=rsa_pem,
        private_key_id="0f1e2d3c",
        token_uri="https://oauth2.googleapis.com/token",
    )

    Tokens(clock=clock).token(account, mailbox="sender@acme.example")

    (body,) = endpoint.bodies
    form = dict(pair.split("=", 1) for pair in body.split("&"))
    assert form["grant_type"] == JWT_BEARER.replace(":", "%3A")
    private = serialization.load_pem_private_key(rsa_pem.encode(), None)
    assert isinstance(private, rsa.RSAPrivateKey)
    public = private.public_key()
    claims = jwt.decode(
        form["assertion"],
        public,
        algorithms=["RS256"],
        audience=account.token_uri,
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims == {
        "iss": "courier@acme-mail.iam.gserviceaccount.com",
        "sub": "sender@acme.example",
        "scope": "https://mail.google.com/",
        "aud": "https://oauth2.googleapis.com/token",
        "iat": 1_900_000_000,
        "exp": 1_900_003_600,
    }
    assert jwt.get_unverified_header(form["assertion"])["kid"] == "0f1e2d3c"


@pytest.mark.parametrize(
    ("expires_in", "reused_for"),
    [(3600, 3540), ("3599", 3539), (90, 45), (None, 240), ("soon", 240), (-5, 240)],
)
def test_a_token_is_reused_until_shortly_before_it_expires(
    stand_in: Callable[..., StandIn], clock: Clock, expires_in: object, reused_for: float
) -> None:
    endpoint = stand_in(granted("eyJ0.first", expires_in), granted("eyJ0.second"))
    source = Tokens(clock=clock).source(SETTINGS, mailbox="sender@acme.example")

    assert source(False) == "eyJ0.first"
    clock.now += reused_for - 1
    assert source(False) == "eyJ0.first"
    clock.now += 1
    assert source(False) == "eyJ0.second"
    assert len(endpoint.bodies) == 2


def test_mailboxes_and_settings_have_tokens_of_their_own(stand_in: Callable[..., StandIn]) -> None:
    endpoint = stand_in(granted("eyJ0.a"), granted("eyJ0.b"), granted("eyJ0.c"))
    tokens = Tokens()
    other = ClientCredentials(token_url=TOKEN_URL, client_id="other", client_secret="x", scope="s")

    got = [
        tokens.token(SETTINGS, mailbox="a@acme.example"),
        tokens.token(SETTINGS, mailbox="b@acme.example"),
        tokens.token(other, mailbox="a@acme.example"),
        tokens.token(SETTINGS, mailbox="a@acme.example"),
    ]

    assert got == ["eyJ0.a", "eyJ0.b", "eyJ0.c", "eyJ0.a"]
    assert len(endpoint.bodies) == 3


def test_refresh_fetches_anew_and_keeps_the_new_token(stand_in: Callable[..., StandIn]) -> None:
    stand_in(granted("eyJ0.old"), granted("eyJ0.new"))
    source = Tokens().source(SETTINGS, mailbox="sender@acme.example")

    assert [source(False), source(True), source(False)] == ["eyJ0.old", "eyJ0.new", "eyJ0.new"]


class CountingLock:
    """A lock that counts the threads that came to it (holding it or waiting for it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.arrived = 0
        self._count = threading.Lock()

    def __enter__(self) -> None:
        with self._count:
            self.arrived += 1
        self._lock.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self._lock.release()


@pytest.mark.parametrize("outcome", ["failure", "token"])
def test_threads_that_wait_for_a_fetch_share_its_outcome(
    stand_in: Callable[..., StandIn], outcome: str
) -> None:
    # GIVEN a fetch in progress (held by the stand-in), and two sessions waiting for it, one
    # of them asking for a refresh
    result = granted() if outcome == "token" else ExchangeFailedError("x", where=TOKEN_URL)
    endpoint = stand_in(result)
    endpoint.release.clear()
    tokens = Tokens()
    lock = CountingLock()
    tokens._slot((SETTINGS, "m@acme.example")).lock = lock  # type: ignore[assignment]
    outcomes: list[str] = []

    def session(refresh: bool) -> None:
        try:
            outcomes.append(tokens.token(SETTINGS, mailbox="m@acme.example", refresh=refresh))
        except TokenUnavailableError as exc:
            outcomes.append(type(exc).__name__)

    threads = [
        threading.Thread(target=session, args=(refresh,)) for refresh in (False, False, True)
    ]
    threads[0].start()
    assert endpoint.entered.wait(5)
    for thread in threads[1:]:
        thread.start()
    while lock.arrived < 3:
        threading.Event().wait(0.001)

    # WHEN the fetch ends
    endpoint.release.set()
    for thread in threads:
        thread.join(5)

    # THEN every session got its outcome (each its own error), from the one request
    expected = "eyJ0.token-one" if outcome == "token" else "TokenUnavailableError"
    assert outcomes == [expected] * 3
    assert len(endpoint.bodies) == 1


def test_a_failure_is_not_kept_for_the_next_call(stand_in: Callable[..., StandIn]) -> None:
    endpoint = stand_in(ExchangeFailedError("x", where=TOKEN_URL, refused=True), granted())
    tokens = Tokens()

    with pytest.raises(TokenUnavailableError):
        tokens.token(SETTINGS, mailbox="m@acme.example")

    assert tokens.token(SETTINGS, mailbox="m@acme.example") == "eyJ0.token-one"
    assert len(endpoint.bodies) == 2


def test_a_token_source_shows_no_secret() -> None:
    source = Tokens().source(SETTINGS, mailbox="sender@acme.example")

    assert repr(source) == (
        "<TokenSource client_credentials for sender@acme.example from login.microsoftonline.com>"
    )


def test_reading_client_credentials_imports_neither_pyjwt_nor_cryptography() -> None:
    # GIVEN a fresh interpreter (this one has imported everything) WHEN it reads a config with
    # client credentials and makes a token source
    code = (
        "from courier.config import parse_project_config; "
        "from courier.oauth import Tokens; "
        "config = parse_project_config('acme', config_json=None, "
        f"connection_uri={TOKEN_URI_LOGIN!r}, default_connection_uri=None, "
        f"default_from_address='a@b.example', oauth2_json={json.dumps(CLIENT)!r}); "
        "Tokens().source(config.oauth, mailbox=config.connection_uri.token_user)"
    )
    loaded = {module.split(".")[0] for module in modules_loaded_by(code)}

    # THEN neither PyJWT nor cryptography was imported: only a service account needs them
    assert loaded & {"jwt", "cryptography"} == set()
