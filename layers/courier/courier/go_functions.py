"""What converted Go templates run on: Go's values and Go's and Sprig's functions, in the sandbox.

:mod:`courier.go_template` converts a Kratos (Go) template to Jinja; the Jinja runs in a
:class:`GoTemplateSandbox`: courier's :class:`~courier.sandbox.TemplateSandbox` (the same bounds,
the same budget, the same errors) with Go's rules where Jinja would follow Python's:

* ``x.key`` and ``x["key"]`` on a map read its key, never a Python attribute. A key the map lacks
  is Go's zero value (:class:`GoZero`: prints nothing, is false, equals nothing else), and so is
  anything read below it. A top-level name the message lacks stays an error (strict).
* A printed value looks as Go prints it (``true``, ``[a b]``, ``map[k:v]``, ``1e+06``); nil and
  the zero value print nothing.
* The functions of :data:`FUNCTIONS` keep their Go names. Most are filters whose value is the Go
  function's last argument (``s | replace("a", "b")`` is ``replace "a" "b" s``); the others are
  globals (``printf("%d", n)``). Each call is a step of the render's budget and its result is
  checked; a function that could build a large value checks its size before building it.

Example
-------
>>> sandbox = GoTemplateSandbox()
>>> sandbox.from_string('{{ m.lang }}|{{ m.n }}|{{ m.ok }}|{{ "ab" | repeat(2) }}').render(
...     m={"n": [1, 2], "ok": True})
'|[1 2]|true|abab'
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
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from jinja2 import ChainableUndefined, StrictUndefined, Undefined
from jinja2.utils import Namespace
from markupsafe import Markup

from courier.sandbox import MAX_VALUE_SIZE, TemplateLimitError, TemplateSandbox

__all__ = ["FUNCTIONS", "REFUSED", "GoFunction", "GoTemplateSandbox", "GoZero", "go_string"]


class GoZero(ChainableUndefined):
    """Go's zero value for a key a map lacks: prints nothing, is false, and reading below it
    gives itself again."""

    __slots__ = ()


def _plain(value: Any) -> Any:
    """``value`` as a function sees it: Go's zero value is nil; a missing top-level name fails."""
    if isinstance(value, GoZero):
        return None
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    return value


def _check_size(size: int, what: str) -> None:
    if size > MAX_VALUE_SIZE:
        raise TemplateLimitError(
            "MAX_VALUE_SIZE",
            f"{what} would build a value of more than {MAX_VALUE_SIZE} characters or items",
        )


# ---------------------------------------------------------------- how Go prints values


def go_string(value: Any) -> str:
    """``value`` as Go's ``fmt.Sprint`` prints it.

    Example
    -------
    >>> go_string([True, None, 1.5, 10.0, 1e6, {"b": 1, "a": "x"}])
    '[true <nil> 1.5 10 1e+06 map[a:x b:1]]'
    """
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, GoZero):
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _shortest_float(value)
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_string(item) for item in value) + "]"
    if isinstance(value, Mapping):
        pairs = (f"{go_string(k)}:{go_string(v)}" for k, v in _sorted_items(value))
        return "map[" + " ".join(pairs) + "]"
    if isinstance(value, datetime):
        return date("2006-01-02 15:04:05.999999999 -0700 MST", value)
    return str(value)


def _sorted_items(mapping: Mapping[Any, Any]) -> list[tuple[Any, Any]]:
    """A map's items in Go's order (by key)."""
    return sorted(mapping.items(), key=lambda item: go_string(item[0]))


def _shortest_float(value: float) -> str:
    """Go's ``%v`` of a float64: the shortest digits that read back as ``value``, in ``e``
    notation when the exponent is below -4 or from 6 up (``strconv``'s ``'g'``, precision -1)."""
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    if value == 0:
        return "0"
    sign, digit_tuple, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)  # a finite number
    digits = "".join(map(str, digit_tuple))
    point = len(digits) + exponent  # digits before the decimal point
    minus = "-" if sign else ""
    if point - 1 < -4 or point - 1 >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{minus}{mantissa}e{point - 1:+03d}"
    if point <= 0:
        return f"{minus}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return minus + digits + "0" * (point - len(digits))
    return f"{minus}{digits[:point]}.{digits[point:]}"


