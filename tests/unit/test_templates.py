"""The mail templates: the twelve built-ins, the sandbox, strict data and project overrides."""

from __future__ import annotations

import base64
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape

from courier import templates
from courier.errors import ConfigError, MessageError
from courier.template_data import SAMPLE_DATA, TEMPLATE_FIELDS, template_fields_markdown
from courier.templates import (
    TEMPLATE_DIR,
    TEMPLATE_TYPES,
    TemplateOverride,
    check_template_source,
    load_override_source,
    render,
)

TO = "ada@example.com"
RECOVERY_URL = "https://auth.example.com/self-service/recovery?flow=7f3a&token=Zx9q"
VERIFICATION_URL = "https://auth.example.com/self-service/verification?flow=91c2&token=Kp4w"
FIELD = "templates.recovery_code.valid.email.body.html"

# The least data of each type, and the value from it that the mail must show.
MINIMAL: dict[str, tuple[dict[str, Any], str]] = {
    "recovery_valid": ({"to": TO, "recovery_url": RECOVERY_URL}, RECOVERY_URL),
    "recovery_invalid": ({"to": TO}, TO),
    "recovery_code_valid": ({"to": TO, "recovery_code": "123456"}, "123456"),
    "recovery_code_invalid": ({"to": TO}, TO),
    "verification_valid": ({"to": TO, "verification_url": VERIFICATION_URL}, VERIFICATION_URL),
    "verification_invalid": ({"to": TO}, TO),
    "verification_code_valid": ({"to": TO, "verification_code": "654321"}, "654321"),
    "verification_code_invalid": ({"to": TO}, TO),
    "login_code_valid": ({"to": TO, "login_code": "246810"}, "246810"),
    "registration_code_valid": ({"to": TO, "registration_code": "135790"}, "135790"),
    "verifiable_address_changed": ({"to": TO}, TO),
    "authenticator_key_added": ({"to": TO}, TO),
}
REQUIRED = {
    "recovery_valid": "recovery_url",
    "recovery_code_valid": "recovery_code",
    "verification_valid": "verification_url",
    "verification_code_valid": "verification_code",
    "login_code_valid": "login_code",
    "registration_code_valid": "registration_code",
}
OPTIONAL: dict[str, Any] = {
    "expires_in_minutes": 15,
    "identity": {"id": "5f1c0b6e-0e7d-4c2b-9d61-1f0e6a3c8a11", "traits": {"email": TO}},
    "traits": {"email": TO, "name": "Ada"},
    "request_url": "https://auth.example.com/self-service/recovery/browser",
    "transient_payload": {"locale": "en"},
}


def b64(source: str | bytes) -> str:
    raw = source.encode() if isinstance(source, str) else source
    return "base64://" + base64.b64encode(raw).decode()


class _TagBalance(HTMLParser):
    VOID = frozenset({"meta", "br", "hr", "img", "link", "input"})

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open.pop() != tag:
            self.errors.append(tag)


def test_the_twelve_kratos_types_in_order_each_with_three_built_in_parts() -> None:
    # GIVEN the bundled folder WHEN listing it THEN it holds exactly the twelve types' parts
    assert tuple(MINIMAL) == TEMPLATE_TYPES
    builtin = TEMPLATE_DIR / "builtin"
    assert sorted(p.name for p in builtin.iterdir()) == sorted(TEMPLATE_TYPES)
    for template_type in TEMPLATE_TYPES:
        assert sorted(p.name for p in (builtin / template_type).iterdir()) == [
            "email.body.html.j2",
            "email.body.plaintext.j2",
            "email.subject.j2",
        ]


@pytest.mark.parametrize("template_type", TEMPLATE_TYPES)
@pytest.mark.parametrize("optional", [False, True], ids=["minimal", "with-optional"])
def test_each_built_in_renders_with_its_data(template_type: str, optional: bool) -> None:
    # GIVEN the type's least data, with or without the optional fields
    data, shown = MINIMAL[template_type]
    data = {**data, **OPTIONAL} if optional else data

    # WHEN rendering
    mail = render(template_type, data)

    # THEN every part is rendered, and the body shows the code or link
    assert mail.subject
    assert mail.subject == mail.subject.strip()
    assert "\n" not in mail.subject
    for part in (mail.subject, mail.plaintext, mail.html):
        assert "{{" not in part
        assert "{%" not in part
    assert shown in mail.plaintext
    assert str(escape(shown)) in mail.html
    assert mail.plaintext.endswith("\n")
    if optional and template_type in REQUIRED:
        assert "expires in 15 minutes" in mail.plaintext
        assert "expires in 15 minutes" in mail.html


