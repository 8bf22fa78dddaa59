"""Go's and Sprig's functions that a converted template may call, by their Go names.

:data:`FUNCTIONS` holds each as a :class:`GoFunction`: a Jinja filter whose value is the Go
function's last argument (``s | replace("a", "b")`` is ``replace "a" "b" s``), or a Jinja global
called with Go's arguments in Go's order (``printf("%d", n)``). Each takes Go's zero value and
nil as ``None``; a function that could build a large value checks its size before building it.
:data:`REFUSED` names the functions courier refuses on purpose, with the reason.

Example
-------
>>> FUNCTIONS["replace"].as_filter("a-b", "-", "+"), FUNCTIONS["add"].called(1, "2", 3)
('a+b', 6)
>>> REFUSED["env"]
"it reads the environment, and Kratos's hermetic templates refuse it too"
"""

from __future__ import annotations

import base64
import html
import inspect
import json
import math
import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from markupsafe import Markup

from courier.go_template.dates import as_time, format_time
from courier.go_template.formatting import go_quote, go_string, printf, sprint, sprintln
from courier.go_template.values import check_size, go_type, plain

__all__ = ["FUNCTIONS", "REFUSED", "GoFunction", "date"]

# Each takes its arguments in Go's order, with Go's zero value and nil as None.


def _text(value: Any) -> str:
    return "" if value is None else go_string(value)


def _int64(value: Any) -> int:
    """Sprig's ``toInt64``, wrapping like Go's int64 (which also keeps the numbers small)."""
    if isinstance(value, str):
        value = int(value) if re.fullmatch(r"[-+]?\d{1,19}", value.strip()) else 0
    number = int(value) if isinstance(value, int | float) and math.isfinite(value) else 0
    return (number + 2**63) % 2**64 - 2**63


def _empty(value: Any) -> bool:
    """Sprig's ``empty``: nil, false, 0, and empty strings, lists and maps."""
    return not value


def _is_word_separator(char: str) -> bool:
    """Go's ``strings.Title`` rule for where a word starts."""
    if char.isascii():
        return not (char.isalnum() or char == "_")
    return not (char.isalpha() or char.isdigit()) and char.isspace()


def _word_starts(text: Any, change: Callable[[str], str]) -> str:
    """``text`` with ``change`` applied to the first character of each word."""
    out, previous = [], " "
    for char in _text(text):
        out.append(change(char) if _is_word_separator(previous) else char)
        previous = char
    return "".join(out)


def _title(text: Any) -> str:
    return _word_starts(text, str.upper)


def _untitle(text: Any) -> str:
    return _word_starts(text, str.lower)


def _repeat(count: Any, value: Any) -> str:
    text, times = _text(value), _int64(count)
    if times < 0:
        raise ValueError("repeat: negative count")
    check_size(len(text) * times, "repeat")  # before building it
    return text * times


def _substr(start: Any, end: Any, value: Any) -> str:
    text, first, last = _text(value), _int64(start), _int64(end)
    if first < 0:
        return text[:last]
    if last < 0 or last > len(text):
        return text[first:]
    return text[first:last]


def _trunc(count: Any, value: Any) -> str:
    text, length = _text(value), _int64(count)
    if length < 0 and len(text) + length > 0:
        return text[len(text) + length :]
    return text[:length] if length >= 0 else text


def _abbrev(width: Any, value: Any) -> str:
    text, most = _text(value), _int64(width)
    return text if most < 4 or len(text) <= most else text[: most - 3] + "..."


def _indent(spaces: Any, value: Any) -> str:
    text, width = _text(value), max(_int64(spaces), 0)
    check_size(len(text) + width * (text.count("\n") + 1), "indent")  # before building it
    pad = " " * width
    return pad + text.replace("\n", "\n" + pad)


def _default(fallback: Any, *given: Any) -> Any:
    return fallback if not given or _empty(given[0]) else given[0]


def _length(value: Any) -> int:
    """Go's ``len``: a string's length in bytes (UTF-8), a list's or map's in items."""
    if value is None:
        return 0
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, list | tuple | Mapping):
        return len(value)
    raise TypeError(f"len of type {go_type(value)}")


def _strings(value: Any) -> list[str]:
    """Sprig's ``strslice``: a list's items as strings, nil ones left out."""
    items = value if isinstance(value, list | tuple) else [value]
    return [_text(item) for item in items if item is not None]


def _split_list(separator: Any, text: Any) -> list[str]:
    text, separator = _text(text), _text(separator)
    return text.split(separator) if separator else list(text)


def _to_json(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True, default=str)
    # Go's encoding/json escapes these for HTML.
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _b64dec(text: Any) -> str:
    try:
        return base64.b64decode(_text(text), validate=True).decode("utf-8")
    except ValueError:
        raise ValueError("b64dec: the value is not standard base64 of UTF-8 text") from None


