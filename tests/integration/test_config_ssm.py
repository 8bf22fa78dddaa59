"""SsmConfigProvider and the SSM layer under it (courier.ssm) against SSM Parameter Store (moto):
one GetParameters per project per TTL, for all of a project's parameters."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from courier import config_provider
from courier.config import ProjectConfig, parameter_names, parse_project_config
from courier.config_provider import SsmConfigProvider, get_project_config
from courier.errors import ConfigError, ConfigUnavailableError
from courier.ssm import SsmParameters, get_parameters
from courier.stack import StackSettings

if TYPE_CHECKING:
    from mypy_boto3_ssm.client import SSMClient

REGION = "us-east-1"
# Each URI's password is a canary: it must show up only in ProjectConfig.connection_uri.
OWN_URI = "smtps://mailer:own-canary-5e1@smtp.acme.example:465/"
DEFAULT_URI = "smtp://stack:default-canary-9b2@mail.stack.example/"
DEFAULT_PARAMETER = "/courier/default/smtp/connection_uri"
DEFAULT_FROM = "no-reply@stack.example"
CERT_PEM = "-----BEGIN CERTIFICATE-----\ncert-canary-0a4\n-----END CERTIFICATE-----\n"
KEY_PEM = "-----BEGIN PRIVATE KEY-----\nkey-canary-c37\n-----END PRIVATE KEY-----\n"
OAUTH2_JSON = json.dumps(
    {
        "grant": "client_credentials",
        "token_url": "https://login.acme.example/oauth2/token",
        "client_id": "courier",
        "client_secret": "oauth-canary-d18",
        "scope": "smtp",
    }
)
CANARIES = (
    "own-canary-5e1",
    "default-canary-9b2",
    "cert-canary-0a4",
    "key-canary-c37",
    "oauth-canary-d18",
)
SETTINGS = StackSettings(
    default_connection_uri_parameter=DEFAULT_PARAMETER, default_from_address=DEFAULT_FROM
)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake credentials and the stack's environment, inside moto's mock."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "COURIER_SSM_PREFIX": "/courier",
        "COURIER_DEFAULT_PROJECT": "default",
        "COURIER_DEFAULT_CONNECTION_URI_PARAMETER": DEFAULT_PARAMETER,
        "COURIER_DEFAULT_FROM_ADDRESS": DEFAULT_FROM,
        "POWERTOOLS_PARAMETERS_MAX_AGE": "60",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SSM"):
        monkeypatch.delenv(name, raising=False)
    parameters.clear_caches()  # type: ignore[no-untyped-call]
    with mock_aws():
        yield
    parameters.clear_caches()  # type: ignore[no-untyped-call]


@pytest.fixture
def ssm(aws: None) -> SSMClient:
    """The operator's client, to write parameters."""
    return boto3.client("ssm", region_name=REGION)


@pytest.fixture
def reader(aws: None) -> SSMClient:
    """The client injected into the provider."""
    return boto3.client("ssm", region_name=REGION)


@pytest.fixture
def calls(reader: SSMClient) -> list[str]:
    """The SSM operations the provider sends, as counted by a botocore event hook."""
    sent: list[str] = []

    def count(model: Any, **_: Any) -> None:
        sent.append(model.name)

    reader.meta.events.register("before-call.ssm.*", count)
    return sent


@pytest.fixture
def provider(reader: SSMClient, calls: list[str]) -> SsmConfigProvider:
    return SsmConfigProvider(settings=SETTINGS, boto3_client=reader)


def put_project(
    ssm: SSMClient,
    project: str,
    *,
    uri: str | None = None,
    config: Any | None = None,
    cert: str | None = None,
    key: str | None = None,
    oauth2: str | None = None,
) -> None:
    for part, value in (("client_cert", cert), ("client_key", key), ("oauth2", oauth2)):
        if value is not None:
            ssm.put_parameter(
                Name=f"/courier/{project}/smtp/{part}", Value=value, Type="SecureString"
            )
    if uri is not None:
        ssm.put_parameter(
            Name=f"/courier/{project}/smtp/connection_uri", Value=uri, Type="SecureString"
        )
    if config is not None:
        value = config if isinstance(config, str) else json.dumps(config)
        ssm.put_parameter(Name=f"/courier/{project}/config", Value=value, Type="String")


@pytest.fixture
def default_sender(ssm: SSMClient) -> None:
    ssm.put_parameter(Name=DEFAULT_PARAMETER, Value=DEFAULT_URI, Type="SecureString")


