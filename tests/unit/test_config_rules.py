"""The one rule set of a courier configuration: every problem in one pass, Kratos's tree as
Kratos writes it, the schema derived from the rules, the mail's header rules shared."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from courier.config import parse_project_config
from courier.config_rules import (
    COURIER_TREE,
    ConfigContext,
    canonical_tree,
    check_config,
    config_schema,
)
from courier.errors import ConfigError
from courier.template_data import TEMPLATE_TYPES, config_key
from courier.templates import render

SCHEMA_FILE = Path(__file__).parents[2] / "layers/courier/courier/schemas/config.schema.json"
OWN = ConfigContext(has_own_uri=True)


def b64(text: str) -> str:
    return "base64://" + base64.b64encode(text.encode()).decode()


def parse(tree: dict[str, Any]) -> Any:
    return parse_project_config(
        "acme",
        config_json=json.dumps(tree),
        connection_uri="smtps://mailer:s3cret-pw@smtp.acme.example/",
        default_connection_uri=None,
        default_from_address="no-reply@stack.example",
    )


def test_the_shipped_schema_is_the_one_the_rules_generate() -> None:
    # GIVEN the schema file shipped in the layer (for editors and other tools)
    shipped = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))

    # THEN it is exactly what the rules generate
    assert shipped == config_schema(), (
        "regenerate it: cd layers/courier && ../../.venv/bin/python -m courier.config_rules "
        "> courier/schemas/config.schema.json"
    )


def test_fifty_bad_settings_are_fifty_problems_in_one_pass() -> None:
    # GIVEN a config with 50 bad headers, a bad from_name and a bad message_retries
    headers = {f"X-Bad-{index}": f"v\r\nBcc: victim{index}@example.com" for index in range(48)}
    tree = {
        "smtp": {"from_name": "Acme\u2028Bcc: x@example.com", "headers": headers},
        "message_retries": 99,
    }

    # WHEN it is checked
    problems = check_config(tree, OWN)

    # THEN each one is reported, on its own setting
    assert len(problems) == 50
    assert {problem.field for problem in problems} == {
        "smtp.from_name",
        "message_retries",
        *(f"smtp.headers.{name}" for name in headers),
    }
    assert {problem.code for problem in problems} == {"header_crlf", "message_retries_out_of_range"}


@pytest.mark.parametrize(
    ("header", "code"),
    [
        ("Return-Path", "header_reserved"),
        ("Content-Disposition", "header_reserved"),
        ("content-type", "header_reserved"),
        ("Bcc", "header_reserved"),
        ("X-Ok", None),
    ],
)
def test_header_names_follow_the_mail_s_own_rule(header: str, code: str | None) -> None:
    # GIVEN a header setting; WHEN it is checked
    problems = check_config({"smtp": {"headers": {header: "value"}}}, OWN)

    # THEN what build_email refuses is refused here, on the header
    assert [(p.field, p.code) for p in problems] == (
        [(f"smtp.headers.{header}", code)] if code else []
    )


def kratos_block() -> dict[str, Any]:
    """A courier block as a Kratos user has it (config keys of KRATOS.md §1)."""
    return {
        "smtp": {
            "from_address": "security@acme.example",
            "from_name": "Acme Security",
            "headers": {"X-Acme-Flow": "identity"},
            "local_name": "mailer.acme.example",
        },
        "templates": {
            "recovery_code": {
                "valid": {
                    "email": {
                        "subject": b64("Recover your Acme account"),
                        "body": {
                            "plaintext": b64("Your code: {{ recovery_code }}"),
                            "html": b64("<p>Your code: <b>{{ recovery_code }}</b></p>"),
                        },
                    }
                },
                "invalid": {"email": {"subject": b64("Someone tried to recover an account")}},
            },
            "login_code": {"valid": {"email": {"subject": b64("Log in: {{ login_code }}")}}},
            "verifiable_address_changed": {"email": {"subject": b64("Your address changed")}},
        },
        "message_retries": 7,
    }


def test_a_kratos_block_with_nested_template_keys_is_read() -> None:
    # GIVEN Kratos's nested template keys
    # WHEN the config is read
    config = parse(kratos_block())

    # THEN each override belongs to its template type and renders
    assert sorted(config.templates) == [
        "login_code_valid",
        "recovery_code_invalid",
        "recovery_code_valid",
        "verifiable_address_changed",
    ]
    mail = render(
        "recovery_code_valid",
        {"to": "ada@example.org", "recovery_code": "482913"},
        override=config.templates["recovery_code_valid"],
    )
    assert (mail.subject, mail.plaintext) == ("Recover your Acme account", "Your code: 482913")
    assert config.message_retries == 7


def test_flat_names_are_read_and_stored_nested() -> None:
    # GIVEN courier's earlier flat names
    flat = {"templates": {"login_code_valid": {"email": {"subject": b64("Code {{ login_code }}")}}}}

    # THEN they are read as the same template
    assert parse(flat).templates["login_code_valid"].subject == b64("Code {{ login_code }}")
    # AND their canonical (stored) form is Kratos's
    assert canonical_tree(flat) == {
        "templates": {"login_code": {"valid": {"email": {"subject": b64("Code {{ login_code }}")}}}}
    }


def test_a_template_set_under_both_names_is_an_error() -> None:
    subject = {"email": {"subject": b64("Hi")}}
    tree = {"templates": {"login_code_valid": subject, "login_code": {"valid": subject}}}

    problems = check_config(tree, OWN)

    assert [(p.field, p.code) for p in problems] == [
        ("templates.login_code_valid", "template_set_twice")
    ]
    assert "templates.login_code.valid" in problems[0].message


def test_every_template_type_has_its_kratos_key() -> None:
    # GIVEN each template type: THEN a subject at its Kratos key is read for that type
    for template_type in TEMPLATE_TYPES:
        node: dict[str, Any] = {"email": {"subject": b64("Hello")}}
        for part in reversed(config_key(template_type)):
            node = {part: node}
        assert list(parse({"templates": node}).templates) == [template_type]


@pytest.mark.parametrize(
    ("tree", "field"),
    [
        ({"worker": {"pull_count": 10, "pull_wait": "1s"}}, "worker"),
        ({"channels": [{"id": "sms", "type": "http"}]}, "channels"),
        (
            {"templates": {"verification_code": {"valid": {"sms": {"body": {}}}}}},
            "templates.verification_code.valid.sms",
        ),
    ],
)
def test_kratos_settings_courier_has_no_use_for_are_accepted_with_a_warning(
    tree: dict[str, Any], field: str
) -> None:
    problems = check_config(tree, OWN)

    assert [(p.field, p.code, p.severity) for p in problems] == [
        (field, "kratos_setting_ignored", "warning")
    ]
    parse(tree)  # and the config is read


def test_template_override_path_says_what_to_use_instead() -> None:
    with pytest.raises(ConfigError) as caught:
        parse({"template_override_path": "/etc/kratos/courier-templates"})

    assert caught.value.code == "template_override_path_unsupported"
    assert "base64://" in caught.value.message
    assert "templates.<flow>.<valid|invalid>.email" in caught.value.message


def test_without_its_own_server_every_sender_setting_is_reported() -> None:
    # GIVEN a project on the stack's default sender that sets the sender and two templates
    tree = {
        "smtp": {"from_address": "a@acme.example", "from_name": "Acme"},
        "templates": {"login_code": {"valid": {"email": {"subject": b64("Hi")}}}},
    }

    # WHEN checked: THEN each is named (not only the first)
    problems = check_config(tree, ConfigContext(has_own_uri=False))

    assert [(p.field, p.code) for p in problems] == [
        ("smtp.from_address", "sender_requires_own_server"),
        ("smtp.from_name", "sender_requires_own_server"),
        ("templates.login_code", "sender_requires_own_server"),
    ]


def test_the_rules_walk_every_setting_of_the_schema() -> None:
    # GIVEN the schema's top-level settings: THEN the rules know each (one source)
    assert list(config_schema()["properties"]) == list(COURIER_TREE.properties)


@pytest.fixture
def cert_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A bundled certificate folder with a client certificate and its key (trustme)."""
    import trustme

    folder = tmp_path / "certs"
    folder.mkdir()
    leaf = trustme.CA().issue_cert("mailer.acme.example")
    leaf.cert_chain_pems[0].write_to_path(str(folder / "client.pem"))
    leaf.private_key_pem.write_to_path(str(folder / "client.key"))
    (tmp_path / "outside.pem").write_text("not in the folder")
    monkeypatch.setattr("courier.config_rules.CERT_DIR", folder.resolve())
    return folder


