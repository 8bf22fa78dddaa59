"""The Jinja2 sandbox templates render in: no Python internals, and hard bounds on every render.

Jinja2's sandbox keeps a template away from Python's internals, but not from memory or CPU: a
project's template override shares its batch (and its invocation's 256 MB) with other
projects' messages. :class:`TemplateSandbox` bounds every render by mechanism, not by a list of
known tricks:

* **Every value the sandbox produces** (from an operator, a ``~`` concatenation, a filter, a
  call, a block) is checked against :data:`MAX_VALUE_SIZE`, counting what a list or dict holds,
  and integers against :data:`MAX_INT_BITS`; operations that would build a large value in one
  step (repetition, powers, padding, format widths, ``replace``, ``join``, ``batch``) are
  refused before they run.
* **A render's budget** (:class:`RenderBudget`, shared by the parts of one mail): at most
  :data:`MAX_STEPS` loop iterations, calls and filter calls, :data:`MAX_PRODUCED` characters
  built in all, :data:`MAX_DEPTH` nested calls (macros recursing) and
  :data:`MAX_CPU_SECONDS` of CPU time; each rendered part at most :data:`MAX_OUTPUT`
  characters.

Loops are counted through the code generator (every ``{% for %}`` iterates through
:meth:`TemplateSandbox.tick_iter`), calls through the sandbox's ``call`` hook, filters through a
wrapper on each, operators through ``call_binop``. Going over a bound raises
:class:`TemplateLimitError`, which names the bound; the renderer reports it as
``template_limit``.

Example
-------
>>> sandbox = TemplateSandbox()
>>> with render_budget():
...     render_bounded(sandbox.from_string("{{ 'ab' * 3 }}"), {})
'ababab'
>>> with render_budget():
...     render_bounded(sandbox.from_string("{% macro r(n) %}{{ r(n + 1) }}{% endmacro %}"
...                                        "{{ r(0) }}"), {})
Traceback (most recent call last):
...
courier.sandbox.TemplateLimitError: the template nests more than 32 calls (MAX_DEPTH)
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sized
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from string import Formatter
from typing import Any

from jinja2 import Template, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

__all__ = [
    "MAX_CPU_SECONDS",
    "MAX_DEPTH",
    "MAX_INT_BITS",
    "MAX_OUTPUT",
    "MAX_PRODUCED",
    "MAX_STEPS",
    "MAX_VALUE_SIZE",
    "RenderBudget",
    "TemplateLimitError",
    "TemplateSandbox",
    "render_bounded",
    "render_budget",
]

MAX_VALUE_SIZE = 100_000
"""Characters (or items, counting what lists and dicts hold) one value of a template may hold."""
MAX_INT_BITS = 4_096
"""Bits one integer of a template may have (about 1,200 decimal digits)."""
MAX_OUTPUT = 1_000_000
"""Characters one rendered part may have."""
MAX_PRODUCED = 4_000_000
"""Characters a render may build in all, garbage included (what bounds its memory)."""
MAX_STEPS = 1_000_000
"""Loop iterations, calls and filter calls a render may make."""
MAX_DEPTH = 32
"""Calls a render may nest (a macro calling itself, ...)."""
MAX_CPU_SECONDS = 0.5
"""CPU time a render may take."""

_PADDING = frozenset({"center", "ljust", "rjust", "zfill", "indent", "expandtabs", "wordwrap"})
_PRINTF_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")
_COUNTED = frozenset({"batch", "slice"})
"""Filters whose count argument sets how much they build."""
_NUMBERS = re.compile(r"\d+")


class TemplateLimitError(SecurityError):
    """A render went over one of the bounds; :attr:`bound` names it (``MAX_STEPS``, ...)."""

    def __init__(self, bound: str, message: str) -> None:
        super().__init__(f"{message} ({bound})")
        self.bound = bound


@dataclass
class RenderBudget:
    """What one render (the parts of one mail) may still spend."""

    steps: int = 0
    produced: int = 0
    depth: int = 0
    cpu_deadline: float = field(default_factory=lambda: time.thread_time() + MAX_CPU_SECONDS)

    def step(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise TemplateLimitError(
                "MAX_STEPS",
                f"the template took more than {MAX_STEPS} steps (loop iterations, calls and "
                "filters)",
            )
        if time.thread_time() > self.cpu_deadline:
            raise TemplateLimitError(
                "MAX_CPU_SECONDS", f"the template ran for more than {MAX_CPU_SECONDS}s of CPU"
            )

    def add(self, size: int) -> None:
        self.produced += size
        if self.produced > MAX_PRODUCED:
            raise TemplateLimitError(
                "MAX_PRODUCED", f"the template built more than {MAX_PRODUCED} characters in all"
            )


_BUDGET: ContextVar[RenderBudget | None] = ContextVar("courier_render_budget", default=None)


@contextmanager
def render_budget() -> Iterator[RenderBudget]:
    """One budget for everything rendered inside the ``with`` (the parts of one mail)."""
    token = _BUDGET.set(RenderBudget())
    try:
        yield _budget()
    finally:
        _BUDGET.reset(token)


def _budget() -> RenderBudget:
    budget = _BUDGET.get()
    # Outside render_budget() (compiling, constant folding) a fresh budget still bounds the work.
    return budget if budget is not None else RenderBudget()


def render_bounded(template: Template, context: Mapping[str, Any]) -> str:
    """Render ``template`` within the current :func:`render_budget` and :data:`MAX_OUTPUT`.

    Outside a :func:`render_budget`, the render gets one of its own.

    Raises
    ------
    TemplateLimitError
        A bound was reached.
    """
    if _BUDGET.get() is None:
        with render_budget():
            return render_bounded(template, context)
    parts: list[str] = []
    length = 0
    for chunk in template.generate(context):
        length += len(chunk)
        if length > MAX_OUTPUT:
            raise TemplateLimitError(
                "MAX_OUTPUT", f"the output is longer than {MAX_OUTPUT} characters"
            )
        parts.append(chunk)
    return "".join(parts)


class _BudgetedCodeGenerator(CodeGenerator):
    """Jinja's code generator, with every loop and every ``~`` going through the budget."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._loop_iterables: set[int] = set()

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        self._loop_iterables.add(id(node.iter))
        super().visit_For(node, frame)

    def visit(self, node: nodes.Node, *args: Any, **kwargs: Any) -> Any:
        if id(node) not in self._loop_iterables:
            return super().visit(node, *args, **kwargs)
        # A loop's iterable: the loop iterates through the budget, one step an item.
        self.write("environment.tick_iter(")
        result = super().visit(node, *args, **kwargs)
        self.write(")")
        return result

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.checked(")
        super().visit_Concat(node, frame)
        self.write(")")


class TemplateSandbox(ImmutableSandboxedEnvironment):
    """Jinja2's immutable sandbox, stricter on private names, with every render bounded.

    Jinja's sandbox refuses only private attributes that exist; refusing the rest too reports a
    probe such as ``range.__self__`` as unsafe rather than as missing template data. A data key
    that starts with ``_`` is still reachable as ``value['_key']``.
    """

    code_generator_class = _BudgetedCodeGenerator
    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.filters = {name: _budgeted_filter(name, f) for name, f in self.filters.items()}
        # lipsum(n) writes n paragraphs of filler text: no use in a mail, and unbounded.
        del self.globals["lipsum"]

    def add_filters(self, filters: Mapping[str, Callable[..., Any]]) -> None:
        """Register ``filters``, each bounded as the built-in ones are: one step of the budget a
        call, growth refused before it is built, the result checked."""
        self.filters.update({name: _budgeted_filter(name, f) for name, f in filters.items()})

    def getattr(self, obj: Any, attribute: str) -> Any:
        if attribute.startswith("_"):
            return self.unsafe_undefined(obj, attribute)
        return super().getattr(obj, attribute)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _budget().step()
        _check_operands(operator, left, right)
        return self.checked(super().call_binop(context, operator, left, right))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        # Jinja routes str.format and str.format_map through its own formatter: check first.
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        template = value.__self__
        mapping = value.__name__ == "format_map"

        def checked(*args: Any, **kwargs: Any) -> str:
            fields = args[0] if mapping and args and isinstance(args[0], Mapping) else kwargs
            _check_str_format(template, () if mapping else args, fields)
            return wrapped(*args, **kwargs)

        return checked

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        budget = _budget()
        budget.step()
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            name = getattr(__obj, "__name__", "")
            if name == "join" and args:  # its size can only be told from a list
                args = (_materialized(args[0]), *args[1:])
            _check_growth(name, owner, args, kwargs)
        budget.depth += 1
        try:
            if budget.depth > MAX_DEPTH:
                raise TemplateLimitError(
                    "MAX_DEPTH", f"the template nests more than {MAX_DEPTH} calls"
                )
            return __self.checked(super().call(__context, __obj, *args, **kwargs))
        finally:
            budget.depth -= 1

    @staticmethod
    def concat(parts: Iterable[str]) -> str:
        """Join a block's output (``{% set %}`` blocks, macro bodies) and check its size."""
        joined = "".join(parts)
        TemplateSandbox.checked(joined)
        return joined

    @staticmethod
    def checked(value: Any) -> Any:
        """``value``, once it is within the bounds; counted into the render's budget."""
        size = _size(value)
        if size > MAX_VALUE_SIZE:
            raise TemplateLimitError(
                "MAX_VALUE_SIZE",
                f"the template built a value of more than {MAX_VALUE_SIZE} characters or items",
            )
        if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
            raise TemplateLimitError(
                "MAX_INT_BITS", f"the template built an integer of more than {MAX_INT_BITS} bits"
            )
        _budget().add(size)
        if isinstance(value, Iterator):
            return _ticking(value)
        return value

    @staticmethod
    def tick_iter(iterable: Any) -> Any:
        """What a ``{% for %}`` loop iterates: one step per item."""
        return _ticking(iter(iterable))


def _ticking(iterator: Iterator[Any]) -> Iterator[Any]:
    budget = _budget()
    for item in iterator:
        budget.step()
        yield item


def _budgeted_filter(name: str, filter_: Callable[..., Any]) -> Callable[..., Any]:
    """``filter_``, as one step of the budget, checked before it runs and on what it returns."""
    # Filters marked with pass_context & co. get the context first: the value comes after it.
    skip = 1 if hasattr(filter_, "jinja_pass_arg") else 0

    @functools.wraps(filter_)
    def budgeted(*args: Any, **kwargs: Any) -> Any:
        _budget().step()
        value, *rest = args[skip:]
        if name == "join":  # value|join(separator): the separator is the string that repeats
            value = _materialized(value)
            args = (*args[:skip], value, *rest)
            separator = rest[0] if rest else kwargs.get("d", "")
            if isinstance(separator, str):
                _check_growth("join", separator, (value,), {})
        elif name in _COUNTED:
            counts = [v for v in (*rest, *kwargs.values()) if isinstance(v, int)]
            _check_length(max(counts, default=0), f"{name}()")
        elif isinstance(value, str):
            _check_growth(name, value, tuple(rest), kwargs)
        return TemplateSandbox.checked(filter_(*args, **kwargs))

    return budgeted


def _materialized(items: Any) -> Any:
    """``items`` as a list if it is an iterator or generator (each item one step), so that what
    a ``join`` of it would build can be told before it is built."""
    if isinstance(items, Sized) or not isinstance(items, Iterable):
        return items
    return list(_ticking(iter(items)))


def _check_operands(operator: str, left: Any, right: Any) -> None:
    """Refuse an operation that would build an oversized value in one step."""
    both_ints = isinstance(left, int) and isinstance(right, int)
    if operator == "**" and both_ints and right > 0 and left.bit_length() * right > MAX_INT_BITS:
        raise TemplateLimitError(
            "MAX_INT_BITS",
            f"a power would build an integer of more than {MAX_INT_BITS} bits",
        )
    if operator == "*":
        if both_ints and left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise TemplateLimitError(
                "MAX_INT_BITS",
                f"a product would build an integer of more than {MAX_INT_BITS} bits",
            )
        for sequence, count in ((left, right), (right, left)):
            if isinstance(sequence, str | list | tuple) and isinstance(count, int):
                _check_length(_size(sequence) * count, "repeating a value")
    if operator == "%" and isinstance(left, str):
        _check_printf(left, right if isinstance(right, tuple) else (right,))


def _check_growth(name: str, value: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Refuse ``value.<name>(*args, **kwargs)`` (or the filter of that name) if it would build a
    string longer than :data:`MAX_VALUE_SIZE`."""
    numbers = [v for v in (*args, *kwargs.values()) if isinstance(v, int)]
    if name in _PADDING:
        lines = value.count("\n") + value.count("\t") + 1
        _check_length(len(value) + lines * max(numbers, default=0), f"{name}()")
    elif name == "replace" and len(args) >= 2 and isinstance(args[0], str):
        old, new = args[0], str(args[1])
        matches = value.count(old) if old else len(value) + 1
        _check_length(len(value) + matches * max(len(new) - len(old), 0), "replace()")
    elif name == "join" and args and isinstance(args[0], Sized):
        items = args[0]
        _check_length(len(value) * len(items) + _size(items), "join()")
    elif name == "format":  # the |format filter: printf-style
        _check_printf(value, args or tuple(kwargs.values()))


def _check_printf(template: str, args: tuple[Any, ...]) -> None:
    """Refuse ``template % args`` if a width or precision is past the bound."""
    widths: list[int] = []
    for spec in _PRINTF_SPEC.finditer(template):
        for part in spec.groups():
            if part == "*":  # taken from the arguments
                widths += [v for v in args if isinstance(v, int)]
            elif part:
                widths.append(_number(part))
    _check_length(len(template) + max(widths, default=0), "a format width")


def _check_str_format(template: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Refuse ``template.format(*args, **kwargs)`` if a width or precision is past the bound,
    whether written in the template or passed in as an argument (``'{:{}}'``)."""
    widths: list[int] = []
    nested = False
    try:
        fields = [spec for _, _, spec, _ in Formatter().parse(template) if spec]
    except ValueError:
        return  # str.format will refuse it the same way
    for spec in fields:
        nested = nested or "{" in spec
        widths += [_number(digits) for digits in _NUMBERS.findall(spec)]
    if nested:
        for value in (*args, *kwargs.values()):
            widths += [_number(digits) for digits in _NUMBERS.findall(str(value))]
    _check_length(len(template) + max(widths, default=0), "a format width")


def _number(digits: str) -> int:
    # int() of thousands of digits is refused (and slow): any such number is past the bound.
    return int(digits) if len(digits) <= 9 else MAX_VALUE_SIZE + 1


def _check_length(length: int, what: str) -> None:
    if length > MAX_VALUE_SIZE:
        raise TemplateLimitError(
            "MAX_VALUE_SIZE",
            f"{what} would build a value of more than {MAX_VALUE_SIZE} characters or items",
        )


def _size(value: Any) -> int:
    """How big ``value`` is: its characters, or for a list or dict the items it holds, deeply
    (every item counts at least one, every string its characters).

    The walk stops once past :data:`MAX_VALUE_SIZE`, so it costs at most that much.
    """
    if isinstance(value, str | bytes | range):
        return len(value)
    if not isinstance(value, list | tuple | dict | set | frozenset):
        return 1
    total = 0
    stack: list[Any] = [value]
    while stack and total <= MAX_VALUE_SIZE:
        item = stack.pop()
        children = _children(item)
        if children is None:
            total += max(len(item), 1) if isinstance(item, str | bytes) else 1
        elif children:
            stack.extend(children)
        elif item is not value:
            total += 1  # an empty list still takes a place in its parent
    return total


def _children(value: Any) -> list[Any] | None:
    if isinstance(value, dict):
        return [*value.keys(), *value.values()]
    if isinstance(value, list | tuple | set | frozenset):
        return list(value)
    return None