def _escaper_input(args: tuple[Any, ...]) -> str:
    """What Go's ``html``, ``js`` and ``urlquery`` escape: one string, or ``print`` of all."""
    return args[0] if len(args) == 1 and isinstance(args[0], str) else sprint(*args)


def _html(*args: Any) -> Markup:
    """Go's ``html`` (``HTMLEscapeString``); already escaped, so the HTML part keeps it as is."""
    text = html.escape(_escaper_input(args)).replace("&quot;", "&#34;").replace("&#x27;", "&#39;")
    return Markup(text.replace("\0", "\ufffd"))  # noqa: S704 - escaped just above


_JS_ESCAPES = {"\\": "\\\\", "'": "\\'", '"': '\\"', "<": "\\u003C", ">": "\\u003E",
               "&": "\\u0026", "=": "\\u003D"}  # fmt: skip


def _js(*args: Any) -> str:
    """Go's ``js`` (``JSEscapeString``)."""
    out = []
    for char in _escaper_input(args):
        if char in _JS_ESCAPES:
            out.append(_JS_ESCAPES[char])
        elif ord(char) < 0x20 or not char.isprintable():
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return "".join(out)


def _dict(*pairs: Any) -> dict[str, Any]:
    if len(pairs) % 2:
        pairs = (*pairs, "")
    return {_text(pairs[i]): pairs[i + 1] for i in range(0, len(pairs), 2)}


def _go_div(dividend: int, divisor: int) -> int:
    """Go's integer division: it truncates toward zero."""
    quotient = abs(dividend) // abs(divisor)
    return quotient if (dividend < 0) == (divisor < 0) else -quotient


def _min_max(pick: Callable[..., int]) -> Callable[..., int]:
    return lambda first, *rest: pick(_int64(n) for n in (first, *rest))


def date(layout: Any, moment: Any) -> str:
    """Sprig's ``date``: ``moment`` formatted with the Go layout ``layout`` (in UTC).

    Example
    -------
    >>> date("Monday, 2 Jan 2006 at 15:04:05.000 MST (-07:00)", "2026-12-01T09:30:00.5+01:00")
    'Tuesday, 1 Dec 2026 at 08:30:00.500 UTC (+00:00)'
    """
    when = as_time(moment)
    return format_time(go_string(layout), when)


_GO_FUNCTIONS: dict[str, tuple[Callable[..., Any], Literal["filter", "global"]]] = {
    # text
    "upper": (lambda s: _text(s).upper(), "filter"),
    "lower": (lambda s: _text(s).lower(), "filter"),
    "title": (_title, "filter"),
    "untitle": (_untitle, "filter"),
    "trim": (lambda s: _text(s).strip(), "filter"),
    "trimAll": (lambda cutset, s: _text(s).strip(_text(cutset)), "filter"),
    "trimPrefix": (lambda prefix, s: _text(s).removeprefix(_text(prefix)), "filter"),
    "trimSuffix": (lambda suffix, s: _text(s).removesuffix(_text(suffix)), "filter"),
    "nospace": (lambda s: "".join(_text(s).split()), "filter"),
    "replace": (lambda old, new, s: _text(s).replace(_text(old), _text(new)), "filter"),
    "repeat": (_repeat, "filter"),
    "substr": (_substr, "filter"),
    "trunc": (_trunc, "filter"),
    "abbrev": (_abbrev, "filter"),
    "indent": (_indent, "filter"),
    "nindent": (lambda spaces, s: "\n" + _indent(spaces, s), "filter"),
    "contains": (lambda part, s: _text(part) in _text(s), "filter"),
    "hasPrefix": (lambda prefix, s: _text(s).startswith(_text(prefix)), "filter"),
    "hasSuffix": (lambda suffix, s: _text(s).endswith(_text(suffix)), "filter"),
    "quote": (lambda *v: " ".join(go_quote(_text(x)) for x in v if x is not None), "filter"),
    "squote": (lambda *v: " ".join(f"'{_text(x)}'" for x in v if x is not None), "filter"),
    "cat": (lambda *v: " ".join(_text(x) for x in v if x is not None), "global"),
    "toString": (_text, "filter"),
    "toJson": (_to_json, "filter"),
    "join": (lambda separator, v: _text(separator).join(_strings(v)), "filter"),
    "splitList": (_split_list, "filter"),
    "split": (lambda sep, s: {f"_{i}": p for i, p in enumerate(_split_list(sep, s))}, "filter"),
    "b64enc": (lambda s: base64.b64encode(_text(s).encode()).decode("ascii"), "filter"),
    "b64dec": (_b64dec, "filter"),
    "html": (_html, "filter"),
    "js": (_js, "filter"),
    "urlquery": (lambda *v: urllib.parse.quote_plus(_escaper_input(v), safe=""), "filter"),
    "print": (sprint, "global"),
    "println": (sprintln, "global"),
    "printf": (printf, "global"),
    # values
    "len": (_length, "filter"),
    "default": (_default, "filter"),
    "empty": (_empty, "filter"),
    "coalesce": (lambda *v: next((x for x in v if not _empty(x)), None), "global"),
    "ternary": (lambda if_true, if_false, condition: if_true if condition else if_false, "filter"),
    "list": (lambda *v: list(v), "global"),
    "dict": (_dict, "global"),
    "first": (lambda v: v[0] if v else None, "filter"),
    "last": (lambda v: v[-1] if v else None, "filter"),
    "hasKey": (lambda d, key: isinstance(d, Mapping) and key in d, "global"),
    "get": (lambda d, key: d.get(key, "") if isinstance(d, Mapping) else "", "global"),
    # numbers (Go's int64)
    "add": (lambda *n: _int64(sum(_int64(x) for x in n)), "global"),
    "add1": (lambda n: _int64(_int64(n) + 1), "global"),
    "sub": (lambda a, b: _int64(_int64(a) - _int64(b)), "global"),
    "mul": (lambda *n: _int64(math.prod(_int64(x) for x in n)), "global"),
    "div": (lambda a, b: _int64(_go_div(_int64(a), _int64(b))), "global"),
    "mod": (lambda a, b: _int64(a) - _int64(b) * _go_div(_int64(a), _int64(b)), "global"),
    "max": (_min_max(max), "global"),
    "min": (_min_max(min), "global"),
    # times
    "date": (date, "filter"),
    "htmlDate": (lambda moment: date("2006-01-02", moment), "filter"),
}