def test_a_client_certificate_in_the_bundle_is_read(cert_dir: Path) -> None:
    config = parse({"smtp": {"client_cert_path": "client.pem", "client_key_path": "client.key"}})

    assert config.client_certificate is not None
    assert "BEGIN CERTIFICATE" in config.client_certificate.cert_pem
    assert "client.key" not in repr(config)
    assert "PRIVATE KEY" not in repr(config)


@pytest.mark.parametrize(
    ("smtp", "field", "code"),
    [
        (
            {"client_cert_path": "../outside.pem", "client_key_path": "client.key"},
            "smtp.client_cert_path",
            "client_cert_file_outside",
        ),
        (
            {"client_cert_path": "/etc/ssl/kratos/client.pem", "client_key_path": "client.key"},
            "smtp.client_cert_path",
            "client_cert_file_outside",
        ),
        (
            {"client_cert_path": "nope.pem", "client_key_path": "client.key"},
            "smtp.client_cert_path",
            "client_cert_file_missing",
        ),
        ({"client_cert_path": "client.pem"}, "smtp.client_key_path", "client_cert_incomplete"),
        (
            {"client_cert_path": "client.key", "client_key_path": "client.pem"},
            "smtp.client_cert_path",
            "client_cert_invalid",
        ),
    ],
)
def test_a_client_certificate_that_cannot_be_used_is_a_config_error_on_its_setting(
    cert_dir: Path, smtp: dict[str, str], field: str, code: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse({"smtp": smtp})

    assert (caught.value.field, caught.value.code) == (field, code)
    assert "BEGIN" not in str(caught.value)


def test_client_certificate_files_and_secure_strings_together_are_refused(cert_dir: Path) -> None:
    leaf_pem = (cert_dir / "client.pem").read_text()
    key_pem = (cert_dir / "client.key").read_text()
    context = ConfigContext(has_own_uri=True, client_cert_pem=leaf_pem, client_key_pem=key_pem)
    tree = {"smtp": {"client_cert_path": "client.pem", "client_key_path": "client.key"}}

    problems = check_config(tree, context)

    assert [(p.field, p.code) for p in problems] == [
        ("smtp.client_cert_path", "client_cert_set_twice")
    ]