@pytest.mark.parametrize("template_type", TEMPLATE_TYPES)
def test_each_built_in_html_is_a_small_valid_self_contained_document(template_type: str) -> None:
    # GIVEN a type WHEN rendering its HTML
    html = render(template_type, {**MINIMAL[template_type][0], **OPTIONAL}).html

    # THEN it is a complete, balanced document that loads nothing from outside
    assert html.startswith('<!DOCTYPE html>\n<html lang="en">')
    assert '<meta charset="utf-8">' in html
    assert "<title>" in html
    parser = _TagBalance()
    parser.feed(html)
    parser.close()
    assert parser.errors == []
    assert parser.open == []
    for external in ("src=", "<link", "url(", "@import", "<script"):
        assert external not in html


def test_links_are_clickable_and_escaped_for_html() -> None:
    # GIVEN a recovery link with a query string WHEN rendering
    mail = render("recovery_valid", {"to": TO, "recovery_url": RECOVERY_URL})

    # THEN the HTML links to it, with & escaped in the attribute, and the plaintext has it as is
    assert f'href="{escape(RECOVERY_URL)}"' in mail.html
    assert "&amp;token=" in mail.html
    assert f"\n{RECOVERY_URL}\n" in mail.plaintext


SCRIPT = "<script>alert(1)</script>"


def test_html_is_autoescaped_and_subject_and_plaintext_are_not() -> None:
    # GIVEN overrides of all three parts that print a trait carrying markup
    override = TemplateOverride(
        subject=b64("Hello {{ traits.name }}"),
        plaintext=b64("Hello {{ traits.name }}"),
        html=b64("<p>Hello {{ traits.name }}</p>"),
    )

    # WHEN rendering
    mail = render("recovery_code_valid", {"traits": {"name": SCRIPT}}, override=override)

    # THEN only the HTML escapes it
    assert mail.html == "<p>Hello &lt;script&gt;alert(1)&lt;/script&gt;</p>"
    assert mail.plaintext == f"Hello {SCRIPT}"
    assert mail.subject == f"Hello {SCRIPT}"


def test_built_in_html_escapes_data() -> None:
    # GIVEN an address carrying markup WHEN a built-in that prints it renders
    mail = render("recovery_invalid", {"to": f"{SCRIPT}@example.com"})

    # THEN the HTML shows it escaped and the plaintext verbatim
    assert SCRIPT not in mail.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;@example.com" in mail.html
    assert f"{SCRIPT}@example.com" in mail.plaintext


@pytest.mark.parametrize(
    "payload",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
        "{{ lipsum.__globals__['os'] }}",
        "{{ self._TemplateReference__context }}",
        "{{ namespace()._Namespace__attrs }}",
        "{{ range.__self__ }}",
        "{{ '{0.__class__}'.format(to) }}",
        "{{ to|attr('__class__') }}",
        "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
        "{{ identity.update({'id': 'x'}) }}",
        "{{ identity._private }}",
    ],
)
def test_a_template_reaching_for_python_internals_is_refused(payload: str) -> None:
    # GIVEN an override that tries to escape the sandbox
    override = TemplateOverride(plaintext=b64(payload))

    # WHEN rendering THEN it is refused as unsafe
    with pytest.raises(MessageError) as caught:
        render(
            "recovery_code_valid",
            {"to": TO, "recovery_code": "1", "identity": {}},
            override=override,
        )
    assert (caught.value.field, caught.value.code) == ("template", "template_unsafe")


@pytest.mark.parametrize("part", ["subject", "plaintext", "html"])
def test_every_part_is_sandboxed(part: str) -> None:
    # GIVEN the classic payload in one part WHEN rendering THEN it is refused
    override = TemplateOverride(**{part: b64("{{ cycler.__init__.__globals__ }}")})
    with pytest.raises(MessageError, match="unsafe") as caught:
        render("recovery_code_valid", {"recovery_code": "1"}, override=override)
    assert caught.value.code == "template_unsafe"