@dataclass(frozen=True)
class GoFunction:
    """A Go or Sprig function courier converts: a Jinja filter (its value is the Go function's
    last argument) or a Jinja global (called with Go's arguments in Go's order)."""

    name: str
    implementation: Callable[..., Any]
    form: Literal["filter", "global"]

    @property
    def arity(self) -> tuple[int, int | None]:
        """The fewest and the most arguments the Go function takes (``None``: any number)."""
        parameters = inspect.signature(self.implementation).parameters.values()
        required = sum(
            p.default is p.empty and p.kind is p.POSITIONAL_OR_KEYWORD for p in parameters
        )
        variadic = any(p.kind is p.VAR_POSITIONAL for p in parameters)
        return required, None if variadic else len(parameters)

    def called(self, *args: Any) -> Any:
        """The Go function, called with Go's arguments."""
        return self.implementation(*(plain(arg) for arg in args))

    def as_filter(self, value: Any, *before: Any) -> Any:
        """The Go function as a filter: ``value`` is its last argument."""
        return self.called(*before, value)


FUNCTIONS: Mapping[str, GoFunction] = {
    name: GoFunction(name, implementation, form)
    for name, (implementation, form) in _GO_FUNCTIONS.items()
}
"""The Go and Sprig functions courier converts, by their Go names."""

_CLOCK = "it reads the clock, and Kratos's hermetic templates refuse it too"
_RANDOM = "it is random, and Kratos's hermetic templates refuse it too"
REFUSED: Mapping[str, str] = {
    "env": "it reads the environment, and Kratos's hermetic templates refuse it too",
    "expandenv": "it reads the environment, and Kratos's hermetic templates refuse it too",
    "now": _CLOCK,
    "ago": _CLOCK,
    "dateModify": _CLOCK,
    "date_modify": _CLOCK,
    "dateInZone": "courier shows times in UTC only: use date",
    "date_in_zone": "courier shows times in UTC only: use date",
    "randAlpha": _RANDOM,
    "randAlphaNum": _RANDOM,
    "randAscii": _RANDOM,
    "randNumeric": _RANDOM,
    "randInt": _RANDOM,
    "randBytes": _RANDOM,
    "uuidv4": _RANDOM,
    "shuffle": _RANDOM,
    "getHostByName": "it reaches the network",
    "call": "Kratos's template data holds no functions to call",
    "regexMatch": "regular expressions could run for unbounded time in Python",
    "regexFind": "regular expressions could run for unbounded time in Python",
    "regexFindAll": "regular expressions could run for unbounded time in Python",
    "regexReplaceAll": "regular expressions could run for unbounded time in Python",
    "regexReplaceAllLiteral": "regular expressions could run for unbounded time in Python",
    "regexSplit": "regular expressions could run for unbounded time in Python",
}
"""Functions courier refuses on purpose, each with the reason its error gives."""
