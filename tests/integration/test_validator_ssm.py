"""The validator against SSM Parameter Store (moto): reading with versions, applying, refusing
stale writes, and SSM failures as findings."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import ClientError

from courier.stack import StackSettings
from courier.validation import ConfigValidator, SsmConfigStore, ValidationResponse, Versions
from courier.validation.store import ConfigWriteError

if TYPE_CHECKING:
    from mypy_boto3_ssm.client import SSMClient

COURIER = "/services/identity/config/courier"
URI = f"{COURIER}/smtp/connection_uri"
DEFAULT_PARAMETER = "/courier/default/smtp/connection_uri"
URI_PARAMETER = "/courier/acme/smtp/connection_uri"
CONFIG_PARAMETER = "/courier/acme/config"
CANARY = "canary-pw-5f02"
ACME_URI = f"smtp://acme:{CANARY}@192.0.32.10:587/"
CERT_PARAMETER = "/courier/acme/smtp/client_cert"
KEY_PARAMETER = "/courier/acme/smtp/client_key"
CERT_PEM = "-----BEGIN CERTIFICATE-----\ncert-canary-77c1\n-----END CERTIFICATE-----\n"
KEY_PEM = "-----BEGIN PRIVATE KEY-----\nkey-canary-3d9e\n-----END PRIVATE KEY-----\n"
SETTINGS = StackSettings(default_connection_uri_parameter=DEFAULT_PARAMETER)


@pytest.fixture
def ssm(aws: None) -> SSMClient:
    """acme with its own URI and a sender name; the stack's default sender."""
    client = boto3.client("ssm")
    client.put_parameter(Name=DEFAULT_PARAMETER, Value=ACME_URI, Type="SecureString")
    client.put_parameter(Name=URI_PARAMETER, Value=ACME_URI, Type="SecureString")
    config = {"smtp": {"from_address": "no-reply@acme.example", "from_name": "Acme"}}
    client.put_parameter(Name=CONFIG_PARAMETER, Value=json.dumps(config), Type="String")
    return client


def validator(client: SSMClient | None = None) -> ConfigValidator:
    return ConfigValidator(
        settings=SETTINGS, store=SsmConfigStore(settings=SETTINGS, boto3_client=client)
    )


def apply(request: dict[str, Any], client: SSMClient | None = None) -> ValidationResponse:
    response = validator(client).handle({"project_id": "acme", "dry_run": False, **request})
    assert CANARY not in json.dumps(response)
    return response


def codes(response: ValidationResponse) -> list[str]:
    return [error["code"] for error in response["errors"]]


def test_store_reads_values_and_versions(ssm: SSMClient) -> None:
    # GIVEN acme's config written twice
    ssm.put_parameter(Name=CONFIG_PARAMETER, Value="{}", Type="String", Overwrite=True)

    # WHEN the store reads acme
    stored = SsmConfigStore(settings=SETTINGS).read("acme")

    # THEN it has both values, the default sender's, and their versions
    assert (stored.connection_uri, stored.config_json) == (ACME_URI, "{}")
    assert stored.default_connection_uri == ACME_URI
    assert stored.versions == Versions(connection_uri=1, config=2)
    assert (stored.client_cert, stored.client_key) == (None, None)
    assert CANARY not in repr(stored)


def count_calls(client: SSMClient) -> list[str]:
    """The SSM operations ``client`` sends, as a botocore event hook sees them."""
    sent: list[str] = []
    client.meta.events.register("before-call.ssm.*", lambda model, **_: sent.append(model.name))
    return sent


@pytest.mark.parametrize("parts", [("cert", "key"), ("cert",), ("key",)])
def test_store_reads_the_client_certificate_and_key_in_the_same_call(
    ssm: SSMClient, parts: tuple[str, ...]
) -> None:
    # GIVEN acme with a client certificate and its key, or only one of the two (the config
    # rules report a lone one; the store passes on what is there)
    if "cert" in parts:
        ssm.put_parameter(Name=CERT_PARAMETER, Value=CERT_PEM, Type="SecureString")
    if "key" in parts:
        ssm.put_parameter(Name=KEY_PARAMETER, Value=KEY_PEM, Type="SecureString")
    client = boto3.client("ssm")
    calls = count_calls(client)

    # WHEN the store reads acme
    stored = SsmConfigStore(settings=SETTINGS, boto3_client=client).read("acme")

    # THEN the PEM texts come decrypted with the rest, from one GetParameters, and repr shows none
    assert stored.client_cert == (CERT_PEM if "cert" in parts else None)
    assert stored.client_key == (KEY_PEM if "key" in parts else None)
    assert stored.connection_uri == ACME_URI
    assert calls == ["GetParameters"]
    assert not any(secret in repr(stored) for secret in ("cert-canary", "key-canary", CANARY))


def test_store_versions_decrypt_nothing(ssm: SSMClient) -> None:
    # GIVEN a client that records what it asks for
    client = boto3.client("ssm")
    asked: list[dict[str, Any]] = []
    client.meta.events.register(
        "provide-client-params.ssm.GetParameters", lambda params, **_: asked.append(params)
    )

    # WHEN the store reads acme's versions
    versions = SsmConfigStore(settings=SETTINGS, boto3_client=client).versions("acme")

    # THEN one call, without decryption, gives both versions
    assert versions == Versions(connection_uri=1, config=1)
    assert [params["WithDecryption"] for params in asked] == [False]