@pytest.mark.parametrize(
    "value",
    [
        "{{ 7*7 }}",
        "{% for i in range(3) %}x{% endfor %}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "${7*7} #{7*7} <%= 7*7 %>",
    ],
)
def test_data_that_looks_like_a_template_is_printed_not_evaluated(value: str) -> None:
    # GIVEN a code that is template syntax WHEN rendering the built-in
    mail = render("recovery_code_valid", {"to": TO, "recovery_code": value})

    # THEN it appears literally in every body
    assert value in mail.plaintext
    assert str(escape(value)) in mail.html
    assert "49" not in mail.plaintext
    assert "xxx" not in mail.plaintext


@pytest.mark.parametrize(("template_type", "name"), REQUIRED.items())
def test_missing_data_is_named(template_type: str, name: str) -> None:
    # GIVEN data without the value the type needs
    data = {key: value for key, value in MINIMAL[template_type][0].items() if key != name}

    # WHEN rendering THEN the error names the variable and the type
    with pytest.raises(MessageError) as caught:
        render(template_type, data)
    assert caught.value.field == f"template_data.{name}"
    assert caught.value.code == "template_data_missing"
    assert repr(name) in caught.value.message
    assert template_type in caught.value.message


def test_a_missing_nested_value_is_missing_data() -> None:
    # GIVEN an override reading a trait the identity does not have
    override = TemplateOverride(subject=b64("Hi {{ identity.traits.name }}"))

    # WHEN rendering THEN it is missing template data
    with pytest.raises(MessageError, match="'name'") as caught:
        render(
            "recovery_code_valid",
            {"recovery_code": "1", "identity": {"traits": {}}},
            override=override,
        )
    assert (caught.value.field, caught.value.code) == ("template_data", "template_data_missing")


@pytest.mark.parametrize("source", ["{{ 1 / 0 }}", "{{ recovery_code + 1 }}", "{{ range(10**9) }}"])
def test_other_render_failures_are_render_errors(source: str) -> None:
    # GIVEN an override whose expression fails WHEN rendering THEN it is a render error
    with pytest.raises(MessageError) as caught:
        render(
            "recovery_code_valid",
            {"recovery_code": "1"},
            override=TemplateOverride(html=b64(source)),
        )
    assert (caught.value.field, caught.value.code) == ("template", "template_render_error")


@pytest.mark.parametrize("part", ["subject", "plaintext", "html"])
def test_an_override_replaces_only_its_part(part: str) -> None:
    # GIVEN the built-in mail, and an override of one part
    data = {"to": TO, "recovery_code": "123456"}
    builtin = render("recovery_code_valid", data)
    override = TemplateOverride(**{part: b64("Custom {{ recovery_code }}")})

    # WHEN rendering with the override
    mail = render("recovery_code_valid", data, override=override)

    # THEN that part is the override's and the others are the built-ins
    for name in ("subject", "plaintext", "html"):
        expected = "Custom 123456" if name == part else getattr(builtin, name)
        assert getattr(mail, name) == expected


def test_base64_wrapped_at_76_columns_is_accepted() -> None:
    # GIVEN base64 as the `base64` tool prints it, with line breaks
    source = "Your code is {{ recovery_code }}. " * 5
    wrapped = base64.encodebytes(source.encode()).decode()
    assert "\n" in wrapped.strip()

    # WHEN loading THEN the source comes back
    assert load_override_source(f"base64://{wrapped}", field=FIELD) == source


@pytest.mark.parametrize(
    "uri",
    [
        "base64://SGVsbG8h!!!",
        "base64://SGVsbG8h-_-_",
        "base64://abc",
        b64(b"\xff\xfe subject"),
        "base64://w6k=\u00e9",
    ],
    ids=["not-base64-alphabet", "url-safe-alphabet", "bad-padding", "not-utf8", "non-ascii"],
)
def test_bad_base64_is_refused(uri: str) -> None:
    # GIVEN an override URI that does not decode WHEN loading THEN the field is named
    with pytest.raises(ConfigError) as caught:
        load_override_source(uri, field=FIELD)
    assert (caught.value.field, caught.value.code) == (FIELD, "template_base64_invalid")


