"""Kratos's Go templates: converted to Jinja and rendered in courier's sandbox as Kratos would."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from courier.errors import ConfigError, MessageError
from courier.go_template import GoTemplateSandbox, convert, is_go_template
from courier.template_data import TEMPLATE_FIELDS
from courier.templates import (
    TEMPLATE_DIR,
    TemplateOverride,
    check_template_renders,
    check_template_source,
    converted_source,
    render,
)

TO = "ada@example.com"
FIELD = "templates.recovery_code.valid.email.body.plaintext"
DATA: dict[str, Any] = {
    "to": TO,
    "recovery_code": "123456",
    "expires_in_minutes": 15,
    "identity": {
        "id": "5f1c0b6e",
        "traits": {
            "email": TO,
            "emails": ["a@x", "b@x"],
            "name": {"first": "Ada", "last": "Lovelace"},
        },
        "metadata_public": {"lang": "de"},
        "verified": True,
        "score": 2.5,
    },
    "request_url": "https://auth.example.com/self-service/recovery/browser",
    "transient_payload": {},
}


def b64(source: str) -> str:
    return "base64://" + base64.b64encode(source.encode()).decode()


def render_go(
    source: str,
    data: dict[str, Any] | None = None,
    *,
    part: str = "plaintext",
    template_type: str = "recovery_code_valid",
) -> str:
    """The ``part`` of the mail, with ``source`` as its override."""
    mail = render(template_type, DATA if data is None else data, override=_override(part, source))
    return str(getattr(mail, part))


def _override(part: str, source: str) -> TemplateOverride:
    return TemplateOverride(**{part: b64(source)})


CONSTRUCTS: dict[str, tuple[str, str]] = {
    "a field": ("Code: {{ .RecoveryCode }}", "Code: 123456"),
    "a map key below a field": ("{{ .Identity.traits.email }}", TO),
    "a key the map lacks is empty": ("[{{ .Identity.traits.nope.deeper }}]", "[]"),
    "index, several keys": ('{{ index .Identity "traits" "email" }}', TO),
    "index of a list": ("{{ index .Identity.traits.emails 1 }}", "b@x"),
    "a key named like a Python method": ("[{{ .Identity.items }}{{ .Identity.keys }}]", "[]"),
    "if / else if / else": (
        '{{ if eq .RecoveryCode "1" }}one{{ else if .Identity.nope }}nope'
        "{{ else if .ExpiresInMinutes }}soon{{ else }}never{{ end }}",
        "soon",
    ),
    "if with a declaration": ("{{ if $n := .Identity.traits.name }}{{ $n.first }}{{ end }}", "Ada"),
    "eq with several values": ('{{ if eq .RecoveryCode "1" "123456" }}yes{{ end }}', "yes"),
    "ne lt le gt ge": (
        "{{ ne 1 2 }} {{ lt 1 2 }} {{ le 2 2 }} {{ gt 1 2 }} {{ ge 3 2 }}",
        "true true true false true",
    ),
    "and / or return the deciding operand": (
        '{{/* go */}}{{ and 1 0 3 }} {{ and 1 2 }} {{ or 0 "" "x" }} {{ or 0 false }}',
        "0 2 x false",
    ),
    "not": ("{{ not .Identity.traits.nope }} {{ not 1 }}", "true false"),
    "len (bytes of a string, as Go counts)": (
        '{{ len .Identity.traits.emails }} {{ len "é" }}',
        "2 2",
    ),
    "print": ('{{ print 1 2 "a" 3 }}', "1 2a3"),
    "println": ('{{ println "a" 1 }}', "a 1\n"),
    "printf": (
        '{{ printf "%s=%d %v %q %5.2f|%-4s|%x %%" "n" 3 true "x" 3.14159 "ab" 255 }}',
        'n=3 true "x"  3.14|ab  |ff %',
    ),
    "printf with a wrong verb, as Go": ('{{ printf "%d %s" "x" }}', "%!d(string=x) %!s(MISSING)"),
    "range over a list": ("{{ range .Identity.traits.emails }}<{{ . }}>{{ end }}", "<a@x><b@x>"),
    "range with index and element": (
        "{{ range $i, $e := .Identity.traits.emails }}{{ $i }}:{{ $e }} {{ end }}",
        "0:a@x 1:b@x ",
    ),
    "range with one variable: the element": (
        "{{ range $e := .Identity.traits.emails }}{{ $e }} {{ end }}",
        "a@x b@x ",
    ),
    "range over a map, by key": (
        "{{ range $k, $v := .Identity.traits.name }}{{ $k }}={{ $v }};{{ end }}",
        "first=Ada;last=Lovelace;",
    ),
    "range over a map's values": (
        "{{ range .Identity.traits.name }}{{ . }} {{ end }}",
        "Ada Lovelace ",
    ),
    "range / else": ("{{ range .Identity.traits.nope }}x{{ else }}none{{ end }}", "none"),
    "range over an int": ("{{ range 3 }}{{ . }}{{ end }}", "012"),
    "break and continue": (
        "{{ range $i, $e := .Identity.traits.emails }}{{ if eq $i 0 }}{{ continue }}{{ end }}"
        "{{ $e }}{{ break }}x{{ end }}",
        "b@x",
    ),
    "with": ("{{ with .Identity.traits.name }}{{ .first }}{{ end }}", "Ada"),
    "with / else": (
        "{{ with .Identity.nope }}x{{ else }}none {{ .RecoveryCode }}{{ end }}",
        "none 123456",
    ),
    "with / else with": (
        "{{ with .Identity.nope }}x{{ else with .Identity.traits }}{{ .email }}{{ end }}",
        TO,
    ),
    "with a variable": (
        "{{ with $n := .Identity.traits.name }}{{ $n.last }}{{ end }}",
        "Lovelace",
    ),
    "variables: := and =": ('{{ $x := "a" }}{{ $x }}{{ $x = "b" }}{{ $x }}', "ab"),
    "= inside a range changes the variable outside": (
        "{{ $n := 0 }}{{ range .Identity.traits.emails }}{{ $n = add $n 1 }}{{ end }}{{ $n }}",
        "2",
    ),
    "a declaration inside a block shadows until its end": (
        "{{ $x := 1 }}{{ if true }}{{ $x := 2 }}{{ $x }}{{ end }}{{ $x }}",
        "21",
    ),
    "$ is the root": (
        "{{ range .Identity.traits.emails }}{{ $.RecoveryCode }},{{ end }}",
        "123456,123456,",
    ),
    "a variable holding the root": ("{{ $r := . }}{{ with .Identity }}{{ $r.To }}{{ end }}", TO),
    "a pipeline": ("{{ .Identity.traits.name.first | upper }}", "ADA"),
    "a pipe passes the value last": ('{{ .To | replace "@" " at " }}', "ada at example.com"),
    "a pipe into printf": ('{{/* go */}}{{ "x" | printf "%s-%s" "a" }}', "a-x"),
    "parenthesised sub-expressions": (
        '{{ (index .Identity.traits.emails 0) | upper }} {{ (index .Identity "traits").email }}',
        f"A@X {TO}",
    ),
    "literals": (
        '{{/* literals */}}{{ "s\\t" }}|{{ `r\\n` }}|{{ 42 }} {{ -1 }} {{ 0x1F }} {{ 1_000 }}'
        " {{ 1.5 }} {{ 1e3 }}"
        " {{ true }} {{ false }} {{ 'a' }} [{{ nil }}]",
        "s\t|r\\n|42 -1 31 1000 1.5 1000 true false 97 []",
    ),
    "values print as Go prints them": (
        "{{ .Identity.traits.emails }} {{ .Identity.traits.name }} {{ .Identity.verified }} "
        "{{ .Identity.score }} {{ 1000000.0 }}",
        "[a@x b@x] map[first:Ada last:Lovelace] true 2.5 1e+06",
    ),
    "comments": ("a{{/* a comment */}}b {{- /* trimmed */ -}} c", "abc"),
    "define and template": (
        '{{ define "hi" }}Hi {{ .To }}{{ end }}{{ template "hi" . }}!',
        f"Hi {TO}!",
    ),
    "define after its use": (
        '{{ template "x" . }}{{ define "x" }}X{{ .RecoveryCode }}{{ end }}',
        "X123456",
    ),
    "template with a value": (
        '{{ define "name" }}{{ .first }} {{ .last }}{{ end }}'
        '{{ template "name" .Identity.traits.name }}',
        "Ada Lovelace",
    ),
    "template without data": ('{{ define "x" }}[{{ . }}]{{ end }}{{ template "x" }}', "[]"),
    "a template name like Kratos's file names": (
        '{{ define "email.body.plaintext.en_US.gotmpl" }}EN {{ .RecoveryCode }}{{ end }}'
        '{{ template "email.body.plaintext.en_US.gotmpl" . }}',
        "EN 123456",
    ),
    "templates calling templates": (
        '{{ define "a" }}A{{ template "b" . }}{{ end }}{{ define "b" }}B{{ .RecoveryCode }}'
        '{{ end }}{{ template "a" . }}',
        "AB123456",
    ),
    "block": ('{{ block "footer" . }}Bye {{ .To }}{{ end }}', f"Bye {TO}"),
    # Sprig
    "upper lower title": (
        '{{ upper "ab" }} {{ lower "AB" }} {{ title "hello wORLD-x" }}',
        "AB ab Hello WORLD-X",
    ),
    "trim nospace": ('[{{ trim "  a b \\n" }}] {{ nospace " a\\tb c " }}', "[a b] abc"),
    "default": (
        '{{ default "en" .Identity.metadata_public.nope }} '
        '{{ default "en" .Identity.metadata_public.lang }} {{ .Identity.traits.nope | default 0 }}',
        "en de 0",
    ),
    "cat": ('{{ cat "a" 1 .Identity.traits.nope "b" }}', "a 1 b"),
    "replace": ('{{ replace "a" "o" "banana" }}', "bonono"),
    "prefixes and suffixes": (
        '{{ trimPrefix "ab" "abc" }} {{ trimSuffix "c" "abc" }} {{ contains "b" "abc" }} '
        '{{ hasPrefix "a" "abc" }} {{ hasSuffix "x" "abc" }} {{ trimAll "-" "-a-" }}',
        "c ab true true false a",
    ),
    "repeat substr trunc abbrev": (
        '{{ repeat 3 "ab" }} {{ substr 1 3 "abcd" }} {{ trunc 2 "abcd" }} {{ trunc -2 "abcd" }} '
        '{{ abbrev 5 "abcdefgh" }}',
        "ababab bc ab cd ab...",
    ),
    "quote squote": ('{{ quote "a\\"b" 1 }} {{ squote "a" }}', '"a\\"b" "1" \'a\''),
    "join and splitList": (
        '{{ join ", " .Identity.traits.emails }} {{ index (splitList "," "a,b") 1 }}',
        "a@x, b@x b",
    ),
    "toString empty coalesce ternary": (
        '{{ toString 3 }} {{ empty "" }} {{ coalesce "" .Identity.traits.nope "c" }} '
        '{{ ternary "y" "n" false }} {{ true | ternary "y" "n" }}',
        "3 true c n y",
    ),
    "dict list hasKey get": (
        '{{ $d := dict "a" 1 "b" 2 }}{{ $d.b }} {{ index (list 1 2 3) 2 }} {{ hasKey $d "a" }} '
        '{{ get $d "z" }}.',
        "2 3 true .",
    ),
    "b64enc b64dec": ('{{ b64enc "hi" }} {{ b64dec "aGk=" }}', "aGk= hi"),
    "escapers": (
        '{{ urlquery "a b&c" }} {{ html "<a>" }} {{ js "a\'b<" }}',
        "a+b%26c &lt;a&gt; a\\'b\\u003C",
    ),
    "integer math": (
        "{{ add 1 2 3 }} {{ sub 5 7 }} {{ mul 2 3 }} {{ div -7 2 }} {{ mod -7 3 }} {{ add1 1 }} "
        "{{ max 1 5 2 }} {{ min 3 1 }} {{ .ExpiresInMinutes | add 5 }}",
        "6 -2 6 -3 -1 2 5 1 20",
    ),
    "indent nindent": ('{{ indent 2 "a\\nb" }}|{{ nindent 1 "c" }}', "  a\n  b|\n c"),
    "toJson": ("{{ toJson .Identity.traits.name }}", '{"first":"Ada","last":"Lovelace"}'),
}


@pytest.mark.parametrize(("source", "expected"), CONSTRUCTS.values(), ids=CONSTRUCTS)
def test_a_go_construct_renders_as_in_go(source: str, expected: str) -> None:
    # GIVEN a Go template override WHEN the mail is rendered THEN the part reads as Go writes it
    assert render_go(source) == expected


I18N = (
    '{{ define "en" }}Hi, your code is {{ .RecoveryCode }}.{{ end }}'
    '{{ define "de" }}Hallo, dein Code ist {{ .RecoveryCode }}.{{ end }}'
    '{{ if eq .Identity.metadata_public.lang "de" }}{{ template "de" . }}'
    '{{ else }}{{ template "en" . }}{{ end }}'
)


@pytest.mark.parametrize(
    ("identity", "expected"),
    [
        ({"metadata_public": {"lang": "de"}}, "Hallo, dein Code ist 123456."),
        ({"metadata_public": {"lang": "en"}}, "Hi, your code is 123456."),
        ({"metadata_public": {}}, "Hi, your code is 123456."),
        ({"metadata_public": None}, "Hi, your code is 123456."),
        ({"traits": {"email": TO}}, "Hi, your code is 123456."),
    ],
    ids=["de", "en", "lang absent", "metadata_public null", "no metadata_public"],
)
def test_the_i18n_pattern_picks_the_language_and_falls_back(
    identity: dict[str, Any], expected: str
) -> None:
    # GIVEN Ory's i18n pattern and an identity with (or without) a language
    data = {"to": TO, "recovery_code": "123456", "identity": identity}

    # WHEN the mail is rendered THEN its language is the identity's, English by default
    assert render_go(I18N, data) == expected
    assert render_go(I18N, data, part="html") == expected


def test_the_i18n_pattern_converts_to_readable_jinja() -> None:
    # GIVEN the i18n pattern WHEN converted THEN the defines are macros at the top
    assert convert(I18N, field=FIELD) == (
        "{% macro tmpl_en() %}Hi, your code is {{ recovery_code }}.{% endmacro %}"
        "{% macro tmpl_de() %}Hallo, dein Code ist {{ recovery_code }}.{% endmacro %}"
        '{% if identity.metadata_public.lang == "de" %}{{ tmpl_de() }}'
        "{% else %}{{ tmpl_en() }}{% endif %}"
    )


def test_a_kratos_built_in_style_template_renders_as_kratos_would() -> None:
    # GIVEN the three parts written as Kratos's built-in recovery_code/valid templates are
    override = TemplateOverride(
        subject=b64("Recover access to your account\n"),
        plaintext=b64(
            "Hi,\n\nplease recover access to your account by entering the following code:\n\n"
            "{{ .RecoveryCode }}\n"
        ),
        html=b64(
            "Hi,\n\nplease recover access to your account by entering the following code:\n\n"
            "{{ .RecoveryCode }}\n"
        ),
    )

    # WHEN rendered
    mail = render("recovery_code_valid", DATA, override=override)

    # THEN the mail reads as Kratos's
    assert mail.subject == "Recover access to your account"
    expected = (
        "Hi,\n\nplease recover access to your account by entering the following code:\n\n123456\n"
    )
    assert mail.plaintext == expected
    assert mail.html == expected


TRIMMING = {
    "both sides, newlines included": ("a \n\t {{- .RecoveryCode -}} \r\n b", "a123456b"),
    "only white space": ("x. {{- .RecoveryCode }} .y", "x.123456 .y"),
    "no marker keeps everything": ("a\n{{ .RecoveryCode }}\n", "a\n123456\n"),
    "blocks keep their lines": ("{{ if true }}\nx\n{{ end }}\n", "\nx\n\n"),
    "a trimmed comment": ("a\n  {{- /* c */ -}}\n  b", "ab"),
    "a minus without space is a number": ("{{/* go */}}a {{-3}} b", "a -3 b"),
    "trimming across else": ("{{ if false }}x{{ else -}}\n\n  y  {{- end }}", "y"),
    "all adjacent blank lines": ('a\n\n\n{{- "b" -}}\n\n\nc', "abc"),
}


@pytest.mark.parametrize(("source", "expected"), TRIMMING.values(), ids=TRIMMING)
def test_whitespace_trimming_follows_go(source: str, expected: str) -> None:
    # GIVEN {{- and -}} markers WHEN rendered THEN all adjacent white space goes, and no more
    assert render_go(source) == expected


def test_the_html_part_escapes_values() -> None:
    # GIVEN a value with markup in it
    data = {**DATA, "identity": {"traits": {"name": "<b>&"}}}
    source = (
        '{{ define "p" }}<p>{{ .Identity.traits.name }}</p>{{ end }}'
        '<div>{{ .Identity.traits.name }}</div>{{ template "p" . }}{{ html "<i>" }}'
    )

    # WHEN rendered as the HTML part and as the plaintext part
    html = render_go(source, data, part="html")
    text = render_go(source, data)

    # THEN the HTML escapes it (once: templates and html's output are not escaped again)
    assert html == "<div>&lt;b&gt;&amp;</div><p>&lt;b&gt;&amp;</p>&lt;i&gt;"
    assert text == "<div><b>&</div><p><b>&</p>&lt;i&gt;"


DATES = [
    ("2006-01-02 15:04", "2026-12-01T09:30:00Z", "2026-12-01 09:30"),
    ("Jan 2, 2006 at 3:04pm (MST)", "2026-12-01T21:05:00Z", "Dec 1, 2026 at 9:05pm (UTC)"),
    (
        "Monday, 02-Jan-06 15:04:05.000 -0700",
        "2026-12-01T09:30:00.25Z",
        "Tuesday, 01-Dec-26 09:30:00.250 +0000",
    ),
    ("January _2 2006 .999", "2026-12-01T09:30:00.5Z", "December  1 2026 .5"),
    ("2006-01-02T15:04:05Z07:00", "2026-12-01T10:30:00+01:00", "2026-12-01T09:30:00Z"),
    ("02.01.2006 (day 002)", datetime(2026, 2, 3, tzinfo=UTC), "03.02.2026 (day 034)"),
]


@pytest.mark.parametrize(("layout", "moment", "expected"), DATES)
def test_date_formats_with_go_layouts_in_utc(layout: str, moment: Any, expected: str) -> None:
    # GIVEN a notice whose time Kratos sends as RFC 3339 (or a datetime)
    data = {"to": TO, "changed_at": moment}

    # WHEN a Go layout formats it THEN the text is Go's, in UTC
    source = f'{{{{ date "{layout}" .ChangedAt }}}}'
    assert render_go(source, data, template_type="verifiable_address_changed") == expected
    piped = f'{{{{ .ChangedAt | date "{layout}" }}}}'
    assert render_go(piped, data, template_type="verifiable_address_changed") == expected


def test_a_field_kratos_does_not_send_is_missing_data_naming_it() -> None:
    # GIVEN a recovery_code_invalid mail, which has no code WHEN a template reads the code
    with pytest.raises(MessageError) as caught:
        render_go("Code: {{ .RecoveryCode }}", {"to": TO}, template_type="recovery_code_invalid")

    # THEN it is missing template data, as for a Jinja template: named, never empty
    assert (caught.value.field, caught.value.code) == (
        "template_data.recovery_code",
        "template_data_missing",
    )
    with pytest.raises(ConfigError) as checked:
        check_template_renders(
            "recovery_code_invalid", "plaintext", "{{ .RecoveryCode }}", field="f"
        )
    assert checked.value.code == "template_data_missing"


UNSUPPORTED = {
    "env": ('a\nb\n{{ env "HOME" }}', 3, "'env'"),
    "now": ("{{ .To }}\n{{ now }}", 2, "'now'"),
    "a random function": ("x\n{{ randAlpha 5 }}", 2, "'randAlpha'"),
    "call": ("{{ call .Identity.traits.email }}", 1, "'call'"),
    "regular expressions": ('{{ regexMatch "a+" .To }}', 1, "'regexMatch'"),
    "an unknown function": ("{{ frobnicate .To }}", 1, "'frobnicate'"),
    "a template defined elsewhere": ('x\n{{ template "email.body.gotmpl" . }}', 2, "not defined"),
    "the root as a value": ("{{ . }}", 1, "whole of Kratos's template data"),
    "the root as an argument": ("{{ len . }}", 1, "whole of Kratos's template data"),
    "a complex number": ("{{ .To }}{{ 1i }}", 1, "complex"),
}


@pytest.mark.parametrize(("source", "line", "named"), UNSUPPORTED.values(), ids=UNSUPPORTED)
def test_an_unsupported_construct_is_refused_naming_it_and_its_line(
    source: str, line: int, named: str
) -> None:
    # GIVEN a Go construct courier does not convert WHEN the override is rendered or checked
    for check in (lambda: render_go(source), lambda: check_template_source(source, field=FIELD)):
        with pytest.raises(ConfigError) as caught:
            check()

        # THEN it is go_template_unsupported, naming the construct and its line
        assert (caught.value.field, caught.value.code) == (FIELD, "go_template_unsupported")
        assert caught.value.message.startswith(f"line {line}: ")
        assert named in caught.value.message


SYNTAX = {
    "an unclosed action": ("a\n{{ .To ", 2, "unclosed action"),
    "a missing end": ("{{ if .To }}x", 1, "unexpected EOF"),
    "an end too many": ("x{{ end }}", 1, "unexpected {{end}}"),
    "an else outside a block": ("\n{{ else }}", 2, "unexpected {{else}}"),
    "an undefined variable": ("\n\n{{ $x }}", 3, "undefined variable $x"),
    "a field Kratos does not send": ("{{ .Nope }}", 1, ".Nope is not a field"),
    "a JSON name for a Go field": ("{{ .recovery_code }}", 1, "its Go name is .RecoveryCode"),
    "break outside range": ("{{ break }}", 1, "outside {{range}}"),
    "a function without its argument": ("{{ upper }}", 1, "wrong number of arguments for upper"),
    "arguments to a field": ("{{ .To .To }}", 1, ".To is not a function"),
    "an unterminated string": ('{{ "abc }}', 1, "unterminated quoted string"),
    "define inside a block": ('{{ if true }}{{ define "x" }}{{ end }}{{ end }}', 1, "top level"),
    "an unclosed comment": ("{{/* oops", 1, "unclosed comment"),
    "a bad number": ("{{ 3abc }}", 1, "bad number syntax"),
    "an unclosed parenthesis": ("{{ (upper .To }}", 1, "unclosed left paren"),
    "an empty action": ("{{ }}", 1, "missing value for command"),
    "a template defined twice": (
        '{{ define "a" }}1{{ end }}{{ define "a" }}2{{ end }}',
        1,
        "defined twice",
    ),
}


@pytest.mark.parametrize(("source", "line", "named"), SYNTAX.values(), ids=SYNTAX)
def test_a_go_syntax_error_is_refused_with_its_line(source: str, line: int, named: str) -> None:
    # GIVEN a Go template that Go itself would refuse WHEN it is converted
    with pytest.raises(ConfigError) as caught:
        convert(source, field=FIELD)

    # THEN it is go_template_syntax, with the line and what is wrong
    assert (caught.value.field, caught.value.code) == (FIELD, "go_template_syntax")
    assert caught.value.message.startswith(f"line {line}: ")
    assert named in caught.value.message


def test_checking_a_go_template_reports_go_errors() -> None:
    # GIVEN a broken Go override WHEN the validator checks it THEN the error is Go's
    with pytest.raises(ConfigError) as caught:
        check_template_source("Hi {{ .To }}\n{{ if .To }}", field=FIELD)
    assert (caught.value.code, caught.value.message[:7]) == ("go_template_syntax", "line 2:")


def test_an_error_never_echoes_long_user_text() -> None:
    # GIVEN an unknown function with a very long name WHEN checked
    with pytest.raises(ConfigError) as caught:
        check_template_source("{{ " + "a" * 5000 + " .To }}", field=FIELD)

    # THEN the message names it shortly
    assert len(caught.value.message) < 200
    assert "a" * 100 not in caught.value.message


BOMBS = {
    "nested ranges": (
        "{{ range 100000 }}{{ range 100000 }}{{ end }}{{ end }}",
        ("MAX_STEPS", "MAX_CPU_SECONDS"),
    ),
    "repeat": ('{{ repeat 1000000000 "x" }}', ("MAX_VALUE_SIZE",)),
    "a printf width": ('{{ printf "%999999999d" 1 }}', ("MAX_VALUE_SIZE",)),
    "indent": ('{{ indent 1000000000 "x" }}', ("MAX_VALUE_SIZE",)),
    "replace": (
        '{{ $s := repeat 50000 "a" }}{{ replace "a" "aaaaaaaa" $s }}',
        ("MAX_VALUE_SIZE",),
    ),
    "doubling": (
        '{{ $s := "xx" }}{{ range 64 }}{{ $s = print $s $s }}{{ end }}',
        ("MAX_VALUE_SIZE",),
    ),
    "recursion": (
        '{{ define "r" }}{{ template "r" . }}{{ end }}{{ template "r" . }}',
        ("MAX_DEPTH",),
    ),
    "a long output": (
        '{{ range 1000 }}{{ repeat 90000 "x" }}{{ end }}',
        ("MAX_OUTPUT", "MAX_PRODUCED"),
    ),
    "integer growth": (
        "{{ $n := 2 }}{{ range 100 }}{{ $n = mul $n $n }}{{ end }}{{ $n }}",
        (),
    ),
}


@pytest.mark.parametrize(("source", "bounds"), BOMBS.values(), ids=BOMBS)
def test_the_sandbox_bounds_hold_for_converted_templates(
    source: str, bounds: tuple[str, ...]
) -> None:
    if not bounds:  # Go's int64 wraps: the number stays small, as in Kratos
        assert render_go(source) == "0"
        return
    # GIVEN a Go template that would exhaust the sender WHEN rendered THEN it is template_limit
    with pytest.raises(MessageError) as caught:
        render_go(source)
    assert caught.value.code == "template_limit"
    assert any(bound in caught.value.message for bound in bounds)

    # AND the validator's check refuses it the same way
    with pytest.raises(ConfigError) as checked:
        check_template_renders("recovery_code_valid", "plaintext", source, field=FIELD)
    assert checked.value.code == "template_limit"


def test_a_render_error_names_the_line_of_the_converted_jinja() -> None:
    # GIVEN an index out of range WHEN rendered
    with pytest.raises(MessageError) as caught:
        render_go("{{ index .Identity.traits.emails 5 }}")

    # THEN it is a render error, whose line is in the Jinja the validator shows
    assert caught.value.code == "template_render_error"
    assert "at line 1 of its Jinja conversion" in caught.value.message
    assert "index out of range: 5" in caught.value.message


JINJA = [
    "Code: {{ recovery_code }}",
    "{{ to | upper }}",
    "{{- recovery_code -}}",
    "{{ title }} {{ date }} {{ list }}",
    "{{ not recovery_code }}",
    "{{ range(3) | list }}",
    "{% if x %}{{ .5 }}{% endif %}",
    "{# a comment #}{{ .RecoveryCode }}",
    "{{ recovery_code ~ '.' }}",
    "plain text, no actions",
]


@pytest.mark.parametrize("source", JINJA)
def test_jinja_is_never_taken_for_go(source: str) -> None:
    assert not is_go_template(source)


def test_the_built_in_templates_are_jinja() -> None:
    paths = sorted((TEMPLATE_DIR / "builtin").rglob("*.j2"))
    assert len(paths) == 36
    for path in paths:
        assert not is_go_template(path.read_text(encoding="utf-8")), path


GO = [
    "{{ .RecoveryCode }}",
    "{{- .To -}}",
    "{{$x := 1}}",
    "{{/* c */}}",
    "{{ if eq .X 1 }}{{ end }}",
    "{{ end }}",
    '{{ template "en" . }}',
    '{{ printf "%s" "x" }}',
    "{{ upper `x` }}",
    "{{ add1 3 }}",
]


@pytest.mark.parametrize("source", GO)
def test_go_is_recognised(source: str) -> None:
    assert is_go_template(source)


_NAMES = st.sampled_from(sorted({f for fields in TEMPLATE_FIELDS.values() for f in fields}))
_FILTERS = st.sampled_from(["upper", "lower", "title", "trim", "e", "length", "default('x')"])


@given(name=_NAMES, filters=st.lists(_FILTERS, max_size=3), text=st.text(max_size=20))
def test_jinja_expressions_of_kratos_fields_stay_jinja(
    name: str, filters: list[str], text: str
) -> None:
    # GIVEN a Jinja expression of any Kratos field, with filters, in any text
    expression = " | ".join([name, *filters])
    source = text.replace("{", "") + "{{ " + expression + " }}"

    # THEN it is Jinja
    assert not is_go_template(source)


def test_converted_source_shows_the_jinja_of_a_go_override_only() -> None:
    # GIVEN a Go and a Jinja override WHEN the validator asks for their conversions
    go = converted_source(b64("Hi {{ .To | upper }}"), field=FIELD)
    jinja = converted_source(b64("Hi {{ to | upper }}"), field=FIELD)

    # THEN the Go one shows its Jinja; the Jinja one has none
    assert go == "Hi {{ to | upper }}"
    assert jinja is None
    with pytest.raises(ConfigError) as caught:
        converted_source(b64('{{ env "X" }}'), field=FIELD)
    assert caught.value.code == "go_template_unsupported"


def test_jinja_delimiters_in_go_text_stay_text() -> None:
    # GIVEN Go text with braces that Jinja would read as its own
    assert render_go("a{ {{- .RecoveryCode }} #}") == "a{123456 #}"


def test_jinja_tags_in_go_text_are_text_once_converted() -> None:
    # GIVEN Go text holding what Jinja reads as tags (convert takes any source as Go)
    converted = convert("{% raw %}{#{{ .To }}#}{", field=FIELD)

    # WHEN the conversion renders THEN the text is printed as it is
    sandbox = GoTemplateSandbox()
    assert sandbox.from_string(converted).render(to=TO) == "{% raw %}{#" + TO + "#}{"


def test_a_define_never_called_is_converted_with_what_it_calls() -> None:
    # GIVEN defines that nothing calls WHEN converted THEN each macro it calls is there too
    converted = convert(
        '{{ define "a" }}{{ template "b" .x }}{{ end }}{{ define "b" }}B{{ end }}', field=FIELD
    )
    assert converted == (
        "{% macro tmpl_a_dot(dot) %}{{ tmpl_b_dot(dot.x) }}{% endmacro %}"
        "{% macro tmpl_b_dot(dot) %}B{% endmacro %}"
    )
