"""Property tests of the template sandbox: random templates built from what can grow or loop.

A template override is a project's code running in the sender. Whatever it is, rendering it
ends with the mail or with one of courier's typed errors (``MessageError``/``ConfigError``),
within the 2 s deadline per example, and a rendered part is never longer than the bound.
"""

from __future__ import annotations

import base64

from hypothesis import given, settings
from hypothesis import strategies as st

from courier.errors import ConfigError, MessageError
from courier.sandbox import MAX_OUTPUT
from courier.templates import SAMPLE_DATA, TemplateOverride, render

# A third of the profile's examples: some of these run into the CPU bound (0.5 s each).
EXAMPLES = max(settings().max_examples // 3, 10)
TYPE = "recovery_code_valid"

BIG = st.sampled_from([0, 1, 2, 3, 7, 64, 99_999, 100_000, 100_001, 10**6, 10**9, 10**10])
SMALL = st.integers(-3, 40)
NUMBER = st.one_of(BIG, SMALL).map(str)
TEXT = st.sampled_from(["'x'", "'ab'", "''", "'{:{}}'", "'%0*d'", "'\\t'", "'a\\nb'", "to"])
NAMES = st.sampled_from(["recovery_code", "to", "identity.traits.email", "ns.s", "ns.n"])

LEAF = st.one_of(NUMBER, TEXT, NAMES, st.just("[1, 'x']"), st.just("range(10)"))


def _binary(parts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    operator = st.sampled_from(["+", "-", "*", "**", "%", "//", "~"])
    return st.builds(lambda a, op, b: f"({a} {op} {b})", parts, operator, parts)


def _filtered(parts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    filters = st.sampled_from(
        [
            "center({n})",
            "indent({n})",
            "wordwrap({n})",
            "replace('x', 'xx' * {n})",
            "join('x' * {n})",
            "batch({n}, 'x')|list",
            "format({n}, 1)",
            "string",
            "list",
            "length",
            "sort",
            "sum",
            "int",
            "upper",
            "truncate({n})",
            "map('string')|list",
        ]
    )
    return st.builds(lambda a, f, n: f"({a})|{f.format(n=n)}", parts, filters, NUMBER)


def _method(parts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    methods = st.sampled_from(
        ["center({n})", "ljust({n})", "zfill({n})", "expandtabs({n})", "format({n}, {n})"]
    )
    return st.builds(lambda a, m, n: f"({a}).{m.format(n=n)}", parts, methods, NUMBER)


EXPRESSION = st.recursive(
    LEAF, lambda parts: st.one_of(_binary(parts), _filtered(parts), _method(parts)), max_leaves=6
)


def _loop(body: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.builds(
        lambda n, inner: f"{{% for i in range({n}) %}}{inner}{{% endfor %}}", BIG.map(str), body
    )


STATEMENT = st.recursive(
    st.one_of(
        EXPRESSION.map(lambda e: f"{{{{ {e} }}}}"),
        st.just("{% set ns.s = ns.s ~ ns.s %}"),
        st.just("{% set ns.n = ns.n * ns.n %}"),
        st.just("{{ d(ns.s, 40) }}"),
        st.just("{{ r(0) }}"),
    ),
    lambda inner: st.one_of(_loop(inner), st.lists(inner, max_size=3).map("".join)),
    max_leaves=5,
)
PRELUDE = (
    "{% set ns = namespace(s='x', n=3) %}"
    "{% macro d(s, n) %}{% if n > 0 %}{{ d(s ~ s, n - 1) }}{% else %}{{ s|length }}{% endif %}"
    "{% endmacro %}"
    "{% macro r(n) %}{{ r(n + 1) }}{% endmacro %}"
)


@settings(max_examples=EXAMPLES)
@given(body=STATEMENT)
def test_any_template_ends_with_the_mail_or_a_typed_error(body: str) -> None:
    # GIVEN a template override built from what can grow, nest and loop
    source = PRELUDE + body
    override = TemplateOverride(plaintext="base64://" + base64.b64encode(source.encode()).decode())

    # WHEN it is rendered as the sender would
    try:
        mail = render(TYPE, SAMPLE_DATA[TYPE], override=override)
    except (MessageError, ConfigError):
        return  # THEN it failed with courier's own error (the deadline bounds how long it took)

    # THEN (when it rendered) within the bound
    assert len(mail.plaintext) <= MAX_OUTPUT
