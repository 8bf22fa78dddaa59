"""Properties of the config parser: any parameter values in, a ProjectConfig or a ConfigError
out, fast, and never the password in the error; and of check_config, any JSON tree."""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

import fastjsonschema
from hypothesis import example, given
from hypothesis import strategies as st

from courier.config import (
    CONFIG_SCHEMA,
    DEFAULT_FROM_ADDRESS,
    ProjectConfig,
    parse_project_config,
)
from courier.config_rules import ConfigContext, check_config
from courier.errors import ConfigError
from courier.message import build_email
from courier.template_data import TEMPLATE_TYPES
from tests.conftest import CredentialGuard
from tests.property.support import (
    ANY_TEXT,
    DEPTHS,
    HUGE_TEXT,
    JSON,
    TRICKY_TEXT,
    VALID_PARTS,
    SecretUri,
    guarded,
    json_text,
    nested_json,
    secret_forms,
    secret_uris,
    shown_secrets,
    strings,
    valid_uri_text,
)

RESERVED = ["From", "to", "Subject", "Message-ID", "content-type", "MIME-Version", "Bcc"]

PROJECT_IDS = st.one_of(
    st.sampled_from(["acme", "default", "a" * 64, "a" * 65, "acme/../other", ""]),
    st.from_regex(r"[a-zA-Z0-9_.-]{1,64}", fullmatch=True),
    TRICKY_TEXT,
)
PREFIXES = st.one_of(
    st.sampled_from(["/courier", "/mail/prod", "courier", "/courier/", "/", ""]),
    st.from_regex(r"(/[a-zA-Z0-9_.-]{1,8}){1,3}", fullmatch=True),
    TRICKY_TEXT,
)
VALID_URIS = VALID_PARTS.map(valid_uri_text)
URIS = st.one_of(st.none(), VALID_URIS, secret_uris().map(lambda uri: uri.text), ANY_TEXT)
VALUES = st.one_of(TRICKY_TEXT, HUGE_TEXT, JSON)
"""A setting's value: text that breaks the schema's patterns, long text, any JSON."""


@st.composite
def trees(draw: st.DrawFn, value: st.SearchStrategy[Any] = VALUES) -> dict[str, Any]:
    """A courier tree near the schema: each setting present or not, valid or not."""
    tree: dict[str, Any] = {}
    smtp: dict[str, Any] = {}
    settings: dict[str, st.SearchStrategy[Any]] = {
        "from_address": st.one_of(st.just("hi@acme.example"), value),
        "from_name": st.one_of(st.just("Acme"), value),
        "local_name": st.one_of(st.sampled_from(["mx.acme.example", "[127.0.0.1]"]), value),
        "headers": st.one_of(
            st.dictionaries(
                st.one_of(st.sampled_from(["X-Tag", "X.Dotted", *RESERVED]), TRICKY_TEXT),
                st.one_of(st.just("v"), value),
                max_size=3,
            ),
            value,
        ),
    }
    for name, values in settings.items():
        if draw(st.booleans()):
            smtp[name] = draw(values)
    if bool(smtp) or draw(st.booleans()):
        tree["smtp"] = smtp
    if draw(st.booleans()):
        uri = st.one_of(
            st.sampled_from(["base64://e3sgY29kZSB9fQ==", "file://code.txt", "http://x"]), value
        )
        template = st.fixed_dictionaries(
            {},
            optional={
                "email": st.fixed_dictionaries(
                    {},
                    optional={
                        "subject": uri,
                        "body": st.fixed_dictionaries({}, optional={"html": uri, "plaintext": uri}),
                    },
                )
            },
        )
        names = st.one_of(st.sampled_from(TEMPLATE_TYPES), st.text(max_size=8))
        tree["templates"] = draw(st.dictionaries(names, template, max_size=2))
    if draw(st.booleans()):
        retries = st.one_of(st.integers(-2, 22), st.sampled_from([5.0, 1e1, 0.5, True]), value)
        tree["message_retries"] = draw(retries)
    if draw(st.integers(0, 9)) == 0:
        tree[draw(st.text(max_size=8))] = draw(JSON)
    return tree


def parse(
    project_id: str = "acme",
    *,
    config_json: str | None = None,
    connection_uri: str | None = "smtp://mailer:s3cret@smtp.acme.example/",
    default_connection_uri: str | None = None,
    default_from_address: str = DEFAULT_FROM_ADDRESS,
    prefix: str = "/courier",
    default_connection_uri_parameter: str | None = None,
) -> ProjectConfig | ConfigError:
    """The config, or the ConfigError; any other exception fails the test."""
    try:
        return parse_project_config(
            project_id,
            config_json=config_json,
            connection_uri=connection_uri,
            default_connection_uri=default_connection_uri,
            default_from_address=default_from_address,
            prefix=prefix,
            default_connection_uri_parameter=default_connection_uri_parameter,
        )
    except ConfigError as exc:
        return exc


CONFIG_TEXTS = st.one_of(
    st.none(),
    ANY_TEXT,
    JSON.map(json_text),
    trees().map(json_text),
    trees().map(lambda tree: json_text(tree, ascii_only=False)),
)


@given(config_json=CONFIG_TEXTS)
def test_any_config_text_is_a_config_or_a_config_error(
    credential_guard: CredentialGuard, config_json: str | None
) -> None:
    with guarded(credential_guard, inputs=[config_json or ""]):
        outcome = parse(config_json=config_json)
    if isinstance(outcome, ProjectConfig):
        assert 0 <= outcome.message_retries <= 20
        assert not {name.lower() for name in outcome.headers} & {n.lower() for n in RESERVED}