def test_project_with_own_uri_and_config(
    ssm: SSMClient, provider: SsmConfigProvider, default_sender: None
) -> None:
    # GIVEN a project with its own SecureString URI and a config
    put_project(
        ssm,
        "acme",
        uri=OWN_URI,
        config={
            "smtp": {"from_address": "security@acme.example", "from_name": "Acme"},
            "templates": {"login_code_valid": {"email": {"subject": "base64://SGk="}}},
            "message_retries": 2,
        },
    )

    # WHEN its configuration is read
    config = provider.get("acme")

    # THEN it sends through its own server, from its own address
    assert config.uses_default_sender is False
    assert config.connection_uri.redacted() == "smtps://mailer:***@smtp.acme.example:465/"
    assert (config.from_address, config.from_name) == ("security@acme.example", "Acme")
    assert config.templates["login_code_valid"].subject == "base64://SGk="
    assert config.message_retries == 2


def test_project_without_a_uri_uses_the_default_sender(
    ssm: SSMClient, provider: SsmConfigProvider, default_sender: None
) -> None:
    # GIVEN a project with settings but no URI of its own
    put_project(ssm, "globex", config={})

    # WHEN its configuration is read
    config = provider.get("globex")

    # THEN it sends through the stack's server, from DefaultFromAddress
    assert config.uses_default_sender is True
    assert config.connection_uri.redacted() == "smtp://stack:***@mail.stack.example:587/"
    assert config.from_address == DEFAULT_FROM
    assert config.message_retries == 5


def test_a_project_without_any_parameter_is_unknown_and_costs_one_call(
    provider: SsmConfigProvider, default_sender: None, calls: list[str]
) -> None:
    # GIVEN a project id nobody created (a typo: "acmee"), and a default sender
    # WHEN a batch reads it 100 times
    for _ in range(100):
        with pytest.raises(ConfigError) as caught:
            provider.get("acmee")

    # THEN it is not sent through the default sender; the answer is cached like any other
    assert caught.value.code == "project_unknown"
    assert calls == ["GetParameters"]


def test_the_default_project_needs_no_parameter_of_its_own(
    ssm: SSMClient, calls: list[str]
) -> None:
    # GIVEN a stack whose default sender lives elsewhere than the default project's URI
    ssm.put_parameter(Name="/stack/sender", Value=DEFAULT_URI, Type="SecureString")
    settings = StackSettings(default_connection_uri_parameter="/stack/sender")
    provider = SsmConfigProvider(settings=settings, boto3_client=ssm)

    # WHEN the default project is read THEN it is known, through the default sender
    assert provider.get("default").uses_default_sender is True


def test_default_project_owns_the_default_uri(
    provider: SsmConfigProvider, default_sender: None, calls: list[str]
) -> None:
    # GIVEN the default project, whose own URI parameter is the stack's default
    config = provider.get("default")

    # THEN that URI is its own (it may set its sender), read once
    assert config.uses_default_sender is False
    assert config.connection_uri.password == "default-canary-9b2"
    assert calls == ["GetParameters"]


@pytest.mark.parametrize("own_parameters", [True, False], ids=["own", "none"])
def test_hundred_gets_cost_one_call(
    ssm: SSMClient,
    provider: SsmConfigProvider,
    default_sender: None,
    calls: list[str],
    own_parameters: bool,
) -> None:
    # GIVEN a project with parameters of its own (or only a config)
    if own_parameters:
        put_project(ssm, "acme", uri=OWN_URI, config={"smtp": {"from_name": "Acme"}})
    else:
        put_project(ssm, "acme", config={})

    # WHEN a batch reads its configuration 100 times
    configs = {id(provider.get("acme")) for _ in range(100)}

    # THEN SSM was asked once, and every reader got the same answer
    assert calls == ["GetParameters"]
    assert len(configs) == 1


def test_missing_everything_is_cached_too(
    ssm: SSMClient, provider: SsmConfigProvider, calls: list[str]
) -> None:
    # GIVEN a project with only a config: no URI of its own, no default sender
    put_project(ssm, "acme", config={})

    # WHEN the project is read 100 times
    for _ in range(100):
        with pytest.raises(ConfigError) as caught:
            provider.get("acme")
        assert caught.value.code == "connection_uri_missing"

    # THEN the "missing" answer cost one call
    assert calls == ["GetParameters"]


def test_two_projects_cost_two_calls(
    ssm: SSMClient, provider: SsmConfigProvider, default_sender: None, calls: list[str]
) -> None:
    put_project(ssm, "acme", uri=OWN_URI)
    put_project(ssm, "globex", config={})

    for _ in range(50):
        provider.get("acme")
        provider.get("globex")

    assert calls == ["GetParameters", "GetParameters"]


