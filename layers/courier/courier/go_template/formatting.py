r"""How Go prints values: ``fmt.Sprint``'s forms, ``strconv.Quote``, and ``printf``'s verbs.

:func:`go_string` is what ``{{ value }}`` prints in a converted template (``true``, ``[a b]``,
``map[k:v]``, ``1e+06``); :func:`printf`, :func:`sprint` and :func:`sprintln` are Go's
``printf``, ``print`` and ``println``, with Go's messages for a wrong or missing argument
(``%!d(string=x)``, ``%!s(MISSING)``).

Example
-------
>>> go_string({"codes": [1, 2], "ok": True}), go_quote("a\tb")
('map[codes:[1 2] ok:true]', '"a\\tb"')
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from courier.go_template.dates import as_time, format_time
from courier.go_template.values import GoZero, check_size, go_type
from courier.sandbox import MAX_VALUE_SIZE

__all__ = ["go_quote", "go_string", "printf", "sorted_items", "sprint", "sprintln"]


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
        pairs = (f"{go_string(k)}:{go_string(v)}" for k, v in sorted_items(value))
        return "map[" + " ".join(pairs) + "]"
    if isinstance(value, datetime):
        return format_time("2006-01-02 15:04:05.999999999 -0700 MST", as_time(value))
    return str(value)


def sorted_items(mapping: Mapping[Any, Any]) -> list[tuple[Any, Any]]:
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


def go_quote(text: str) -> str:
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


_VERB = re.compile(r"%([-+# 0]*)(\*|\d+)?(?:\.(\*|\d*))?(.|$)", re.DOTALL)


def _bad_verb(verb: str, value: Any) -> str:
    if value is None:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({go_type(value)}={go_string(value)})"


def _format_one(verb: str, flags: str, precision: int | None, value: Any) -> str:
    """One ``%verb`` of ``value``, before its width is applied."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if verb == "v" or (verb == "s" and isinstance(value, str | list | tuple | Mapping)):
        text = go_string(value)
        return text[:precision] if precision is not None and verb == "s" else text
    if verb == "q" and isinstance(value, str):
        return go_quote(value)
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
    template = go_string(template)
    values = list(args)
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
        extra = ", ".join(f"{go_type(v)}={go_string(v)}" for v in values[used:])
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
    check_size(abs(number), "a printf width")
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
    out: list[str] = []
    for index, value in enumerate(args):
        if index and not isinstance(value, str) and not isinstance(args[index - 1], str):
            out.append(" ")
        out.append(go_string(value))
    return "".join(out)


def sprintln(*args: Any) -> str:
    """Go's ``println`` (``fmt.Sprintln``): spaces between all operands, and a newline."""
    return " ".join(go_string(arg) for arg in args) + "\n"
