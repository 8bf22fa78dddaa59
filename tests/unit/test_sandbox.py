"""The template sandbox: every render is bounded, whatever a template tries.

Each poison template below was found to exhaust memory or CPU before the bounds were a
mechanism; each must now fail with one cause (``TemplateLimitError``, naming the bound) within
1 s of CPU and 32 MB of extra memory.
"""

from __future__ import annotations

import time
import tracemalloc

import pytest
from jinja2 import StrictUndefined

from courier.sandbox import (
    MAX_OUTPUT,
    MAX_VALUE_SIZE,
    TemplateLimitError,
    TemplateSandbox,
    render_bounded,
    render_budget,
)

SANDBOX = TemplateSandbox(undefined=StrictUndefined, autoescape=False)
CPU_LIMIT_SECONDS = 1.0
MEMORY_LIMIT_BYTES = 32 * 1024 * 1024


def render(source: str) -> str:
    with render_budget():
        return render_bounded(SANDBOX.from_string(source), {"code": "482913", "text": "a\nb"})


GROWTH_IN_ONE_STEP = [
    "{{ 'x' * 10000000000 }}",
    "{{ [0] * 1000000 }}",
    "{{ ['x' * 99999] * 100000 }}",
    "{{ 2 ** 100000 }}",
    "{{ 9 ** (9 ** 9) }}",
    "{{ [[]] * 1000000000 }}",
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
    "{{ '{:{}}'.format('x', '999999999') }}",
    "{{ '{x:>{w}}'.format_map({'x': 1, 'w': 999999999}) }}",
    "{{ '{x:>{w}}'.format_map({'x': 1, 'w': '999999999'}) }}",
    "{{ range(100000)|join('x' * 99999) }}",
    "{{ range(100000)|map('string')|join('x' * 99999) }}",
    "{{ ('x' * 99999).join(range(100000)|map('string')) }}",
    "{{ ('x' * 99999).join(range(100000)|map('string')|list) }}",
    "{{ range(10)|batch(1000000000, 'x')|list }}",
]


@pytest.mark.parametrize("source", GROWTH_IN_ONE_STEP)
def test_a_value_that_would_grow_past_the_bound_is_refused_before_it_is_built(
    source: str,
) -> None:
    with pytest.raises(TemplateLimitError) as caught:
        render(source)

    assert caught.value.bound in {"MAX_VALUE_SIZE", "MAX_INT_BITS"}
    assert len(str(caught.value)) < 200


# The growth paths a list of known tricks missed: each doubles a value step by step, or burns
# CPU without building anything.
POISON = {
    "doubling with ~ through namespace": (
        "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
        "{% endfor %}{{ ns.s|length }}",
        "MAX_VALUE_SIZE",
    ),
    "doubling with + through namespace": (
        "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}"
        "{% endfor %}{{ ns.s|length }}",
        "MAX_VALUE_SIZE",
    ),
    "doubling a list": (
        "{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}"
        "{% endfor %}{{ ns.l|length }}",
        "MAX_VALUE_SIZE",
    ),
    "doubling through a recursive macro": (
        "{% macro d(s, n) %}{% if n %}{{ d(s ~ s, n - 1) }}{% else %}{{ s|length }}{% endif %}"
        "{% endmacro %}{{ d('x', 30) }}",
        "MAX_VALUE_SIZE",
    ),
    "a macro recursing without end": (
        "{% macro r(n) %}{{ r(n + 1) }}{% endmacro %}{{ r(0) }}",
        "MAX_DEPTH",
    ),
    "a block doubling itself": (
        "{% set ns = namespace(s='xx') %}{% for i in range(64) %}{% set block %}{{ ns.s }}"
        "{{ ns.s }}{% endset %}{% set ns.s = block %}{% endfor %}",
        "MAX_VALUE_SIZE",
    ),
    "squaring an integer": (
        "{% set ns = namespace(n=3) %}{% for i in range(64) %}{% set ns.n = ns.n * ns.n %}"
        "{% endfor %}{{ ns.n }}",
        "MAX_INT_BITS",
    ),
    "a huge integer power": ("{{ 10 ** 100000 }}", "MAX_INT_BITS"),
    "nested loops that print nothing": (
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "MAX_STEPS or MAX_CPU_SECONDS",  # whichever comes first on the machine
    ),
    "nested loops that print": (
        "{% for i in range(100000) %}{% for j in range(100000) %}{{ 'x' * 100 }}{% endfor %}"
        "{% endfor %}",
        "MAX_OUTPUT",
    ),
    "garbage built in a loop": (
        "{% for i in range(100000) %}{% set s = ('x' * 99990) ~ i %}{% endfor %}",
        "MAX_PRODUCED",
    ),
    "a filter chain over a large list": (
        "{% for i in range(100000) %}{{ range(100000)|list|sort|length }}{% endfor %}",
        "MAX_CPU_SECONDS",
    ),
}