@given(
    project_id=PROJECT_IDS,
    config_json=CONFIG_TEXTS,
    connection_uri=URIS,
    default_connection_uri=URIS,
    default_from_address=st.one_of(st.just(DEFAULT_FROM_ADDRESS), TRICKY_TEXT),
    prefix=PREFIXES,
    default_connection_uri_parameter=st.one_of(st.none(), TRICKY_TEXT),
)
def test_any_parameters_are_a_config_or_a_config_error(
    credential_guard: CredentialGuard,
    project_id: str,
    config_json: str | None,
    connection_uri: str | None,
    default_connection_uri: str | None,
    default_from_address: str,
    prefix: str,
    default_connection_uri_parameter: str | None,
) -> None:
    inputs = [config_json, connection_uri, default_connection_uri]
    with guarded(credential_guard, inputs=["\n".join(text or "" for text in inputs)]):
        outcome = parse(
            project_id,
            config_json=config_json,
            connection_uri=connection_uri,
            default_connection_uri=default_connection_uri,
            default_from_address=default_from_address,
            prefix=prefix,
            default_connection_uri_parameter=default_connection_uri_parameter,
        )
    if isinstance(outcome, ProjectConfig):
        assert outcome.uses_default_sender is (connection_uri is None)
        assert outcome.project_id == project_id


SLOTS = (
    "connection_uri",
    "default_connection_uri",
    "smtp.connection_uri",
    "smtp.from_name",
    "smtp.from_address",
    "smtp.local_name",
    "smtp.headers",
    "message_retries",
    "templates",
)
"""Where a connection URI (and its password) is put: the parameters, or a setting of the tree
by mistake."""


@given(
    uri=secret_uris(),
    slot=st.sampled_from(SLOTS),
    tree=trees(value=st.one_of(TRICKY_TEXT, JSON)),
    own=st.booleans(),
)
def test_no_config_error_shows_the_password(
    credential_guard: CredentialGuard, uri: SecretUri, slot: str, tree: dict[str, Any], own: bool
) -> None:
    connection_uri = "smtp://mailer:other-pw@smtp.acme.example/" if own else None
    default_uri = "smtp://stack:stack-pw@smtp.example.com/"
    if slot == "connection_uri":
        connection_uri = uri.text
    elif slot == "default_connection_uri":
        connection_uri, default_uri = None, uri.text
    elif slot == "smtp.headers":
        tree.setdefault("smtp", {})["headers"] = {"X-Secret": uri.text}
    elif slot == "templates":
        tree["templates"] = {"recovery_valid": {"email": {"subject": uri.text}}}
    elif slot.startswith("smtp."):
        tree.setdefault("smtp", {})[slot.removeprefix("smtp.")] = uri.text
    else:
        tree[slot] = uri.text
    config_json = json.dumps(tree)
    inputs = ["\n".join([connection_uri or "", default_uri, *strings(tree)])]
    with guarded(credential_guard, inputs=inputs):
        outcome = parse(
            config_json=config_json,
            connection_uri=connection_uri,
            default_connection_uri=default_uri,
        )
    if isinstance(outcome, ConfigError):
        secrets = secret_forms(uri.password, uri.written, inputs=inputs)
        shown = shown_secrets(outcome, secrets)
        assert not shown, f"{outcome.code} ({slot}, {uri.layout}) shows {shown}: {outcome!r}"


@given(tree=st.one_of(JSON, trees(), trees(value=st.one_of(TRICKY_TEXT, JSON))))
def test_any_json_tree_is_valid_or_a_config_error(
    credential_guard: CredentialGuard, tree: object
) -> None:
    with guarded(credential_guard):
        try:
            problems = check_config(tree, ConfigContext(has_own_uri=True))
        except ConfigError as exc:
            raise AssertionError(f"check_config raised instead of reporting: {exc!r}") from exc
    for problem in problems:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", problem.code), problem
    if any(problem.is_error for problem in problems):
        return
    assert isinstance(tree, dict)
    retries = tree.get("message_retries", 5)
    assert not isinstance(retries, bool)
    assert 0 <= retries <= 20


@given(depth=DEPTHS, kind=st.sampled_from(["[", "{"]))
@example(depth=100_000, kind="[")
def test_deeply_nested_config_json_is_a_config_error(
    credential_guard: CredentialGuard, depth: int, kind: str
) -> None:
    config_json = nested_json(depth, kind=kind)
    if kind == "{":
        config_json = f'{{"smtp": {config_json}}}'
    with guarded(credential_guard):
        parse(config_json=config_json)


@given(tree=trees(value=st.one_of(TRICKY_TEXT, JSON)))
def test_a_config_the_rules_accept_builds_every_mail_and_matches_the_schema(tree: object) -> None:
    # GIVEN any tree the rules accept (the one definition of a valid config)
    problems = check_config(tree, ConfigContext(has_own_uri=True))
    if any(problem.is_error for problem in problems):
        return
    assert isinstance(tree, dict)
    smtp = tree.get("smtp", {})

    # THEN the mail is built from its settings: no header rule of the mail refuses them at
    # send time (where they would cost every message of the project)
    build_email(
        subject="Your code",
        plaintext="123456",
        html="<b>123456</b>",
        from_address=smtp.get("from_address", DEFAULT_FROM_ADDRESS),
        from_name=smtp.get("from_name"),
        recipient="ada@example.org",
        headers=smtp.get("headers", {}),
    )
    # AND the shipped schema, generated from the rules, accepts it too
    schema_validator()(tree)


@cache
def schema_validator() -> Any:
    return fastjsonschema.compile(CONFIG_SCHEMA, use_default=False)
