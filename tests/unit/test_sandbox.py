"""The template sandbox: values may not grow past a bound, however the template tries."""

from __future__ import annotations

import pytest
from jinja2 import StrictUndefined

from courier.sandbox import MAX_LENGTH, MAX_RENDERED, TemplateSandbox, render_bounded

SANDBOX = TemplateSandbox(undefined=StrictUndefined, autoescape=False)


def render(source: str) -> str:
    return SANDBOX.from_string(source).render(code="482913", text="a\nb")


@pytest.mark.parametrize(
    "source",
    [
        "{{ 'x' * 10000000000 }}",
        "{{ [0] * 1000000 }}",
        "{{ 2 ** 100000 }}",
        "{{ 'x'|center(1000000000) }}",
        "{{ 'x'.center(1000000000) }}",
        "{{ 'x'.ljust(10 ** 9) }}",
        "{{ 'x'.zfill(999999999) }}",
        "{{ '\t'.expandtabs(999999999) }}",
        "{{ text|indent(999999999) }}",
        "{{ ('a' * 1000)|replace('a', 'a' * 1000) }}",
        "{{ ('a' * 1000).replace('a', 'a' * 1000) }}",
        "{{ '%0999999999d' % 1 }}",
        "{{ '%0*d' % (999999999, 1) }}",
        "{{ '%0999999999d'|format(1) }}",
        "{{ '{:>999999999}'.format(1) }}",
        "{{ '{:>{w}}'.format(1, w=999999999) }}",
        "{{ '{x:>{w}}'.format_map({'x': 1, 'w': 999999999}) }}",
        "{{ range(100000)|join('x' * 99999) }}",
        "{{ ('x' * 99999).join(range(100000)|map('string')|list) }}",
    ],
)
def test_a_value_that_would_grow_past_the_bound_is_refused_before_it_is_built(
    source: str,
) -> None:
    with pytest.raises(Exception, match=r"would build|exponent") as caught:
        render(source)

    assert type(caught.value).__name__ == "SecurityError"
    assert len(str(caught.value)) < 200


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ '-' * 20 }}", "-" * 20),
        ("{{ code|center(10) }}", "  482913  "),
        ("{{ code.rjust(8, '0') }}", "00482913"),
        ("{{ 'a-b'|replace('-', ' / ') }}", "a / b"),
        ("{{ '%05d'|format(42) }}", "00042"),
        ("{{ '%s:%s' % (code, 2) }}", "482913:2"),
        ("{{ '{:>8}'.format(code) }}", "  482913"),
        ("{{ text|indent(2, true) }}", "  a\n  b"),
        ("{{ 2 ** 10 }}", "1024"),
        ("{{ ['a', 'b']|join(', ') }}", "a, b"),
        ("{{ ', '.join(['a', 'b']) }}", "a, b"),
    ],
)
def test_ordinary_formatting_still_works(source: str, expected: str) -> None:
    assert render(source) == expected


def test_the_bound_is_large_enough_for_any_mail() -> None:
    assert MAX_LENGTH >= 100_000
    assert len(render("{{ 'x' * 99999 }}")) == 99_999


def test_lipsum_is_not_available() -> None:
    with pytest.raises(Exception, match="lipsum"):
        render("{{ lipsum(1000000) }}")


def test_output_that_loops_build_past_the_bound_is_refused_while_rendering() -> None:
    # GIVEN nested loops, each value small, the output 10^10 characters
    template = SANDBOX.from_string(
        "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"
    )

    # WHEN it is rendered THEN it stops once the output passes the bound
    with pytest.raises(Exception, match="longer than") as caught:
        render_bounded(template, {})
    assert type(caught.value).__name__ == "SecurityError"
    assert len(render_bounded(SANDBOX.from_string("{{ 'x' * 99999 }}"), {})) < MAX_RENDERED