def test_apply_writes_a_secure_string_and_a_json_string(ssm: SSMClient) -> None:
    # GIVEN a new URI and a new sender name
    new_uri = f"smtps://acme:{CANARY}-2@192.0.32.10:465/"

    # WHEN they are applied
    response = apply(
        {"replace": [f"{URI}={json.dumps(new_uri)}", f'{COURIER}/smtp/from_name="Acme Support"']}
    )

    # THEN the URI is a SecureString, the rest is JSON in the String, and versions moved
    assert (response["valid"], response["applied"]) == (True, True)
    uri = ssm.get_parameter(Name=URI_PARAMETER, WithDecryption=True)["Parameter"]
    config = ssm.get_parameter(Name=CONFIG_PARAMETER)["Parameter"]
    assert (uri["Type"], uri["Value"]) == ("SecureString", new_uri)
    assert config["Type"] == "String"
    assert json.loads(config["Value"]) == {
        "smtp": {"from_address": "no-reply@acme.example", "from_name": "Acme Support"}
    }
    assert response["versions"] == {"connection_uri": 2, "config": 2}


def test_apply_of_a_removed_uri_deletes_the_secure_string(ssm: SSMClient) -> None:
    response = apply({"remove": [URI, f"{COURIER}/smtp/from_address", f"{COURIER}/smtp/from_name"]})

    assert response["applied"] is True
    names = [parameter["Name"] for parameter in ssm.describe_parameters()["Parameters"]]
    assert URI_PARAMETER not in names
    assert ssm.get_parameter(Name=CONFIG_PARAMETER)["Parameter"]["Value"] == "{}"
    assert response["versions"] == {"connection_uri": None, "config": 2}


def test_apply_with_versions_of_an_earlier_validation(ssm: SSMClient) -> None:
    # GIVEN a validation, and the versions it answered
    patch = {"replace": [f'{COURIER}/smtp/from_name="Acme Support"']}
    validated = validator().handle({"project_id": "acme", **patch})
    assert validated["versions"] is not None

    # WHEN someone else changes the config, and the patch is then applied with those versions
    theirs = json.dumps({"smtp": {"from_address": "it@acme.example", "from_name": "IT"}})
    ssm.put_parameter(Name=CONFIG_PARAMETER, Value=theirs, Type="String", Overwrite=True)
    response = apply({**patch, "expected_versions": validated["versions"]})

    # THEN it is refused, and the other change stays
    assert codes(response) == ["config_changed"]
    assert response["applied"] is False
    assert ssm.get_parameter(Name=CONFIG_PARAMETER)["Parameter"]["Value"] == theirs

    # AND with the current versions, it applies
    current = validator().handle({"project_id": "acme", **patch})["versions"]
    assert apply({**patch, "expected_versions": current})["applied"] is True


def test_ssm_read_failure_is_config_unavailable(aws: None) -> None:
    # GIVEN an SSM that refuses to be read
    client = boto3.client("ssm")

    def deny(**_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": "no ssm:GetParameters"}},
            "GetParameters",
        )

    client.meta.events.register("before-call.ssm.GetParameters", deny)

    # WHEN acme is validated
    response = validator(client).handle({"project_id": "acme"})

    # THEN the error says SSM could not be read, naming the parameters and the reason
    assert codes(response) == ["config_unavailable"]
    assert "AccessDeniedException" in response["errors"][0]["message"]
    assert URI_PARAMETER in response["errors"][0]["message"]


def test_a_refused_secure_string_write_chains_nothing_that_holds_the_value(
    ssm: SSMClient,
) -> None:
    # GIVEN an SSM that refuses writes, quoting what it was sent
    client = boto3.client("ssm")

    def deny(params: dict[str, Any], **_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "ValidationException", "Message": f"bad {params['Value']}"}},
            "PutParameter",
        )

    client.meta.events.register("before-parameter-build.ssm.PutParameter", deny)
    new_uri = f"smtps://acme:{CANARY}-4@192.0.32.10:465/"

    # WHEN the store writes a URI
    with pytest.raises(ConfigWriteError) as caught:
        SsmConfigStore(settings=SETTINGS, boto3_client=client).write("acme", connection_uri=new_uri)

    # THEN neither the error nor anything chained into it shows the value
    chain: list[BaseException] = []
    error: BaseException | None = caught.value
    while error is not None:
        chain.append(error)
        error = error.__cause__ or error.__context__
    assert URI_PARAMETER in str(caught.value)
    assert "written before: nothing" in str(caught.value)
    assert not any(CANARY in f"{link} {link!r}" for link in chain)


def test_ssm_write_failure_is_reported_without_the_value(ssm: SSMClient) -> None:
    # GIVEN an SSM that refuses writes, quoting what it was sent
    client = boto3.client("ssm")

    def deny(params: dict[str, Any], **_: Any) -> None:
        message = f"cannot put {params['Value']}"
        raise ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": message}}, "PutParameter"
        )

    client.meta.events.register("before-parameter-build.ssm.PutParameter", deny)
    new_uri = f"smtps://acme:{CANARY}-3@192.0.32.10:465/"

    # WHEN a new URI is applied
    response = apply({"replace": [f"{URI}={json.dumps(new_uri)}"]}, client)

    # THEN nothing was applied, and the error names the parameter but not the URI
    assert codes(response) == ["ssm_write_failed"]
    assert URI_PARAMETER in response["errors"][0]["message"]
    assert response["applied"] is False
    stored = ssm.get_parameter(Name=URI_PARAMETER, WithDecryption=True)["Parameter"]["Value"]
    assert stored == ACME_URI