def test_secure_string_is_decrypted_and_never_shown(
    ssm: SSMClient,
    provider: SsmConfigProvider,
    default_sender: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # GIVEN a project whose URI is a SecureString, and every log line captured
    # (botocore itself logs response bodies at DEBUG: courier is captured at DEBUG, the rest at
    # INFO, as in the function)
    put_project(ssm, "acme", uri=OWN_URI, config={"smtp": {"headers": {"X-A": "1"}}})
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="courier")

    # WHEN its configuration is read
    config = provider.get("acme")

    # THEN the decrypted password is there to authenticate with, and nowhere else
    assert config.connection_uri.password == "own-canary-5e1"
    assert "own-canary-5e1" not in repr(config)
    assert "own-canary-5e1" not in str(config)
    assert any("acme" in record.getMessage() for record in caplog.records)
    assert "own-canary-5e1" not in caplog.text


def test_bad_config_in_ssm_is_a_config_error(ssm: SSMClient, provider: SsmConfigProvider) -> None:
    # GIVEN a config that carries the URI in the String parameter
    put_project(ssm, "acme", uri=OWN_URI, config={"smtp": {"connection_uri": OWN_URI}})

    # WHEN it is read: THEN it is refused, naming the SecureString, without the password
    with pytest.raises(ConfigError) as caught:
        provider.get("acme")

    assert caught.value.code == "connection_uri_in_plain_config"
    assert "own-canary-5e1" not in str(caught.value)


def stubbed_client(code: str) -> tuple[SSMClient, Stubber]:
    """A client whose next GetParameters fails with ``code``."""
    client = boto3.client("ssm", region_name=REGION)
    stubber = Stubber(client)
    stubber.add_client_error(
        "get_parameters",
        service_error_code=code,
        service_message=f"{code} (stubbed)",
        http_status_code=500 if code == "InternalServerError" else 400,
    )
    stubber.activate()
    return client, stubber


@pytest.mark.parametrize(
    "code",
    ["ThrottlingException", "AccessDeniedException", "InternalServerError", "InvalidKeyId"],
)
def test_ssm_errors_become_config_unavailable(aws: None, code: str) -> None:
    # GIVEN SSM failing; with Powertools' get_parameters_by_name(raise_on_error=False) an
    # InternalServerError or InvalidKeyId would read as "every parameter missing"
    client, _ = stubbed_client(code)
    provider = SsmConfigProvider(settings=SETTINGS, boto3_client=client)

    # WHEN a project is read
    with pytest.raises(ConfigUnavailableError) as caught:
        provider.get("acme")

    # THEN it names the parameters and the cause, and shows no value
    message = str(caught.value)
    assert "/courier/acme/smtp/connection_uri" in message
    assert "/courier/acme/config" in message
    assert code in message
    assert not any(canary in message for canary in CANARIES)


def test_unavailability_is_not_cached(aws: None, ssm: SSMClient) -> None:
    # GIVEN a read that fails once, then SSM answers
    ssm.put_parameter(Name="/courier/acme/smtp/connection_uri", Value=OWN_URI, Type="SecureString")
    client, stubber = stubbed_client("ThrottlingException")
    provider = SsmConfigProvider(settings=SETTINGS, boto3_client=client)
    with pytest.raises(ConfigUnavailableError):
        provider.get("acme")

    # WHEN it is read again (the stub now passes through to moto)
    stubber.deactivate()
    config = provider.get("acme")

    # THEN the second read went to SSM and succeeded
    assert config.connection_uri.password == "own-canary-5e1"


def test_unreachable_endpoint_becomes_config_unavailable(aws: None) -> None:
    # GIVEN an SSM endpoint nobody listens on
    client = boto3.client(
        "ssm",
        region_name=REGION,
        endpoint_url="http://127.0.0.1:9",
        config=Config(connect_timeout=1, retries={"max_attempts": 1}),
    )
    provider = SsmConfigProvider(settings=SETTINGS, boto3_client=client)

    # WHEN a project is read: THEN it is a transient ConfigUnavailableError
    with pytest.raises(ConfigUnavailableError, match="/courier/acme/config"):
        provider.get("acme")


