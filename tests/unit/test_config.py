"""The project configuration: parsing, the schema, Ory's sender rule and the provider's cache."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

import pytest

from courier.config import CONFIG_SCHEMA, ProjectConfig, parse_project_config
from courier.config_provider import (
    DEFAULT_PROVIDERS,
    ConfigProvider,
    SsmConfigProvider,
    get_project_config,
)
from courier.errors import ConfigError, ConfigUnavailableError, MessageError
from courier.message import check_header_value
from courier.stack import StackSettings
from courier.template_data import config_key
from courier.templates import TEMPLATE_TYPES, TemplateOverride
from courier.uri import ConnectionUri
from tests.unit.test_message import BENIGN_ENCODED_WORDS, ENCODED_BREAKS

if TYPE_CHECKING:
    from mypy_boto3_ssm.client import SSMClient

OWN_URI = "smtps://mailer:own-secret-1@smtp.acme.example/"
DEFAULT_URI = "smtp://stack:default-secret-2@mail.stack.example/"
DEFAULT_FROM = "no-reply@stack.example"
OWN_PARAMETER = "/courier/acme/smtp/connection_uri"
DEFAULT_PARAMETER = "/courier/default/smtp/connection_uri"
SUBJECT = "base64://" + base64.b64encode(b"Your code: {{ recovery_code }}").decode()
FULL: dict[str, Any] = {
    "smtp": {
        "from_address": "security@acme.example",
        "from_name": "Acme Security",
        "headers": {"X-Thing": "v", "Reply-To": "help@acme.example"},
        "local_name": "mail.acme.example",
        "max_connections": 3,
    },
    "templates": {
        "recovery_code_valid": {
            "email": {
                "subject": SUBJECT,
                "body": {
                    "html": "base64://PGI+aGk8L2I+",
                    "plaintext": "file://builtin/recovery_code_valid/email.body.plaintext.j2",
                },
            }
        },
        "login_code_valid": {"email": {"subject": SUBJECT}},
    },
    "message_retries": 3,
}


def parse(
    config: Mapping[str, Any] | str | None = None,
    *,
    own: str | None = OWN_URI,
    default: str | None = DEFAULT_URI,
    project_id: str = "acme",
) -> ProjectConfig:
    return parse_project_config(
        project_id,
        config_json=json.dumps(config) if isinstance(config, Mapping) else config,
        connection_uri=own,
        default_connection_uri=default,
        default_from_address=DEFAULT_FROM,
        default_connection_uri_parameter=DEFAULT_PARAMETER,
    )


def parse_error(config: Mapping[str, Any] | str | None = None, **kwargs: Any) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse(config, **kwargs)
    return caught.value


# --- parsing -------------------------------------------------------------------------------


def test_full_config_parses() -> None:
    # GIVEN a project with its own URI and every setting
    # WHEN it is parsed
    config = parse(FULL)

    # THEN every setting arrives, typed, with the override URIs as given
    assert config == ProjectConfig(
        project_id="acme",
        connection_uri=ConnectionUri.parse(OWN_URI),
        uses_default_sender=False,
        from_address="security@acme.example",
        from_name="Acme Security",
        headers={"X-Thing": "v", "Reply-To": "help@acme.example"},
        local_name="mail.acme.example",
        templates={
            "recovery_code_valid": TemplateOverride(
                subject=SUBJECT,
                html="base64://PGI+aGk8L2I+",
                plaintext="file://builtin/recovery_code_valid/email.body.plaintext.j2",
            ),
            "login_code_valid": TemplateOverride(subject=SUBJECT),
        },
        message_retries=3,
        max_connections=3,
    )
    assert config.connection_uri.password == "own-secret-1"


@pytest.mark.parametrize("config_json", [None, "{}", '{"smtp": {}, "templates": {}}'])
def test_defaults(config_json: str | None) -> None:
    # GIVEN a project with its own URI and no (or an empty) config
    # WHEN it is parsed
    config = parse(config_json)

    # THEN the defaults apply, and the sender is the stack's DefaultFromAddress
    assert config == ProjectConfig(
        project_id="acme",
        connection_uri=ConnectionUri.parse(OWN_URI),
        uses_default_sender=False,
        from_address=DEFAULT_FROM,
        from_name=None,
        headers={},
        local_name="localhost",
        templates={},
        message_retries=5,
    )


def test_project_without_own_uri_uses_default_sender() -> None:
    # GIVEN a project without its own URI that sets only what the rule allows
    config = parse({"smtp": {"headers": {"X-Tenant": "acme"}, "local_name": "acme"}}, own=None)

    # THEN it sends through the stack's server, from the stack's address
    assert config.uses_default_sender is True
    assert config.connection_uri == ConnectionUri.parse(DEFAULT_URI)
    assert (config.from_address, config.from_name) == (DEFAULT_FROM, None)
    assert dict(config.headers) == {"X-Tenant": "acme"}
    assert config.local_name == "acme"


SENDER_SETTINGS = [
    pytest.param({"smtp": {"from_address": "ceo@acme.example"}}, "smtp.from_address", id="addr"),
    pytest.param({"smtp": {"from_name": "Acme"}}, "smtp.from_name", id="name"),
    pytest.param(
        {"templates": {"login_code_valid": {"email": {"subject": SUBJECT}}}},
        "templates.login_code_valid",
        id="templates",
    ),
]


@pytest.mark.parametrize(("config", "field"), SENDER_SETTINGS)
def test_ory_rule_sender_requires_own_server(config: dict[str, Any], field: str) -> None:
    # GIVEN a project without its own URI that changes the sender or a template
    # WHEN it is parsed
    error = parse_error(config, own=None)

    # THEN the rule is stated, with the parameter that lifts it
    assert (error.field, error.code) == (field, "sender_requires_own_server")
    assert "only be changed together with the project's own SMTP server" in error.message
    assert OWN_PARAMETER in error.message


@pytest.mark.parametrize(("config", "field"), SENDER_SETTINGS)
def test_project_with_own_uri_may_change_the_sender(config: dict[str, Any], field: str) -> None:
    # GIVEN the same settings, for a project with its own URI
    # WHEN it is parsed
    parsed = parse(config)

    # THEN they are accepted
    assert parsed.uses_default_sender is False
    assert parsed.from_address == config.get("smtp", {}).get("from_address", DEFAULT_FROM)
    assert parsed.from_name == config.get("smtp", {}).get("from_name")
    assert set(parsed.templates) == set(config.get("templates", {}))


@pytest.mark.parametrize("own", [OWN_URI, None])
def test_reserved_header_is_refused(own: str | None) -> None:
    # GIVEN a "From" among the extra headers (for a project without its own URI, it would
    # also dodge the Ory rule)
    error = parse_error({"smtp": {"headers": {"from": "ceo@acme.example"}}}, own=own)

    # THEN it is refused by name
    assert (error.field, error.code) == ("smtp.headers.from", "header_reserved")


@pytest.mark.parametrize("value", ENCODED_BREAKS.values(), ids=ENCODED_BREAKS)
@pytest.mark.parametrize(
    ("setting", "field"),
    [("from_name", "smtp.from_name"), ("headers", "smtp.headers.X-Tag")],
)
def test_a_header_setting_that_decodes_to_a_line_break_is_refused(
    value: str, setting: str, field: str
) -> None:
    # GIVEN a sender name or extra header with no raw line break, whose RFC 2047 decoding
    # holds one (the schema's one-line pattern lets it pass)
    smtp = {setting: {"X-Tag": value} if setting == "headers" else value}

    # WHEN the config is parsed
    error = parse_error({"smtp": smtp})

    # THEN it is refused by the mail's own rule for header values, on the setting
    with pytest.raises(MessageError) as rule:
        check_header_value(value, field)
    assert (error.field, error.code, error.message) == (field, "header_crlf", rule.value.message)
    assert error.__cause__ is None
    assert error.__suppress_context__


@pytest.mark.parametrize("value", ["Acme\u2028Bcc: all@example.com", "Acme\x00", "Acme\x85"])
def test_a_line_break_the_schema_does_not_know_is_refused_too(value: str) -> None:
    # GIVEN a line break other than CR or LF (the schema's pattern knows only those two)
    # WHEN it is in the sender name and in a header
    name = parse_error({"smtp": {"from_name": value}})
    header = parse_error({"smtp": {"headers": {"X-Tag": value}}})

    # THEN both are refused as line breaks, before any mail is built
    assert (name.field, name.code) == ("smtp.from_name", "header_crlf")
    assert (header.field, header.code) == ("smtp.headers.X-Tag", "header_crlf")


@pytest.mark.parametrize("value", [v for v, _ in BENIGN_ENCODED_WORDS.values()])
def test_a_header_setting_with_a_benign_encoded_word_parses(value: str) -> None:
    config = parse({"smtp": {"from_name": value, "headers": {"X-Tag": value}}})

    assert (config.from_name, dict(config.headers)) == (value, {"X-Tag": value})


@pytest.mark.parametrize(
    ("config", "field", "code"),
    [
        ({"smtp": {"from_adress": "a@b.example"}}, "smtp.from_adress", "config_schema"),
        ({"courier": {}}, "courier", "config_schema"),
        (
            {"templates": {"recovery_cod_valid": {}}},
            "templates.recovery_cod_valid",
            "config_schema",
        ),
        (
            {"templates": {"recovery_valid": {"mail": {}}}},
            "templates.recovery_valid.mail",
            "config_schema",
        ),
        (
            {"templates": {"recovery_valid": {"email": {"body": {"text": "base64://eA=="}}}}},
            "templates.recovery_valid.email.body.text",
            "config_schema",
        ),
        ({"message_retries": "5"}, "message_retries", "config_schema"),
        ({"message_retries": 21}, "message_retries", "message_retries_out_of_range"),
        ({"message_retries": -1}, "message_retries", "message_retries_out_of_range"),
        ({"message_retries": 2.5}, "message_retries", "config_schema"),
        ({"message_retries": True}, "message_retries", "config_schema"),
        ({"smtp": {"max_connections": 0}}, "smtp.max_connections", "max_connections_out_of_range"),
        ({"smtp": {"max_connections": 11}}, "smtp.max_connections", "max_connections_out_of_range"),
        ({"smtp": {"max_connections": "2"}}, "smtp.max_connections", "config_schema"),
        ({"smtp": []}, "smtp", "config_schema"),
        ({"smtp": {"headers": {"X-Count": 1}}}, "smtp.headers.X-Count", "config_schema"),
        ({"smtp": {"headers": {"Bad Name": "v"}}}, "smtp.headers.Bad Name", "header_name_invalid"),
        (
            {"smtp": {"headers": {"X-A": "v\r\nBcc: all@example.com"}}},
            "smtp.headers.X-A",
            "header_crlf",
        ),
        ({"smtp": {"from_name": "Acme\nBcc: all@example.com"}}, "smtp.from_name", "header_crlf"),
        ({"smtp": {"from_name": "Acme\u2028Bcc: x@example.com"}}, "smtp.from_name", "header_crlf"),
        ({"smtp": {"from_address": "not an address"}}, "smtp.from_address", "from_address_invalid"),
        ({"smtp": {"local_name": "mail acme"}}, "smtp.local_name", "config_schema"),
        (
            {"smtp": {"headers": {"Return-Path": "a@b.example"}}},
            "smtp.headers.Return-Path",
            "header_reserved",
        ),
        (
            {"smtp": {"headers": {"Content-Disposition": "inline"}}},
            "smtp.headers.Content-Disposition",
            "header_reserved",
        ),
        (
            {"template_override_path": "/etc/kratos"},
            "template_override_path",
            "template_override_path_unsupported",
        ),
        ({"delivery_strategy": "http"}, "delivery_strategy", "delivery_strategy_unsupported"),
        ([], "config", "config_schema"),
    ],
)
def test_each_rule_names_the_dotted_field_and_its_code(config: Any, field: str, code: str) -> None:
    # GIVEN a config that breaks a rule
    # WHEN it is read
    error = parse_error(json.dumps(config))

    # THEN the error names the dotted field and the rule
    assert (error.field, error.code) == (field, code)
    assert error.message


def test_schema_error_explains_template_uris() -> None:
    # GIVEN a template override that is not a base64:// or file:// URI
    config = parse({"templates": {"recovery_valid": {"email": {"subject": "ftp://x"}}}})
    error = config.template_error("recovery_valid")

    # THEN the message says what is expected, from the schema's description
    assert error is not None
    assert "base64://" in error.message
    assert "file://" in error.message


@pytest.mark.parametrize(
    ("part", "code"),
    [
        ({"subject": "https://127.0.0.1/t"}, "template_remote_not_public"),
        ({"body": {"html": "base64://not base64!"}}, "template_base64_invalid"),
        ({"body": {"plaintext": "base64://e3sgdG8gfQ=="}}, "template_syntax"),  # {{ to }
        ({"subject": "file://../../etc/passwd"}, "template_file_outside"),
        ({"subject": 7}, "config_schema"),
    ],
)
def test_a_broken_template_costs_only_its_own_types_mail(part: dict[str, Any], code: str) -> None:
    # GIVEN a project whose recovery code template has a part that cannot be used, and whose
    # login code template is overridden as it should be
    login = "base64://" + base64.b64encode(b"Your code: {{ login_code }}").decode()
    config = parse(
        {
            "message_retries": 3,
            "templates": {
                "recovery_code": {"valid": {"email": part}},
                "login_code": {"valid": {"email": {"subject": login}}},
            },
        }
    )

    # WHEN it is read THEN it is read: recovery code mail fails with that part's error, with
    # the project's retries, and every other type keeps its override or the built-in one
    error = config.template_error("recovery_code_valid")
    assert error is not None
    assert (error.field.split(".")[:4], error.code) == (
        ["templates", "recovery_code", "valid", "email"],
        code,
    )
    assert error.message_retries == 3
    assert "recovery_code_valid" not in config.templates
    assert config.templates["login_code_valid"].subject == login
    assert config.template_error("login_code_valid") is None
    assert config.template_error("verification_code_valid") is None
    assert config.template_error(None) is None  # a pre-rendered mail


def test_a_broken_template_with_another_error_is_still_the_configs_error() -> None:
    # GIVEN a broken template and a setting that makes the whole config unusable
    error = parse_error(
        {
            "templates": {"recovery_code": {"valid": {"email": {"subject": "ftp://x"}}}},
            "smtp": {"from_adress": "a@b.example"},
        }
    )
    # THEN the config's own error is raised, as before
    assert (error.field, error.code) == ("smtp.from_adress", "config_schema")


def test_unknown_key_error_lists_the_settings() -> None:
    error = parse_error({"smtp": {"from_adress": "a@b.example"}})

    assert "from_address" in error.message


@pytest.mark.parametrize("retries", [0, 20, 7.0])  # 7.0 is a JSON integer, as the schema has it
def test_message_retries_bounds(retries: float) -> None:
    config = parse({"message_retries": retries})

    assert config.message_retries == retries
    assert type(config.message_retries) is int


@pytest.mark.parametrize("value", ["smtp://u:leaked-pw-9@h.example/", "", 42])
@pytest.mark.parametrize("own", [OWN_URI, None])
def test_connection_uri_in_plain_config_is_refused(value: object, own: str | None) -> None:
    # GIVEN the URI (with its password) in the String parameter
    # WHEN it is parsed
    error = parse_error({"smtp": {"connection_uri": value}}, own=own)

    # THEN it is refused, pointing at the SecureString, and the value is never repeated
    assert (error.field, error.code) == ("smtp.connection_uri", "connection_uri_in_plain_config")
    assert OWN_PARAMETER in error.message
    assert "SecureString" in error.message
    assert "leaked-pw-9" not in str(error)
    assert "leaked-pw-9" not in repr(error)


def test_the_schema_knows_the_connection_uri_as_kratos_does() -> None:
    # GIVEN the schema of the whole courier tree: THEN smtp.connection_uri is a setting (kept in
    # the SecureString, so refused in the String parameter by the rules, as tested above)
    assert CONFIG_SCHEMA["properties"]["smtp"]["properties"]["connection_uri"]["type"] == "string"


def test_bad_json_names_the_position_without_echoing() -> None:
    # GIVEN a config that is not JSON (and holds a password by mistake)
    error = parse_error('{"smtp": {"from_name": "leaked-pw-9" "x"}}')

    # THEN the error gives the position, not the text
    assert (error.field, error.code) == ("config", "config_not_json")
    assert "line 1 column" in error.message
    assert "/courier/acme/config" in error.message
    assert "leaked-pw-9" not in str(error)


def test_missing_uris_name_both_parameters() -> None:
    # GIVEN a project (with settings) without its own URI, and a stack without a default sender
    error = parse_error({}, own=None, default=None)

    # THEN the error names where either URI goes
    assert (error.field, error.code) == ("smtp.connection_uri", "connection_uri_missing")
    assert OWN_PARAMETER in error.message
    assert DEFAULT_PARAMETER in error.message


@pytest.mark.parametrize(
    ("own", "default", "parameter"),
    [
        ("smtp://u:leaked-pw-9@h.example:notaport/", DEFAULT_URI, OWN_PARAMETER),
        (None, "smtp://u:leaked-pw-9@h.example:notaport/", DEFAULT_PARAMETER),
    ],
)
def test_uri_errors_propagate_naming_the_parameter(
    own: str | None, default: str, parameter: str
) -> None:
    # GIVEN a URI that does not parse
    error = parse_error({}, own=own, default=default)

    # THEN ConnectionUri.parse's error comes through, naming the parameter, never the password
    assert (error.field, error.code) == ("connection_uri.port", "uri_bad_port")
    assert parameter in error.message
    assert "leaked-pw-9" not in str(error)


@pytest.mark.parametrize("project_id", ["", "acme/../other", "a" * 65, "acme\n", "acme config"])
def test_project_id_must_be_one_path_segment(project_id: str) -> None:
    error = parse_error(None, project_id=project_id)

    assert (error.field, error.code) == ("project_id", "project_id_invalid")


def test_a_project_without_any_parameter_does_not_exist() -> None:
    # GIVEN a misspelt project id: neither its URI nor its config parameter exists
    error = parse_error(None, own=None, project_id="acmee")

    # THEN it is not sent through the default sender, and the error says what to check
    assert (error.field, error.code) == ("project_id", "project_unknown")
    assert "/courier/acmee/smtp/connection_uri" in error.message
    assert "/courier/acmee/config" in error.message
    assert "project_id" in error.message


@pytest.mark.parametrize(
    ("project_id", "config", "own"),
    [("default", None, None), ("acme", {}, None), ("acme", None, OWN_URI)],
    ids=["the default project", "a config parameter", "a connection URI"],
)
def test_a_project_exists_by_any_parameter_or_as_the_default(
    project_id: str, config: dict[str, Any] | None, own: str | None
) -> None:
    assert parse(config, own=own, project_id=project_id).project_id == project_id


def test_project_config_is_immutable_and_hides_the_password() -> None:
    headers = {"X-A": "1"}
    config = ProjectConfig(
        project_id="acme",
        connection_uri=ConnectionUri.parse(OWN_URI),
        uses_default_sender=False,
        from_address="a@acme.example",
        headers=headers,
    )
    headers["X-A"] = "changed"

    assert config.headers == {"X-A": "1"}
    with pytest.raises(TypeError):
        cast("dict[str, str]", config.headers)["X-B"] = "2"
    assert "own-secret-1" not in repr(config)


def test_schema_covers_every_template_type_and_forbids_unknown_keys() -> None:
    # GIVEN the schema: THEN it has every template type, by Kratos's nested name and flat
    templates = CONFIG_SCHEMA["properties"]["templates"]["properties"]
    shared = CONFIG_SCHEMA["definitions"]["template"]
    assert "email" in shared["properties"]
    for template_type in TEMPLATE_TYPES:
        node = templates
        for part in config_key(template_type):
            node = node[part] if part in node else node["properties"][part]
        assert node == {"$ref": "#/definitions/template"}, template_type
        assert templates[template_type] == {"$ref": "#/definitions/template"}, template_type

    # AND every object with fixed keys is closed (additionalProperties false)
    def objects(node: Any) -> list[dict[str, Any]]:
        if isinstance(node, dict):
            found = [node] if "properties" in node else []
            return found + [item for value in node.values() for item in objects(value)]
        return []

    closed = objects(CONFIG_SCHEMA)
    assert len(closed) >= 6
    assert all(node.get("additionalProperties") is False for node in closed)


# --- the provider's cache ------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingProvider(ConfigProvider):
    """Answers from ``results`` (a ProjectConfig, or an exception to raise) and counts reads."""

    def __init__(self, *, results: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.results = results or {}
        self.calls: list[str] = []

    def _get(self, project_id: str) -> ProjectConfig:
        self.calls.append(project_id)
        result = self.results.get(project_id) or parse(project_id=project_id)
        if isinstance(result, Exception):
            raise result
        return cast("ProjectConfig", result)


def test_cache_holds_for_max_age_then_refetches() -> None:
    # GIVEN a provider with a 60-second cache
    clock = FakeClock()
    provider = CountingProvider(max_age=60, clock=clock)

    # WHEN the same project is read within the TTL
    first = provider.get("acme")
    clock.now += 59.9
    assert provider.get("acme") is first
    # THEN it was read once
    assert provider.calls == ["acme"]

    # WHEN the TTL has passed: THEN it is read again
    clock.now += 0.1
    provider.get("acme")
    assert provider.calls == ["acme", "acme"]

    # WHEN force_fetch is asked for: THEN it is read again, fresh as it is
    provider.get("acme", force_fetch=True)
    assert provider.calls == ["acme", "acme", "acme"]


def test_cache_is_per_project_and_clearable() -> None:
    provider = CountingProvider(max_age=60, clock=FakeClock())

    for _ in range(5):
        provider.get("acme")
        provider.get("globex")
    provider.clear_cache()
    provider.get("acme")

    assert provider.calls == ["acme", "globex", "acme"]


def test_max_age_zero_disables_the_cache() -> None:
    provider = CountingProvider(max_age=0, clock=FakeClock())

    provider.get("acme")
    provider.get("acme")

    assert provider.calls == ["acme", "acme"]


def test_config_errors_are_cached_unavailability_is_not() -> None:
    # GIVEN a project whose stored config is wrong, and one whose backend is down
    broken = ConfigError("config", "config_not_json", "not JSON")
    provider = CountingProvider(
        results={"broken": broken, "down": ConfigUnavailableError("throttled")},
        max_age=60,
        clock=FakeClock(),
    )

    # WHEN each is read three times
    for _ in range(3):
        with pytest.raises(ConfigError) as caught:
            provider.get("broken")
        assert caught.value is broken
        with pytest.raises(ConfigUnavailableError):
            provider.get("down")

    # THEN the wrong config was read once (an answer too), the outage every time
    assert provider.calls.count("broken") == 1
    assert provider.calls.count("down") == 3


def test_unexpected_backend_failure_becomes_unavailable_without_its_text() -> None:
    # GIVEN a backend failing with a message that quotes a value
    provider = CountingProvider(results={"acme": RuntimeError("leaked-pw-9")})

    # WHEN it is read
    with pytest.raises(ConfigUnavailableError) as caught:
        provider.get("acme")

    # THEN it is a ConfigUnavailableError naming the project, not the value
    assert "acme" in str(caught.value)
    assert "leaked-pw-9" not in str(caught.value)
    assert isinstance(caught.value.__cause__, RuntimeError)


def test_invalid_project_id_is_refused_before_the_backend() -> None:
    provider = CountingProvider()

    with pytest.raises(ConfigError, match="project_id"):
        provider.get("../other")

    assert provider.calls == []


def test_max_age_comes_from_the_stack_settings() -> None:
    settings = StackSettings(parameters_max_age=5)

    assert SsmConfigProvider(settings=settings, boto3_client=NO_CLIENT).max_age == 5
    assert CountingProvider(max_age=30).max_age == 30


@pytest.mark.parametrize("max_age", [-1.0, float("nan")])
def test_invalid_max_age_is_a_config_error(max_age: float) -> None:
    with pytest.raises(ConfigError) as caught:
        CountingProvider(max_age=max_age)

    assert caught.value.field == "POWERTOOLS_PARAMETERS_MAX_AGE"


# --- SsmConfigProvider settings (no I/O; the environment is tests/unit/test_stack.py's) ------

NO_CLIENT = cast("SSMClient", object())


def test_ssm_provider_takes_the_stack_settings_not_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN an environment that says otherwise than the settings given
    monkeypatch.setenv("COURIER_SSM_PREFIX", "/env")
    monkeypatch.setenv("COURIER_DEFAULT_PROJECT", "env")
    monkeypatch.setenv("POWERTOOLS_PARAMETERS_MAX_AGE", "99")
    settings = StackSettings(
        prefix="/mail",
        default_project="main",
        default_connection_uri_parameter="/shared/smtp",
        parameters_max_age=15,
    )

    # WHEN a provider is built from the settings
    provider = SsmConfigProvider(settings=settings, boto3_client=NO_CLIENT)

    # THEN it uses them, and only them
    assert provider.settings is settings
    assert (provider.parameters.prefix, provider.default_project) == ("/mail", "main")
    assert provider.parameters.default_connection_uri_parameter == "/shared/smtp"
    assert provider.max_age == 15


def test_get_project_config_uses_the_default_provider_and_project(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a stand-in default provider of a stack whose default project is "main"
    provider = CountingProvider(default_project="main")
    monkeypatch.setitem(DEFAULT_PROVIDERS, "ssm", provider)

    # WHEN the function API is called with and without a project
    assert get_project_config().project_id == "main"
    assert get_project_config("acme").project_id == "acme"
    get_project_config("acme")

    # THEN it went through that provider (and its cache)
    assert provider.calls == ["main", "acme"]