@pytest.mark.parametrize(("source", "bound"), POISON.values(), ids=POISON)
def test_a_poison_template_fails_on_its_bound_within_1s_of_cpu(source: str, bound: str) -> None:
    # GIVEN a template that would exhaust memory or CPU
    template = SANDBOX.from_string(source)

    # WHEN it is rendered
    started = time.thread_time()
    with pytest.raises(TemplateLimitError) as caught, render_budget():
        render_bounded(template, {})
    cpu = time.thread_time() - started

    # THEN it stops at the bound it went over, early enough
    assert caught.value.bound in bound.split(" or ")
    assert caught.value.bound in str(caught.value)
    assert cpu < CPU_LIMIT_SECONDS


@pytest.mark.parametrize(("source", "bound"), POISON.values(), ids=POISON)
def test_a_poison_template_fails_within_32mb_of_extra_memory(source: str, bound: str) -> None:
    # GIVEN a template that would exhaust memory or CPU
    template = SANDBOX.from_string(source)

    # WHEN it is rendered with every allocation traced (which slows it: the CPU bound may then
    # come first)
    tracemalloc.start()
    try:
        with pytest.raises(TemplateLimitError), render_budget():
            render_bounded(template, {})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # THEN it never held more than 32 MB on the way
    assert peak < MEMORY_LIMIT_BYTES


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


def test_the_bounds_are_large_enough_for_any_mail() -> None:
    assert MAX_VALUE_SIZE >= 100_000
    assert len(render("{{ 'x' * 99999 }}")) == 99_999
    assert render("{{ '{}'.format(482913) }} {{ 'Order 123456: %s' % code }}") == (
        "482913 Order 123456: 482913"
    )
    assert render("{% for i in range(1000) %}{{ i }}{% endfor %}").endswith("999")


def test_lipsum_is_not_available() -> None:
    with pytest.raises(Exception, match="lipsum"):
        render("{{ lipsum(1000000) }}")


def test_the_output_of_a_part_is_bounded() -> None:
    # GIVEN a loop whose output passes the bound, each chunk small
    template = SANDBOX.from_string("{% for i in range(2000) %}{{ 'x' * 999 }}{% endfor %}")

    # WHEN it is rendered THEN it stops once the output passes the bound
    with pytest.raises(TemplateLimitError, match="MAX_OUTPUT"), render_budget():
        render_bounded(template, {})
    assert len(render("{{ 'x' * 99999 }}")) < MAX_OUTPUT


def test_the_budget_is_shared_by_the_parts_of_one_mail() -> None:
    # GIVEN three parts that each build 1.5 M characters (under the per-render total of 4 M
    # only one at a time)
    source = "{% for i in range(15) %}{% set s = 'x' * 99999 %}{% endfor %}"
    template = SANDBOX.from_string(source)

    # WHEN they are rendered under one budget THEN the third goes over it
    with render_budget():
        render_bounded(template, {})
        render_bounded(template, {})
        with pytest.raises(TemplateLimitError, match="MAX_PRODUCED"):
            render_bounded(template, {})


def test_a_render_outside_a_budget_gets_one_of_its_own() -> None:
    # GIVEN nested loops, rendered without an enclosing render_budget()
    template = SANDBOX.from_string(
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    )

    # WHEN it is rendered THEN the loops still run into the budget
    with pytest.raises(TemplateLimitError, match=r"MAX_STEPS|MAX_CPU_SECONDS"):
        render_bounded(template, {})