def test_function_api_reads_the_default_project(
    monkeypatch: pytest.MonkeyPatch, aws: None, ssm: SSMClient, default_sender: None
) -> None:
    # GIVEN no default provider yet, and the stack's environment
    monkeypatch.setattr(config_provider, "DEFAULT_PROVIDERS", {})
    put_project(ssm, "default", config={"smtp": {"from_name": "Stack"}})

    # WHEN the function API is called without a project, twice
    first: ProjectConfig = get_project_config()
    second = get_project_config()

    # THEN it read the default project once, through a lazily created provider
    assert (first.project_id, first.from_name) == ("default", "Stack")
    assert second is first
    assert isinstance(config_provider.DEFAULT_PROVIDERS["ssm"], SsmConfigProvider)


# --- the SSM layer: one call for every parameter of a project ------------------------------


def test_one_get_parameters_reads_all_five_parameters_and_the_default_sender(
    ssm: SSMClient, reader: SSMClient, calls: list[str], default_sender: None
) -> None:
    # GIVEN a project with its URI, config, client certificate and key, token settings, and a
    # client that records every request's names
    put_project(ssm, "acme", uri=OWN_URI, config={}, cert=CERT_PEM, key=KEY_PEM, oauth2=OAUTH2_JSON)
    asked: list[dict[str, Any]] = []
    reader.meta.events.register(
        "provide-client-params.ssm.GetParameters", lambda params, **_: asked.append(params)
    )

    # WHEN the SSM layer reads the project
    found = SsmParameters(SETTINGS, boto3_client=reader).read_project("acme")

    # THEN one decrypting GetParameters asked for all six names, and each value is there
    names = parameter_names("acme")
    assert calls == ["GetParameters"]
    assert [sorted(params["Names"]) for params in asked] == [sorted([*names, DEFAULT_PARAMETER])]
    assert [params["WithDecryption"] for params in asked] == [True]
    assert found.connection_uri is not None
    assert found.connection_uri.value == OWN_URI
    assert found.config is not None
    assert found.config.value == "{}"
    assert found.client_cert is not None
    assert found.client_cert.value == CERT_PEM
    assert found.client_key is not None
    assert found.client_key.value == KEY_PEM
    assert found.oauth2 is not None
    assert found.oauth2.value == OAUTH2_JSON
    assert found.default_connection_uri is not None
    assert found.default_connection_uri.value == DEFAULT_URI
    # ... and no value is in any repr
    assert not any(canary in repr(found) for canary in CANARIES)


def test_parameters_that_do_not_exist_are_none(reader: SSMClient, calls: list[str]) -> None:
    # GIVEN a project without any parameter, and a stack without a default sender
    settings = StackSettings(default_connection_uri_parameter=None)

    # WHEN the SSM layer reads it
    found = SsmParameters(settings, boto3_client=reader).read_project("acme")

    # THEN every parameter is None, which is not an error, and one call was made
    assert (
        found.connection_uri,
        found.config,
        found.client_cert,
        found.client_key,
        found.oauth2,
    ) == (None, None, None, None, None)
    assert found.default_connection_uri is None
    assert calls == ["GetParameters"]


def test_versions_come_without_decryption(
    ssm: SSMClient, reader: SSMClient, calls: list[str]
) -> None:
    # GIVEN acme's URI written twice and its config once
    put_project(ssm, "acme", uri=OWN_URI, config={})
    ssm.put_parameter(
        Name="/courier/acme/smtp/connection_uri", Value=OWN_URI, Type="SecureString", Overwrite=True
    )

    # WHEN the SSM layer reads acme's versions
    versions = SsmParameters(SETTINGS, boto3_client=reader).versions("acme")

    # THEN they are by name, for what exists, from one call
    assert versions == {"/courier/acme/smtp/connection_uri": 2, "/courier/acme/config": 1}
    assert calls == ["GetParameters"]


def test_more_names_than_one_call_takes_are_read_in_tens(
    ssm: SSMClient, reader: SSMClient, calls: list[str]
) -> None:
    # GIVEN twelve parameters (SSM takes at most ten names a call)
    names = [f"/courier/p{n}/config" for n in range(12)]
    for name in names:
        ssm.put_parameter(Name=name, Value="{}", Type="String")

    # WHEN they are read together: THEN every one comes back, in two calls
    assert sorted(get_parameters(reader, names)) == sorted(names)
    assert calls == ["GetParameters", "GetParameters"]