@pytest.mark.parametrize(
    "uri",
    [
        "file://builtin/login_code_valid/email.subject.j2",
        f"file://{TEMPLATE_DIR}/builtin/login_code_valid/email.subject.j2",
        "file://builtin/recovery_code_valid/../login_code_valid/email.subject.j2",
    ],
    ids=["relative", "absolute-inside", "dotdot-inside"],
)
def test_a_file_in_the_bundled_folder_is_read(uri: str) -> None:
    # GIVEN a file:// URI to a built-in file
    path = TEMPLATE_DIR / "builtin" / "login_code_valid" / "email.subject.j2"

    # WHEN loading it, and rendering another type with it as the subject
    source = load_override_source(uri, field=FIELD)
    mail = render(
        "recovery_code_valid", {"recovery_code": "1"}, override=TemplateOverride(subject=uri)
    )

    # THEN the file's content is the template
    assert source == path.read_text(encoding="utf-8")
    assert mail.subject == "Log in to your account"


@pytest.mark.parametrize(
    "uri",
    [
        "file:///etc/passwd",
        "file://../../x",
        "file://builtin/../../uri.py",
        "file://builtin/../../../../../../../../etc/passwd",
        f"file://{TEMPLATE_DIR}/../errors.py",
    ],
)
def test_a_file_outside_the_bundled_folder_is_refused(uri: str) -> None:
    # GIVEN a file:// URI leaving the folder WHEN loading THEN it is refused, naming the field
    with pytest.raises(ConfigError, match="outside") as caught:
        load_override_source(uri, field=FIELD)
    assert (caught.value.field, caught.value.code) == (FIELD, "template_file_outside")


def test_a_symlink_out_of_the_folder_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a template folder holding a link to a file outside it
    folder, secret = tmp_path / "templates", tmp_path / "secret.txt"
    folder.mkdir()
    secret.write_text("password", encoding="utf-8")
    (folder / "subject.j2").symlink_to(secret)
    monkeypatch.setattr(templates, "TEMPLATE_DIR", folder)

    # WHEN loading the link THEN it is outside
    with pytest.raises(ConfigError) as caught:
        load_override_source("file://subject.j2", field=FIELD)
    assert caught.value.code == "template_file_outside"


@pytest.mark.parametrize("uri", ["file://builtin/no_such_type/email.subject.j2", "file://builtin"])
def test_a_missing_file_is_refused(uri: str) -> None:
    # GIVEN a file:// URI inside the folder that names no file WHEN loading THEN it is missing
    with pytest.raises(ConfigError) as caught:
        load_override_source(uri, field=FIELD)
    assert (caught.value.field, caught.value.code) == (FIELD, "template_file_missing")


@pytest.mark.parametrize(
    "uri", ["https://example.com/recovery.html", "http://example.com/recovery.html"]
)
def test_a_remote_template_is_not_fetched(uri: str) -> None:
    # GIVEN a URL WHEN loading THEN courier refuses to fetch it and says how to inline it
    with pytest.raises(ConfigError) as caught:
        load_override_source(uri, field=FIELD)
    assert (caught.value.field, caught.value.code) == (FIELD, "template_remote_not_fetched")
    assert "does not fetch templates over the network" in caught.value.message
    assert "base64://" in caught.value.message


@pytest.mark.parametrize("uri", ["ftp://example.com/t.j2", "s3://bucket/t.j2", "t.j2", ""])
def test_other_schemes_are_refused(uri: str) -> None:
    # GIVEN a URI neither base64:// nor file:// WHEN loading THEN it is refused
    with pytest.raises(ConfigError) as caught:
        load_override_source(uri, field=FIELD)
    assert (caught.value.field, caught.value.code) == (FIELD, "template_uri_scheme")


@pytest.mark.parametrize(
    ("source", "line"),
    [
        ("Hello\n{{ recovery_code }\n", 2),
        ("<p>\n{% if expires_in_minutes %}\nsoon\n{% endfor %}\n</p>\n", 4),
        ("a\nb\n{{ recovery_code|no_such_filter }}", 3),
        ("{% for %}", 1),
    ],
)
def test_a_syntax_error_reports_its_line(source: str, line: int) -> None:
    # GIVEN broken Jinja2 WHEN checking it THEN the error names the field and the line
    with pytest.raises(ConfigError) as caught:
        check_template_source(source, field=FIELD)
    assert (caught.value.field, caught.value.code) == (FIELD, "template_syntax")
    assert f"line {line}:" in caught.value.message


