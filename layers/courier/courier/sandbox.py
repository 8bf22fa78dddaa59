"""The Jinja2 sandbox templates render in: no Python internals, and no value grown past a bound.

Jinja2's sandbox keeps a template away from Python's internals, but not from memory: a project's
template override such as ``{{ 'x'|center(10**9) }}`` would exhaust the memory that its batch
shares with other projects' messages. :class:`TemplateSandbox` refuses, before building it, any
string or list that would grow past :data:`MAX_LENGTH` through repetition, padding, replacing or
a format width; the refusal is a ``SecurityError``, which the renderer reports as
``template_unsafe``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sized
from typing import Any

from jinja2 import Template
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

__all__ = ["MAX_LENGTH", "MAX_RENDERED", "TemplateSandbox", "render_bounded"]

MAX_LENGTH = 100_000
"""Characters (or items) one value of a template may grow to."""
MAX_EXPONENT = 64
MAX_RENDERED = 1_000_000
"""Characters one rendered part may have: loops can build output no single value shows."""

_PADDING = frozenset({"center", "ljust", "rjust", "zfill", "indent", "expandtabs", "wordwrap"})
_FORMATTING = frozenset({"format", "format_map"})
_NUMBERS = re.compile(r"\d+")


class TemplateSandbox(ImmutableSandboxedEnvironment):
    """Jinja2's immutable sandbox, stricter on private names and bounded in what values grow to.

    Jinja's sandbox refuses only private attributes that exist; refusing the rest too reports a
    probe such as ``range.__self__`` as unsafe rather than as missing template data. A data key
    that starts with ``_`` is still reachable as ``value['_key']``.
    """

    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        for name in ("center", "indent", "wordwrap", "replace", "format", "join"):
            self.filters[name] = _bounded_filter(name, self.filters[name])
        # lipsum(n) writes n paragraphs of filler text: no use in a mail, and unbounded.
        del self.globals["lipsum"]

    def getattr(self, obj: Any, attribute: str) -> Any:
        if attribute.startswith("_"):
            return self.unsafe_undefined(obj, attribute)
        return super().getattr(obj, attribute)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int) and right > MAX_EXPONENT:
            raise SecurityError(f"exponent {right} is larger than {MAX_EXPONENT}")
        if operator == "*":
            for sequence, count in ((left, right), (right, left)):
                if isinstance(sequence, str | list | tuple) and isinstance(count, int):
                    _check_length(len(sequence) * count, "repeating a value")
        if operator == "%" and isinstance(left, str):
            _check_growth("format", left, right if isinstance(right, tuple) else (right,), {})
        return super().call_binop(context, operator, left, right)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        # Jinja routes str.format and str.format_map through its own formatter: check first.
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        template = value.__self__

        def checked(*args: Any, **kwargs: Any) -> str:
            _check_growth("format", template, args, kwargs)
            return wrapped(*args, **kwargs)

        return checked

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        name = getattr(__obj, "__name__", "")
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            _check_growth(name, owner, args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)


def render_bounded(template: Template, context: Mapping[str, Any]) -> str:
    """Render ``template``, refusing (``SecurityError``) once the output passes
    :data:`MAX_RENDERED` characters, e.g. from nested loops."""
    parts: list[str] = []
    length = 0
    for chunk in template.generate(context):
        length += len(chunk)
        if length > MAX_RENDERED:
            raise SecurityError(f"the output is longer than {MAX_RENDERED} characters")
        parts.append(chunk)
    return "".join(parts)


def _bounded_filter(name: str, filter_: Callable[..., Any]) -> Callable[..., Any]:
    """``filter_``, checked by :func:`_check_growth` before it runs."""
    # Filters marked with pass_context & co. get the context first: the value comes after it.
    skip = 1 if hasattr(filter_, "jinja_pass_arg") else 0

    @functools.wraps(filter_)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        value, *rest = args[skip:]
        if name == "join":  # value|join(separator): the separator is the string that repeats
            separator = rest[0] if rest else kwargs.get("d", "")
            if isinstance(separator, str):
                _check_growth("join", separator, (value,), {})
        elif isinstance(value, str):
            _check_growth(name, value, tuple(rest), kwargs)
        return filter_(*args, **kwargs)

    return bounded


def _check_growth(name: str, value: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Refuse ``value.<name>(*args, **kwargs)`` (or the filter of that name) if it would build a
    string longer than :data:`MAX_LENGTH`."""
    values = [*args, *kwargs.values()]
    values += [v for a in args if isinstance(a, Mapping) for v in a.values()]  # format_map
    numbers = [v for v in values if isinstance(v, int)]
    if name in _PADDING:
        lines = value.count("\n") + value.count("\t") + 1
        _check_length(len(value) + lines * max(numbers, default=0), f"{name}()")
    elif name == "replace" and len(args) >= 2 and isinstance(args[0], str):
        old, new = args[0], str(args[1])
        matches = value.count(old) if old else len(value) + 1
        _check_length(len(value) + matches * max(len(new) - len(old), 0), "replace()")
    elif name == "join" and args and isinstance(args[0], Sized):
        _check_length(len(value) * len(args[0]), "join()")
    elif name in _FORMATTING:
        # Widths and precisions, whether written in the format or passed as arguments.
        widths = [int(digits) for digits in _NUMBERS.findall(value)] + numbers
        _check_length(len(value) + max(widths, default=0), "a format width")


def _check_length(length: int, what: str) -> None:
    if length > MAX_LENGTH:
        raise SecurityError(f"{what} would build a value of more than {MAX_LENGTH} characters")
