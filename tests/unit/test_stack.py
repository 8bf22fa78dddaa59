"""The stack's settings: every variable template.yaml sets, read once, checked, shared.

The template's own environment blocks are the source of the variables' names here, so a new or
renamed variable cannot go unread unnoticed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode

from courier.errors import ConfigError
from courier.stack import STACK_VARIABLES, StackSettingError, StackSettings
from courier.validation.settings import check_stack

ROOT = Path(__file__).resolve().parents[2]
NO_CLIENT: Any = object()
"""Stands in for every boto3 client: nothing here may call one."""
# Read by Powertools or the runtime itself, not by courier's code.
NOT_COURIER_S = {
    "AWS_ENDPOINT_URL",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_LOG_LEVEL",
}
# A whole stack's environment, each value unlike its default.
ENVIRONMENT = {
    "COURIER_SSM_PREFIX": "/mail",
    "COURIER_DEFAULT_PROJECT": "main",
    "COURIER_DEFAULT_CONNECTION_URI_PARAMETER": "/shared/smtp/uri",
    "COURIER_DEFAULT_FROM_ADDRESS": "robot@stack.example",
    "COURIER_ALLOW_PRIVATE_SMTP_HOSTS": "true",
    "COURIER_SMTP_TIMEOUT_SECONDS": "7.5",
    "COURIER_SMTP_CONNECTIONS_PER_PROJECT": "4",
    "COURIER_SENDER_TIMEOUT_SECONDS": "45",
    "COURIER_DLQ_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/dlq",
    "COURIER_IDEMPOTENCY_TABLE": "courier-idempotency",
    "COURIER_MAX_RECEIVE_COUNT": "9",
    "COURIER_RETRY_BACKOFF_BASE_SECONDS": "2",
    "POWERTOOLS_PARAMETERS_MAX_AGE": "15",
    "COURIER_STATUS_TABLE": "courier-status",
    "COURIER_STATUS_RETENTION_DAYS": "7",
}
EXPECTED = StackSettings(
    prefix="/mail",
    default_project="main",
    default_connection_uri_parameter="/shared/smtp/uri",
    default_from_address="robot@stack.example",
    allow_private_hosts=True,
    smtp_timeout=7.5,
    connections_per_project=4,
    sender_timeout=45.0,
    dead_letter_queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/dlq",
    idempotency_table="courier-idempotency",
    max_receive_count=9,
    backoff_base_seconds=2,
    parameters_max_age=15.0,
    status_table="courier-status",
    status_retention_days=7,
)


def template_variables() -> set[str]:
    """Every variable template.yaml sets for a function (read as tests/unit/test_template.py
    reads it)."""
    template, matches = decode(str(ROOT / "template.yaml"))
    assert not matches, [str(match) for match in matches]
    assert template is not None
    names = set(template["Globals"]["Function"]["Environment"]["Variables"])
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            names |= set(resource["Properties"]["Environment"]["Variables"])
    return names


def test_every_variable_the_template_sets_is_read() -> None:
    # GIVEN the variables template.yaml gives the functions
    # THEN each that courier reads is a stack setting, and each setting is one the template sets
    assert template_variables() - NOT_COURIER_S == set(STACK_VARIABLES.values())


def test_every_variable_is_read() -> None:
    # GIVEN an environment with every variable set unlike its default
    # WHEN it is read: THEN each field has its variable's value
    assert StackSettings.from_environment(ENVIRONMENT) == EXPECTED
    assert set(ENVIRONMENT) == set(STACK_VARIABLES.values())


@pytest.mark.parametrize(
    "environ", [{}, dict.fromkeys(ENVIRONMENT, ""), dict.fromkeys(ENVIRONMENT, " ")]
)
def test_unset_or_empty_variables_take_the_template_defaults(environ: dict[str, str]) -> None:
    settings = StackSettings.from_environment(environ)

    assert settings == StackSettings(
        default_connection_uri_parameter="/courier/default/smtp/connection_uri"
    )
    assert (settings.prefix, settings.default_project) == ("/courier", "default")
    assert settings.default_from_address == "no-reply@example.com"
    assert (settings.allow_private_hosts, settings.smtp_timeout) == (False, 10.0)
    assert (settings.sender_timeout, settings.dead_letter_queue_url) == (None, None)
    assert settings.idempotency_table is None
    assert (settings.max_receive_count, settings.backoff_base_seconds) == (21, 30)
    assert settings.parameters_max_age == 60.0


def test_the_default_sender_follows_the_prefix_and_a_trailing_slash_is_dropped() -> None:
    settings = StackSettings.from_environment({"COURIER_SSM_PREFIX": "/mail/"})

    assert settings.prefix == "/mail"
    assert settings.default_connection_uri_parameter == "/mail/default/smtp/connection_uri"


@pytest.mark.parametrize(("raw", "allowed"), [("true", True), ("TRUE", True), ("False", False)])
def test_allow_private_hosts_is_true_or_false(raw: str, allowed: bool) -> None:
    environ = {"COURIER_ALLOW_PRIVATE_SMTP_HOSTS": raw}

    assert StackSettings.from_environment(environ).allow_private_hosts is allowed


@pytest.mark.parametrize(
    ("variable", "raw", "says"),
    [
        ("COURIER_SMTP_TIMEOUT_SECONDS", "ten", "set the stack parameter SmtpTimeoutSeconds to"),
        ("COURIER_SMTP_TIMEOUT_SECONDS", "0", "must be more than 0 seconds"),
        ("COURIER_SMTP_TIMEOUT_SECONDS", "inf", "must be more than 0 seconds"),
        ("COURIER_SMTP_TIMEOUT_SECONDS", "nan", "must be more than 0 seconds"),
        ("COURIER_SENDER_TIMEOUT_SECONDS", "60s", "is not a number of seconds"),
        ("COURIER_SENDER_TIMEOUT_SECONDS", "-1", "must be more than 0 seconds"),
        ("POWERTOOLS_PARAMETERS_MAX_AGE", "soon", "is not a number of seconds"),
        ("POWERTOOLS_PARAMETERS_MAX_AGE", "-1", "must be 0 or more seconds"),
        ("POWERTOOLS_PARAMETERS_MAX_AGE", "nan", "must be 0 or more seconds"),
        ("COURIER_MAX_RECEIVE_COUNT", "21.5", "is not a whole number"),
        ("COURIER_MAX_RECEIVE_COUNT", "0", "must be 1 or more"),
        ("COURIER_RETRY_BACKOFF_BASE_SECONDS", "-3", "must be 0 or more"),
        (
            "COURIER_ALLOW_PRIVATE_SMTP_HOSTS",
            "yes",
            "set the stack parameter AllowPrivateSmtpHosts",
        ),
        ("COURIER_SSM_PREFIX", "courier", "is not an SSM path"),
        ("COURIER_SSM_PREFIX", "/a//b", "is not an SSM path"),
        ("COURIER_DEFAULT_PROJECT", "acme/../other", "is not a project id"),
        ("COURIER_DEFAULT_CONNECTION_URI_PARAMETER", "smtp/uri", "fully qualified SSM parameter"),
        ("COURIER_DEFAULT_FROM_ADDRESS", "robot", "is not an email address"),
        ("COURIER_DEFAULT_FROM_ADDRESS", "a@b.example\r\nBcc: x@y", "is not an email address"),
    ],
)
def test_a_malformed_value_is_an_error_naming_the_variable_and_the_fix(
    variable: str, raw: str, says: str
) -> None:
    # GIVEN a whole stack's environment with one variable malformed
    environ = {**ENVIRONMENT, variable: raw}

    # WHEN it is read
    with pytest.raises(StackSettingError) as caught:
        StackSettings.from_environment(environ)

    # THEN the error is a ConfigError and a ValueError on that variable, saying what to set
    error = caught.value
    assert isinstance(error, ConfigError)
    assert isinstance(error, ValueError)
    assert (error.field, error.code) == (variable, "stack_setting_invalid")
    assert str(error).startswith(f"{variable}: ")
    assert says in str(error)
    assert ": set " in str(error)
    assert error.__cause__ is None


def test_direct_construction_is_checked_too() -> None:
    with pytest.raises(StackSettingError) as caught:
        StackSettings(smtp_timeout=-1)

    assert caught.value.field == "COURIER_SMTP_TIMEOUT_SECONDS"


def test_the_sender_only_settings_are_required_by_name() -> None:
    settings = StackSettings.from_environment(ENVIRONMENT)
    assert settings.required("dead_letter_queue_url") == ENVIRONMENT["COURIER_DLQ_URL"]
    assert settings.required("idempotency_table") == "courier-idempotency"

    with pytest.raises(StackSettingError) as caught:
        StackSettings().required("dead_letter_queue_url")
    assert caught.value.field == "COURIER_DLQ_URL"
    assert "set COURIER_DLQ_URL" in str(caught.value)


def test_settings_are_frozen() -> None:
    settings = StackSettings()

    with pytest.raises(AttributeError):
        settings.smtp_timeout = 5  # type: ignore[misc]


def test_the_sender_and_the_validator_see_the_same_values_from_one_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN one environment, as template.yaml gives both functions
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    from courier.config_provider import SsmConfigProvider
    from courier.sender import Sender
    from courier.validation import ConfigValidator, SsmConfigStore

    # WHEN the sender's parts and the validator's are built from the settings read once
    settings = StackSettings.from_environment()
    provider = SsmConfigProvider(settings=settings, boto3_client=NO_CLIENT)
    sender = Sender(
        settings=settings, config_provider=provider, sqs_client=NO_CLIENT, persistence_store=None
    )
    store = SsmConfigStore(settings=settings, boto3_client=NO_CLIENT)
    validator = ConfigValidator(settings=settings, store=store)

    # THEN each sees the same prefix, default sender, project, guard and timeouts
    assert sender.settings is validator.settings is provider.settings is settings
    assert provider.parameters.prefix == store.parameters.prefix == "/mail"
    assert (
        provider.parameters.default_connection_uri_parameter
        == store.parameters.default_connection_uri_parameter
        == "/shared/smtp/uri"
    )
    assert provider.default_project == validator.settings.default_project == "main"
    assert provider.max_age == 15
    # ... and the validator's stack check judges the sender's own timeouts
    assert check_stack(settings) == []


@pytest.mark.parametrize("raw", ["0", "11", "two"])
def test_a_connection_limit_out_of_range_names_the_parameter(raw: str) -> None:
    with pytest.raises(StackSettingError) as caught:
        StackSettings.from_environment({"COURIER_SMTP_CONNECTIONS_PER_PROJECT": raw})
    assert str(caught.value).startswith("COURIER_SMTP_CONNECTIONS_PER_PROJECT: ")
    assert "set the stack parameter SmtpConnectionsPerProject" in str(caught.value)