@pytest.mark.parametrize(
    "parts", [("cert", "key"), ("cert",), ("key",), ()], ids=["both", "cert", "key", "none"]
)
def test_provider_passes_the_client_certificate_and_key_on(
    ssm: SSMClient,
    provider: SsmConfigProvider,
    calls: list[str],
    monkeypatch: pytest.MonkeyPatch,
    parts: tuple[str, ...],
) -> None:
    # GIVEN a project with its own URI, and its client certificate and key, one, or neither
    put_project(
        ssm,
        "acme",
        uri=OWN_URI,
        config={},
        cert=CERT_PEM if "cert" in parts else None,
        key=KEY_PEM if "key" in parts else None,
    )
    seen: list[dict[str, Any]] = []

    def spy(project_id: str, **kwargs: Any) -> ProjectConfig:
        seen.append(kwargs)
        # The PEM texts are stand-ins, not certificates: the real parse judges the rest.
        ours = {**kwargs, "client_cert_pem": None, "client_key_pem": None}
        return parse_project_config(project_id, **ours)

    monkeypatch.setattr(config_provider, "parse_project_config", spy)

    # WHEN the provider reads the project
    provider.get("acme")

    # THEN the PEM texts went to parse_project_config as they are (the config rules judge a
    # lone one), from the same single call as the URI
    assert [(kw["client_cert_pem"], kw["client_key_pem"]) for kw in seen] == [
        (CERT_PEM if "cert" in parts else None, KEY_PEM if "key" in parts else None)
    ]
    assert seen[0]["connection_uri"] == OWN_URI
    assert calls == ["GetParameters"]


def test_provider_reads_the_token_settings_in_the_same_call(
    ssm: SSMClient, provider: SsmConfigProvider, calls: list[str]
) -> None:
    # GIVEN a project whose URI logs in with a token, and its token settings
    token_login = "smtps://sender%40acme.example@smtp.acme.example/?auth=xoauth2"
    put_project(ssm, "acme", uri=token_login, config={}, oauth2=OAUTH2_JSON)

    # WHEN the provider reads the project
    config = provider.get("acme")

    # THEN the settings came with the URI, from one call, and no repr shows the secret
    assert config.oauth is not None
    assert config.oauth.token_url == "https://login.acme.example/oauth2/token"
    assert config.connection_uri.token_user == "sender@acme.example"
    assert calls == ["GetParameters"]
    assert "oauth-canary-d18" not in repr(config)


def test_a_token_login_without_its_settings_is_a_config_error(
    ssm: SSMClient, provider: SsmConfigProvider
) -> None:
    put_project(ssm, "acme", uri="smtps://sender%40acme.example@smtp.acme.example/?auth=xoauth2")

    with pytest.raises(ConfigError) as caught:
        provider.get("acme")

    assert (caught.value.field, caught.value.code) == ("smtp.oauth2", "oauth2_settings_missing")
    assert "/courier/acme/smtp/oauth2" in caught.value.message


@pytest.mark.parametrize(
    "code", ["AccessDeniedException", "InvalidKeyId", "InternalServerError", "ThrottlingException"]
)
def test_no_secure_string_value_is_in_a_read_error(aws: None, ssm: SSMClient, code: str) -> None:
    # GIVEN every parameter of acme stored, and SSM failing in a way that quotes the request
    put_project(ssm, "acme", uri=OWN_URI, config={}, cert=CERT_PEM, key=KEY_PEM, oauth2=OAUTH2_JSON)
    client = boto3.client("ssm", region_name=REGION)

    def fail(params: dict[str, Any], **_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": code, "Message": f"refused {params['Names']}"}}, "GetParameters"
        )

    client.meta.events.register("before-parameter-build.ssm.GetParameters", fail)

    # WHEN the SSM layer reads acme
    with pytest.raises(ConfigUnavailableError) as caught:
        SsmParameters(SETTINGS, boto3_client=client).read_project("acme")

    # THEN the error names the parameters and the cause, and no value is anywhere in its chain
    assert "/courier/acme/smtp/client_key" in str(caught.value)
    assert code in str(caught.value)
    chain: list[BaseException] = []
    error: BaseException | None = caught.value
    while error is not None:
        chain.append(error)
        error = error.__cause__ or error.__context__
    assert not any(canary in f"{link} {link!r}" for link in chain for canary in CANARIES)


def test_the_endpoint_comes_from_aws_endpoint_url(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN AWS_ENDPOINT_URL pointing at a local AWS (as local/ and bench/ set it for moto)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")

    # WHEN the SSM layer makes its own client
    parameters = SsmParameters(SETTINGS)

    # THEN it talks to that endpoint, with the short timeouts
    assert parameters.client.meta.endpoint_url == "http://127.0.0.1:9"
    config: Any = parameters.client.meta.config
    assert (config.connect_timeout, config.read_timeout) == (3, 5)
