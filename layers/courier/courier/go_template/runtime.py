"""What converted Go templates run on: Go's values and Go's and Sprig's functions, in the sandbox.

:func:`courier.go_template.convert` converts a Kratos (Go) template to Jinja; the Jinja runs in a
:class:`GoTemplateSandbox`: courier's :class:`~courier.sandbox.TemplateSandbox` (the same bounds,
the same budget, the same errors) with Go's rules where Jinja would follow Python's:

* ``x.key`` and ``x["key"]`` on a map read its key, never a Python attribute. A key the map lacks
  is Go's zero value (:class:`GoZero`: prints nothing, is false, equals nothing else), and so is
  anything read below it. A top-level name the message lacks stays an error (strict).
* A printed value looks as Go prints it (``true``, ``[a b]``, ``map[k:v]``, ``1e+06``); nil and
  the zero value print nothing.
* The functions of :data:`~courier.go_template.functions.FUNCTIONS` keep their Go names. Most
  are filters whose value is the Go function's last argument (``s | replace("a", "b")`` is
  ``replace "a" "b" s``); the others are globals (``printf("%d", n)``). Each call is a step of
  the render's budget and its result is checked; a function that could build a large value
  checks its size before building it.

Example
-------
>>> sandbox = GoTemplateSandbox()
>>> sandbox.from_string('{{ m.lang }}|{{ m.n }}|{{ m.ok }}|{{ "ab" | repeat(2) }}').render(
...     m={"n": [1, 2], "ok": True})
'|[1 2]|true|abab'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import StrictUndefined, Undefined
from jinja2.utils import Namespace

from courier.go_template.formatting import go_string, sorted_items
from courier.go_template.functions import FUNCTIONS
from courier.go_template.values import GoZero, go_type, plain
from courier.sandbox import TemplateSandbox

__all__ = ["GoTemplateSandbox"]


def _elements(value: Any) -> Any:
    """What Go's ``range`` gives one at a time: a list's items, a map's values (by key), the
    numbers below an int; nothing for nil."""
    value = plain(value)
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [item for _, item in sorted_items(value)]
    if isinstance(value, list | tuple):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return iter(range(value))  # an iterator: the sandbox counts its items as they come
    raise TypeError(f"range can't iterate over a value of type {go_type(value)}")


def _pairs(value: Any) -> Any:
    """What Go's ``range $i, $e :=`` gives: (index, item) of a list, (key, value) of a map."""
    value = plain(value)
    if value is None:
        return []
    if isinstance(value, Mapping):
        return sorted_items(value)
    if isinstance(value, list | tuple):
        return list(enumerate(value))
    raise TypeError(f"range can't give two variables for a value of type {go_type(value)}")


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
        raise TypeError(f"can't evaluate {what!r} in a value of type {go_type(obj)}")