_QUOTE_ESCAPES = {
    "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
    "\v": "\\v", '"': '\\"', "\\": "\\\\",
}  # fmt: skip


def _go_quote(text: str) -> str:
    """``text`` as Go's ``strconv.Quote`` writes it: double quotes, Go's escapes."""
    out = ['"']
    for char in text:
        if char in _QUOTE_ESCAPES:
            out.append(_QUOTE_ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        elif ord(char) < 0x10000:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    return "".join(out) + '"'


# ---------------------------------------------------------------- printf

_VERB = re.compile(r"%([-+# 0]*)(\*|\d+)?(?:\.(\*|\d*))?(.|$)", re.DOTALL)


def _go_type(value: Any) -> str:
    if value is None:
        return "<nil>"
    names = {bool: "bool", int: "int", float: "float64", str: "string"}
    for kind, name in names.items():
        if isinstance(value, kind):
            return name
    if isinstance(value, Mapping):
        return "map[string]interface {}"
    return "[]interface {}" if isinstance(value, list | tuple) else type(value).__name__


def _bad_verb(verb: str, value: Any) -> str:
    if value is None:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({_go_type(value)}={go_string(value)})"


def _format_one(verb: str, flags: str, precision: int | None, value: Any) -> str:
    """One ``%verb`` of ``value``, before its width is applied."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if verb == "v" or (verb == "s" and isinstance(value, str | list | tuple | Mapping)):
        text = go_string(value)
        return text[:precision] if precision is not None and verb == "s" else text
    if verb == "q" and isinstance(value, str):
        return _go_quote(value)
    if verb == "t" and isinstance(value, bool):
        return go_string(value)
    if verb in "dxXobc" and isinstance(value, int) and not isinstance(value, bool):
        if verb == "c":
            return chr(value) if 0 <= value <= 0x10FFFF else "\ufffd"
        spec = {"d": "d", "x": "x", "X": "X", "o": "o", "b": "b"}[verb]
        return format(value, ("+" if "+" in flags else "") + spec)
    if verb in "xX" and isinstance(value, str):
        return value.encode().hex() if verb == "x" else value.encode().hex().upper()
    if verb in "eEfFgG" and number:
        if verb in "gG" and precision is None:
            text = _shortest_float(float(value))
            return text.upper() if verb == "G" else text
        spec = f"{'+' if '+' in flags else ''}.{6 if precision is None else precision}{verb}"
        return format(float(value), spec)
    return _bad_verb(verb, value)


def printf(template: str, *args: Any) -> str:
    """Go's ``fmt.Sprintf`` for the common verbs (``%s %d %v %q %t %x %f %e %g %c %%``).

    Example
    -------
    >>> printf("%s has %d codes: %v %q %05.1f%%", "Ada", 2, [1, 2], "hi", 3.14159)
    'Ada has 2 codes: [1 2] "hi" 003.1%'
    >>> printf("%d %s", "x")
    '%!d(string=x) %!s(MISSING)'
    """
    template = go_string(_plain(template))
    values = [_plain(arg) for arg in args]
    out: list[str] = []
    position = 0
    used = 0
    for spec in _VERB.finditer(template):
        out.append(template[position : spec.start()])
        position = spec.end()
        flags, width_text, precision_text, verb = spec.groups()
        if verb == "%":
            out.append("%")
            continue
        width = _spec_number(width_text, values, used)
        used += width_text == "*"
        precision = (
            _spec_number(precision_text, values, used) if precision_text is not None else None
        )
        used += precision_text == "*"
        if not verb:
            out.append("%!(NOVERB)")
            continue
        if used >= len(values):
            out.append(f"%!{verb}(MISSING)")
            continue
        text = _format_one(verb, flags, precision, values[used])
        used += 1
        out.append(_pad(text, width, flags, numeric=verb in "dxXobeEfFgG"))
    out.append(template[position:])
    if used < len(values):
        extra = ", ".join(f"{_go_type(v)}={go_string(v)}" for v in values[used:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _spec_number(text: str | None, values: list[Any], used: int) -> int:
    if not text:
        return 0
    if text == "*":
        value = values[used] if used < len(values) else 0
        number = value if isinstance(value, int) and not isinstance(value, bool) else 0
    else:
        number = int(text) if len(text) <= 9 else MAX_VALUE_SIZE + 1
    _check_size(abs(number), "a printf width")
    return number


def _pad(text: str, width: int, flags: str, *, numeric: bool) -> str:
    if len(text) >= abs(width):
        return text
    if "-" in flags or width < 0:
        return text.ljust(abs(width))
    if "0" in flags and numeric:
        sign = text[0] if text[:1] in "+-" else ""
        return sign + text[len(sign) :].rjust(width - len(sign), "0")
    return text.rjust(width)


def sprint(*args: Any) -> str:
    """Go's ``print`` (``fmt.Sprint``): spaces between operands when neither is a string."""
    values = [_plain(arg) for arg in args]
    out: list[str] = []
    for index, value in enumerate(values):
        if index and not isinstance(value, str) and not isinstance(values[index - 1], str):
            out.append(" ")
        out.append(go_string(value))
    return "".join(out)


def sprintln(*args: Any) -> str:
    """Go's ``println`` (``fmt.Sprintln``): spaces between all operands, and a newline."""
    return " ".join(go_string(_plain(arg)) for arg in args) + "\n"


# ---------------------------------------------------------------- dates

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")  # fmt: skip
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# Go's layout elements, longest first where one is the start of another (time/format.go).
_LAYOUT = re.compile(
    r"January|Jan(?![a-z])|Monday|Mon(?![a-z])|MST|2006|_2006|__2|_2|002|01|02|03|04|05|06|"
    r"15|1|2|3|4|5|PM|pm|-07:00:00|-070000|-07:00|-0700|-07|Z07:00:00|Z070000|Z07:00|Z0700|"
    r"Z07|[.,](?:0+|9+)(?![0-9])"
)


def _layout_element(element: str, moment: datetime) -> str:
    """What the Go layout element ``element`` stands for in ``moment`` (which is in UTC)."""
    hour12 = moment.hour % 12 or 12
    plain = {
        "January": _MONTHS[moment.month - 1],
        "Jan": _MONTHS[moment.month - 1][:3],
        "Monday": _DAYS[moment.weekday()],
        "Mon": _DAYS[moment.weekday()][:3],
        "MST": "UTC",
        "2006": f"{moment.year:04d}",
        "_2006": f"_{moment.year:04d}",
        "__2": f"{moment.timetuple().tm_yday:>3d}",
        "_2": f"{moment.day:>2d}",
        "002": f"{moment.timetuple().tm_yday:03d}",
        "01": f"{moment.month:02d}",
        "02": f"{moment.day:02d}",
        "03": f"{hour12:02d}",
        "04": f"{moment.minute:02d}",
        "05": f"{moment.second:02d}",
        "06": f"{moment.year % 100:02d}",
        "15": f"{moment.hour:02d}",
        "1": str(moment.month),
        "2": str(moment.day),
        "3": str(hour12),
        "4": str(moment.minute),
        "5": str(moment.second),
        "PM": "PM" if moment.hour >= 12 else "AM",
        "pm": "pm" if moment.hour >= 12 else "am",
    }
    if element in plain:
        return plain[element]
    if element[0] in ".,":  # fractional seconds: ,000 exactly; .999 without trailing zeros
        nanoseconds = f"{moment.microsecond:06d}000"[: len(element) - 1]
        if element[1] == "9":
            nanoseconds = nanoseconds.rstrip("0")
            return element[0] + nanoseconds if nanoseconds else ""
        return element[0] + nanoseconds
    if element.startswith("Z"):  # Z07:00 & co. print Z for UTC
        return "Z"
    return "+" + element[1:].replace("7", "0")  # -07:00 & co.: the offset of UTC


def _moment(value: Any) -> datetime:
    """A time as Kratos gives it (an RFC 3339 string in JSON, or a datetime, or Unix seconds),
    in UTC."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"date: {value[:40]!r} is not an RFC 3339 time") from None
    elif isinstance(value, int) and not isinstance(value, bool):
        value = datetime.fromtimestamp(value, UTC)
    if not isinstance(value, datetime):
        raise TypeError(f"date: a {_go_type(value)} is not a time")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def date(layout: str, moment: Any) -> str:
    """Sprig's ``date``: ``moment`` formatted with the Go layout ``layout`` (in UTC).

    Example
    -------
    >>> date("Monday, 2 Jan 2006 at 15:04:05.000 MST (-07:00)", "2026-12-01T09:30:00.5+01:00")
    'Tuesday, 1 Dec 2026 at 08:30:00.500 UTC (+00:00)'
    """
    when = _moment(_plain(moment))
    layout = go_string(_plain(layout))
    return _LAYOUT.sub(lambda match: _layout_element(match.group(), when), layout)


# ---------------------------------------------------------------- Go's and Sprig's functions
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


def _title(text: Any) -> str:
    out, previous = [], " "
    for char in _text(text):
        out.append(char.upper() if _is_word_separator(previous) else char)
        previous = char
    return "".join(out)


def _untitle(text: Any) -> str:
    out, previous = [], " "
    for char in _text(text):
        out.append(char.lower() if _is_word_separator(previous) else char)
        previous = char
    return "".join(out)


def _repeat(count: Any, value: Any) -> str:
    text, times = _text(value), _int64(count)
    if times < 0:
        raise ValueError("repeat: negative count")
    _check_size(len(text) * times, "repeat")  # before building it
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
    _check_size(len(text) + width * (text.count("\n") + 1), "indent")  # before building it
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
    raise TypeError(f"len of type {_go_type(value)}")


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
    "quote": (lambda *v: " ".join(_go_quote(_text(x)) for x in v if x is not None), "filter"),
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
        return self.implementation(*(_plain(arg) for arg in args))

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


# ---------------------------------------------------------------- the sandbox


def _elements(value: Any) -> Any:
    """What Go's ``range`` gives one at a time: a list's items, a map's values (by key), the
    numbers below an int; nothing for nil."""
    value = _plain(value)
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [item for _, item in _sorted_items(value)]
    if isinstance(value, list | tuple):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return iter(range(value))  # an iterator: the sandbox counts its items as they come
    raise TypeError(f"range can't iterate over a value of type {_go_type(value)}")


def _pairs(value: Any) -> Any:
    """What Go's ``range $i, $e :=`` gives: (index, item) of a list, (key, value) of a map."""
    value = _plain(value)
    if value is None:
        return []
    if isinstance(value, Mapping):
        return _sorted_items(value)
    if isinstance(value, list | tuple):
        return list(enumerate(value))
    raise TypeError(f"range can't give two variables for a value of type {_go_type(value)}")


def _printed(value: Any) -> Any:
    """What ``{{ value }}`` prints: Go's form of it; nothing for nil or Go's zero value."""
    if value is None or isinstance(value, GoZero):
        return ""
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    return go_string(value)


class GoTemplateSandbox(TemplateSandbox):
    """Courier's sandbox, for Jinja converted from a Go template: Go's functions, Go's printing
    and Go's map lookups (see the module's docstring)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(
            undefined=StrictUndefined,
            finalize=_printed,
            extensions=["jinja2.ext.loopcontrols"],
            keep_trailing_newline=True,
            **options,
        )
        filters = {f.name: f.as_filter for f in FUNCTIONS.values() if f.form == "filter"}
        self.add_filters({**filters, "elements": _elements, "pairs": _pairs})
        self.globals.update({f.name: f.called for f in FUNCTIONS.values() if f.form == "global"})

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Namespace):  # a variable that loops assign to: {% set v.value = … %}
            return super().getattr(obj, attribute)
        return self.getitem(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(obj, Undefined):
            return obj if isinstance(obj, GoZero) else obj._fail_with_undefined_error()
        if obj is None:
            return GoZero(obj=obj, name=str(argument))
        if isinstance(obj, Mapping):
            return obj[argument] if argument in obj else GoZero(obj=obj, name=str(argument))
        if isinstance(obj, list | tuple | str):
            if isinstance(argument, slice):
                return super().getitem(obj, argument)
            if isinstance(argument, int) and not isinstance(argument, bool):
                if 0 <= argument < len(obj):
                    return obj[argument]
                raise IndexError(f"index out of range: {argument}")
        what = str(argument)[:40]
        raise TypeError(f"can't evaluate {what!r} in a value of type {_go_type(obj)}")
