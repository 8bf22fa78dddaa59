"""What the validator says about the rest of the tree: the schema, the sender rule, addresses,
headers, templates, message_retries, the size; every finding at once, and never a password."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest

from courier.templates import TEMPLATE_DIR
from courier.validation import ValidationResponse
from tests.unit.test_validator import CANARY, COURIER, DEFAULT_PARAMETER, URI, codes, run

SMTP = f"{COURIER}/smtp"
TEMPLATE = f"{COURIER}/templates/recovery_code_valid/email"


def b64(source: str) -> str:
    return "base64://" + base64.b64encode(source.encode()).decode()


def patch(project_id: str, *operations: tuple[str, str, Any]) -> ValidationResponse:
    """Validate RFC 6902 ``(op, path, value)`` operations on ``project_id``."""
    return run(
        {
            "project_id": project_id,
            "patch": [{"op": op, "path": path, "value": value} for op, path, value in operations],
        }
    )


def add(path: str, value: Any, project_id: str = "acme") -> ValidationResponse:
    """Add ``value`` at ``path``; below a template, add the template with it, as users do."""
    if path.startswith(f"{TEMPLATE}/"):
        for part in reversed(path.removeprefix(f"{TEMPLATE}/").split("/")):
            value = {part: value}
        path, value = TEMPLATE.removesuffix("/email"), {"email": value}
    return patch(project_id, ("add", path, value))


# --- the schema ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "value", "listed"),
    [
        (f"{SMTP}/from_adress", "a@acme.example", "from_address"),
        (f"{COURIER}/retries", 5, "message_retries"),
        (f"{COURIER}/templates/recovery_code_vald", {}, "recovery_code_valid"),
        (f"{TEMPLATE}/body/text", b64("hi"), "plaintext"),
    ],
)
def test_unknown_keys_are_errors_that_list_the_settings(path: str, value: Any, listed: str) -> None:
    response = add(path, value)

    assert codes(response) == [(path, "config_schema")]
    assert "is not a setting here" in response["errors"][0]["message"]
    assert listed in response["errors"][0]["message"]


def test_kratos_nested_template_names_are_read_and_flat_ones_stored_nested() -> None:
    # GIVEN the patch of Ory's custom-templates docs (Kratos's nested key, identity-config path)
    response = add(
        "/courier/templates/recovery_code/valid/email/body/plaintext",
        b64("Code {{ recovery_code }}"),
    )

    # THEN it is valid, and the tree has the template where Kratos has it
    assert response["valid"] is True, response["errors"]
    assert response["config"] is not None
    body = response["config"]["templates"]["recovery_code"]["valid"]["email"]["body"]
    assert body == {"plaintext": b64("Code {{ recovery_code }}")}

    # AND a flat name is reported on the path patched, and stored nested
    flat = add(f"{COURIER}/templates/login_code_valid", {"email": {"subject": b64("x")}})
    assert flat["valid"] is True, flat["errors"]
    assert flat["config"] is not None
    assert "login_code_valid" not in flat["config"]["templates"]
    assert flat["config"]["templates"]["login_code"]["valid"]["email"]["subject"] == b64("x")


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (f"{SMTP}/from_name", 42),
        (f"{SMTP}/headers", ["X-A: 1"]),
        (f"{SMTP}/headers/X-Count", 1),
        (f"{SMTP}/local_name", "mail acme"),
        (f"{COURIER}/message_retries", "5"),
        (f"{COURIER}/message_retries", 2.5),
        (f"{COURIER}/templates/recovery_code_valid", "base64://aGk="),
    ],
)
def test_wrong_types_are_schema_errors_on_their_path(path: str, value: Any) -> None:
    if path.startswith(f"{SMTP}/headers/"):
        response = patch("acme", ("add", f"{SMTP}/headers", {path.rsplit("/", 1)[1]: value}))
    else:
        response = add(path, value)

    assert codes(response) == [(path, "config_schema")]


@pytest.mark.parametrize("retries", [-1, 21, 100])
def test_message_retries_outside_0_to_20(retries: int) -> None:
    response = add(f"{COURIER}/message_retries", retries)

    assert codes(response) == [(f"{COURIER}/message_retries", "message_retries_out_of_range")]
    assert "from 0 to 20" in response["errors"][0]["message"]


@pytest.mark.parametrize("retries", [0, 20])
def test_message_retries_bounds_are_valid(retries: int) -> None:
    assert add(f"{COURIER}/message_retries", retries)["errors"] == []


# --- Ory's rule: the sender only with the project's own server -----------------------------


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (f"{SMTP}/from_address", "hello@plain.example"),
        (f"{SMTP}/from_name", "Plain"),
        (f"{COURIER}/templates/login_code_valid", {"email": {"subject": b64("Your code")}}),
    ],
)
def test_sender_settings_without_own_server_state_the_rule(path: str, value: Any) -> None:
    # GIVEN plain, which sends through the stack's default sender
    # WHEN it sets its sender or a template
    response = add(path, value, project_id="plain")

    # THEN the rule is stated, with the two ways out
    assert codes(response) == [(path, "sender_requires_own_server")]
    message = response["errors"][0]["message"]
    assert "can only be changed together with the project's own SMTP server" in message
    assert "set the SecureString /courier/plain/smtp/connection_uri" in message
    assert "(smtp.connection_uri in a patch)" in message
    dotted = ".".join(path.removeprefix(f"{COURIER}/").split("/"))
    assert message.endswith(f"or remove {dotted}")


def test_sender_settings_with_own_uri_in_the_same_patch_are_valid() -> None:
    response = patch(
        "plain",
        ("add", URI, "smtps://plain:s3cret-pw@192.0.32.10:465/"),
        ("add", f"{SMTP}/from_address", "hello@plain.example"),
    )

    assert response["valid"] is True, response["errors"]


def test_every_violation_of_the_rule_is_reported() -> None:
    response = patch(
        "plain",
        ("add", f"{SMTP}/from_address", "hello@plain.example"),
        ("add", f"{SMTP}/from_name", "Plain"),
        ("add", f"{COURIER}/templates/login_code_valid", {"email": {"subject": b64("a")}}),
        ("add", f"{COURIER}/templates/recovery_code_valid", {"email": {"subject": b64("b")}}),
    )

    assert sorted(codes(response)) == [
        (f"{SMTP}/from_address", "sender_requires_own_server"),
        (f"{SMTP}/from_name", "sender_requires_own_server"),
        (f"{COURIER}/templates/login_code_valid", "sender_requires_own_server"),
        (f"{COURIER}/templates/recovery_code_valid", "sender_requires_own_server"),
    ]


def test_default_sender_project_notes_where_its_mail_goes() -> None:
    response = add(f"{SMTP}/headers/X-Plan", "pro", project_id="plain")

    assert response["valid"] is True
    assert codes(response, "notes") == [(URI, "uses_default_sender")]
    assert DEFAULT_PARAMETER in response["notes"][0]["message"]


# --- addresses and headers -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "detail"),
    [
        ("hello", "must have an @-sign"),
        ("hello@localhost", "should have a period"),
        ("Acme <hello@acme.example>", "the name in from_name"),
        ("zoë@acme.example", "Internationalized characters before the @-sign"),
        ("a@b@acme.example", "@"),
    ],
)
def test_from_address_must_be_a_valid_address(address: str, detail: str) -> None:
    response = add(f"{SMTP}/from_address", address)

    assert codes(response) == [(f"{SMTP}/from_address", "from_address_invalid")]
    assert detail in response["errors"][0]["message"]


def test_line_break_in_from_name() -> None:
    response = add(f"{SMTP}/from_name", "Acme\r\nBcc: everyone@example.com")

    assert codes(response) == [(f"{SMTP}/from_name", "header_crlf")]
    assert "write it on one line" in response["errors"][0]["message"]


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Tag\r\nBcc": "everyone@example.com"},
        {"X-Tag": "v\r\nBcc: everyone@example.com"},
        {"X-Tag": "v\nx"},
        {"X-Tag": "v\u2028x"},
    ],
)
def test_line_breaks_in_header_names_or_values(headers: dict[str, str]) -> None:
    (name,) = headers

    response = add(f"{SMTP}/headers", headers)

    assert codes(response) == [(f"{SMTP}/headers/{name}", "header_crlf")]


@pytest.mark.parametrize("name", ["From", "to", "Subject", "DATE", "Message-ID", "Bcc"])
def test_headers_courier_writes_cannot_be_replaced(name: str) -> None:
    response = add(f"{SMTP}/headers", {name: "x@acme.example"})

    assert codes(response) == [(f"{SMTP}/headers/{name}", "header_reserved")]
    assert f"{name} may not be configured: courier writes" in response["errors"][0]["message"]


def test_content_headers_are_reserved_too() -> None:
    response = add(f"{SMTP}/headers", {"Content-Language": "de"})

    assert codes(response) == [(f"{SMTP}/headers/Content-Language", "header_reserved")]


def test_bad_header_name_is_named_by_its_header() -> None:
    response = add(f"{SMTP}/headers", {"X Tag": "v", "X-Ok": "v"})

    assert codes(response) == [(f"{SMTP}/headers/X Tag", "header_name_invalid")]


def test_header_name_with_a_dot_or_slash_is_found() -> None:
    response = add(f"{SMTP}/headers", {"X.Trace/Id": "v\nBcc: x"})

    assert codes(response) == [(f"{SMTP}/headers/X.Trace~1Id", "header_crlf")]


# --- templates -----------------------------------------------------------------------------


def test_base64_that_does_not_decode() -> None:
    response = add(f"{TEMPLATE}/subject", "base64://not*base64")

    assert codes(response) == [(f"{TEMPLATE}/subject", "template_base64_invalid")]


def test_jinja_syntax_error_names_the_line() -> None:
    response = add(f"{TEMPLATE}/body/html", b64("<p>Hi</p>\n<p>{{ recovery_code }</p>"))

    assert codes(response) == [(f"{TEMPLATE}/body/html", "template_syntax")]
    assert "line 2" in response["errors"][0]["message"]


def test_a_go_template_is_valid_and_its_conversion_can_be_reviewed() -> None:
    # GIVEN a Kratos (Go) template override, and a request to see what courier renders
    response = run(
        {
            "project_id": "acme",
            "add": [
                f'{TEMPLATE}/body/plaintext="{b64("Code: {{ .RecoveryCode | upper }}")}"',
                f'{TEMPLATE}/subject="{b64("Hi {{ to }}")}"',
            ],
            "show_converted": True,
        }
    )

    # THEN it is valid, and the response shows the Jinja of the Go part only
    assert response["valid"] is True, response["errors"]
    assert response["converted_templates"] == {
        f"{TEMPLATE}/body/plaintext": "Code: {{ recovery_code | upper }}"
    }


def test_a_go_template_outside_the_subset_names_the_construct_and_line() -> None:
    response = add(f"{TEMPLATE}/body/plaintext", b64('Hi\n{{ env "HOME" }}'))

    assert codes(response) == [(f"{TEMPLATE}/body/plaintext", "go_template_unsupported")]
    assert "line 2" in response["errors"][0]["message"]
    assert "env" in response["errors"][0]["message"]


POISON_OVERRIDES = {
    "nested loops": (
        "Hi\n{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        ("MAX_STEPS", "MAX_CPU_SECONDS"),
    ),
    "doubling": (
        "{% set ns = namespace(s='x') %}\n{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
        "{% endfor %}",
        ("MAX_VALUE_SIZE",),
    ),
    "a huge power": ("Hi\n{{ 10 ** 100000 }}", ("MAX_INT_BITS",)),
}


@pytest.mark.parametrize(("source", "bounds"), POISON_OVERRIDES.values(), ids=POISON_OVERRIDES)
def test_a_poison_template_is_refused_when_written_with_its_line_and_bound(
    source: str, bounds: tuple[str, ...]
) -> None:
    # GIVEN an override that would exhaust the sender's CPU or memory
    # WHEN it is validated
    response = add(f"{TEMPLATE}/body/plaintext", b64(source))

    # THEN it is refused with the bound it went over and the line where it did
    assert codes(response) == [(f"{TEMPLATE}/body/plaintext", "template_limit")]
    message = response["errors"][0]["message"]
    assert "line 2" in message
    assert any(bound in message for bound in bounds)


def test_a_template_that_fails_to_render_is_refused_with_its_line() -> None:
    response = add(f"{TEMPLATE}/subject", b64("Code {{ recovery_code }} {{ 1 // 0 }}"))

    assert codes(response) == [(f"{TEMPLATE}/subject", "template_render_error")]
    assert "line 1" in response["errors"][0]["message"]
    assert "ZeroDivisionError" in response["errors"][0]["message"]


def test_every_part_of_every_type_is_rendered_with_kratoss_data() -> None:
    # GIVEN overrides that use each type's own variable, in every part
    for template_type, variable in [
        ("recovery_valid", "recovery_url"),
        ("verification_code_valid", "verification_code"),
        ("login_code_valid", "login_code"),
    ]:
        source = b64(f"{{{{ {variable} }}}} for {{{{ identity.traits.email }}}}")
        email = {"subject": source, "body": {"plaintext": source, "html": source}}

        # WHEN they are validated THEN they pass
        response = patch("acme", ("add", f"{COURIER}/templates/{template_type}", {"email": email}))
        assert response["errors"] == [], template_type


def test_a_variable_kratos_does_not_send_is_a_warning() -> None:
    response = add(f"{TEMPLATE}/subject", b64("Hi {{ nickname }}"))

    assert response["errors"] == []
    [warning] = [w for w in response["warnings"] if w["code"] == "template_data_missing"]
    assert warning["path"] == f"{TEMPLATE}/subject"
    assert "'nickname'" in warning["message"]
    assert "dead-lettered" in warning["message"]


@pytest.mark.parametrize(
    "uri", ["file:///etc/passwd", "file://../../config.py", f"file://{TEMPLATE_DIR.parent}/x.j2"]
)
def test_file_outside_the_bundled_templates(uri: str) -> None:
    response = add(f"{TEMPLATE}/subject", uri)

    assert codes(response) == [(f"{TEMPLATE}/subject", "template_file_outside")]
    assert "bundled template folder" in response["errors"][0]["message"]


def test_bundled_file_template_is_valid() -> None:
    uri = "file://builtin/recovery_code_valid/email.subject.j2"

    assert add(f"{TEMPLATE}/subject", uri)["errors"] == []


@pytest.mark.parametrize(
    ("url", "code", "said"),
    [
        ("http://templates.acme.example/code.html", "template_remote_insecure", "https://"),
        ("https://127.0.0.1/code.html", "template_remote_not_public", "AllowPrivateSmtpHosts"),
        ("https://[::ffff:10.0.0.1]/code.html", "template_remote_not_public", "10.0.0.1"),
    ],
)
def test_remote_templates_are_fetched_only_over_https_from_public_hosts(
    url: str, code: str, said: str
) -> None:
    # (tests/integration/test_remote_templates.py fetches from a real HTTPS server)
    response = add(f"{TEMPLATE}/body/html", url)

    assert codes(response) == [(f"{TEMPLATE}/body/html", code)]
    assert said in response["errors"][0]["message"]


# --- size, everything at once, and secrecy -------------------------------------------------


def test_config_beyond_what_ssm_holds_is_an_error() -> None:
    big = b64("x" * 7000)

    response = add(f"{TEMPLATE}/body/html", big)

    assert codes(response) == [(COURIER, "config_too_large")]


def test_config_beyond_a_standard_parameter_is_noted() -> None:
    response = add(f"{TEMPLATE}/body/html", b64("x" * 3500))

    assert response["valid"] is True
    assert codes(response, "notes") == [(COURIER, "advanced_parameter")]


def test_every_error_is_reported_in_one_response() -> None:
    # GIVEN one patch with a mistake in each part of the tree
    response = patch(
        "acme",
        ("replace", URI, "smtp://u:pw@192.0.32.10:25/"),
        ("replace", f"{SMTP}/from_address", "not-an-address"),
        ("add", f"{SMTP}/headers", {"To": "x", "X-A": "a\nb"}),
        (
            "add",
            f"{COURIER}/templates/login_code_valid",
            {"email": {"subject": "https://169.254.169.254/latest"}},
        ),
        ("add", f"{COURIER}/message_retries", 99),
        ("add", f"{COURIER}/unknown", True),
    )

    # THEN each is there, on its own path, sorted by path
    assert codes(response) == [
        (f"{COURIER}/message_retries", "message_retries_out_of_range"),
        (f"{SMTP}/connection_uri", "smtp_port_blocked"),
        (f"{SMTP}/from_address", "from_address_invalid"),
        (f"{SMTP}/headers/To", "header_reserved"),
        (f"{SMTP}/headers/X-A", "header_crlf"),
        (f"{COURIER}/templates/login_code_valid/email/subject", "template_remote_not_public"),
        (f"{COURIER}/unknown", "config_schema"),
    ]


def test_password_appears_nowhere_in_responses_or_logs(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN requests that fail in every way a URI with a password can
    caplog.set_level(logging.DEBUG)
    uri = f"smtp://u:{CANARY}@192.0.32.10"
    requests: list[dict[str, Any]] = [
        {"project_id": "acme", "replace": [f'{URI}="{uri}:25/"']},
        {"project_id": "acme", "replace": [f'{URI}="{uri}:x/"']},
        {"project_id": "acme", "replace": [f'{URI}="{uri}/?legacy_ssl=1"']},
        {"project_id": "acme", "replace": [f'{URI}="{uri}']},
        {"project_id": "acme", "replace": [f"{URI}:{uri}"]},
        {"project_id": "acme", "patch": [{"op": "test", "path": URI, "value": uri}]},
        {"project_id": "acme", "patch": [{"op": "copy", "from": URI, "path": f"{SMTP}/x"}]},
        {"project_id": "acme", "replace": [f'{SMTP}/from_name="{CANARY}"'], "dry_run": False},
    ]

    # WHEN each is validated (run() checks each response)
    responses = [run(request) for request in requests]

    # THEN they failed, and the password is in no response and no log line
    assert all(response["errors"] for response in responses[:-1])
    assert CANARY not in json.dumps(responses)
    assert CANARY not in caplog.text
    assert CANARY not in capsys.readouterr().out