def test_a_go_template_is_converted_rather_than_refused() -> None:
    # GIVEN a Kratos (Go) template WHEN checking it THEN it compiles (tests/unit/
    # test_go_template.py has the conversion itself)
    check_template_source("Code: {{ .RecoveryCode }}", field=FIELD)


def test_a_valid_template_passes_the_check() -> None:
    # GIVEN every built-in part WHEN checking it THEN it compiles
    for path in (TEMPLATE_DIR / "builtin").rglob("*.j2"):
        check_template_source(path.read_text(encoding="utf-8"), field=str(path))


def test_a_broken_override_is_a_config_error_of_its_field() -> None:
    # GIVEN an HTML override with a syntax error WHEN rendering
    override = TemplateOverride(html=b64("<p>\n{{ recovery_code }\n</p>"))
    with pytest.raises(ConfigError) as caught:
        render("recovery_code_valid", {"recovery_code": "1"}, override=override)

    # THEN the error names the override's place in the configuration and the line
    assert caught.value.field == FIELD
    assert caught.value.code == "template_syntax"
    assert "line 2:" in caught.value.message


def test_an_unknown_type_lists_the_valid_ones() -> None:
    # GIVEN a type Kratos does not have WHEN rendering THEN the error lists all twelve
    with pytest.raises(MessageError) as caught:
        render("password_changed", {"to": TO})
    assert (caught.value.field, caught.value.code) == ("template_type", "template_type_unknown")
    assert "'password_changed'" in caught.value.message
    for template_type in TEMPLATE_TYPES:
        assert template_type in caught.value.message


@pytest.mark.parametrize(
    ("subject", "code"),
    [
        ("Your code {{ recovery_code }}", "1\r\nBcc: victim@example.com"),
        ("Your code {{ recovery_code }}", "1\nX-Injected: yes"),
        ("Line one\nLine two {{ recovery_code }}", "1"),
    ],
)
def test_a_subject_that_renders_cr_or_lf_is_refused(subject: str, code: str) -> None:
    # GIVEN a subject that renders to more than one line WHEN rendering THEN it is refused
    with pytest.raises(MessageError) as caught:
        render(
            "recovery_code_valid",
            {"recovery_code": code},
            override=TemplateOverride(subject=b64(subject)),
        )
    assert (caught.value.field, caught.value.code) == ("subject", "header_crlf")


def test_the_subject_is_stripped() -> None:
    # GIVEN a subject with surrounding whitespace and a final newline WHEN rendering
    override = TemplateOverride(subject=b64("  Code {{ recovery_code }}  \n"))
    mail = render("recovery_code_valid", {"recovery_code": "1"}, override=override)

    # THEN it is one clean line
    assert mail.subject == "Code 1"


def test_the_readme_lists_every_field_kratos_sends_per_type() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text("utf-8")

    assert template_fields_markdown() in readme
    assert set(TEMPLATE_FIELDS) == set(TEMPLATE_TYPES)


@pytest.mark.parametrize("template_type", TEMPLATE_TYPES)
def test_each_built_in_renders_with_exactly_kratoss_data(template_type: str) -> None:
    # GIVEN the data Kratos sends with the type, and nothing more
    data = SAMPLE_DATA[template_type]

    # WHEN the built-in parts render THEN they need nothing Kratos does not send, and show
    # the type's own code or link
    mail = render(template_type, data)
    own = [v for k, v in data.items() if k.endswith(("_code", "_url")) and k != "request_url"]
    assert all(value in mail.plaintext for value in own)
    assert mail.subject


@pytest.mark.parametrize(
    ("template_type", "field"),
    [("verifiable_address_changed", "changed_at"), ("authenticator_key_added", "added_at")],
)
def test_the_security_notices_say_when(template_type: str, field: str) -> None:
    data = SAMPLE_DATA[template_type]

    mail = render(template_type, data)

    assert data[field] in mail.plaintext
    assert data[field] in mail.html
