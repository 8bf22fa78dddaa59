"""Go's values as the converted template's functions see them: nil, the zero value, Go's types.

A key a map lacks reads as Go's zero value, :class:`GoZero`; a function gets it as nil
(``None``, :func:`plain`). :func:`go_type` names a value's type as Go's messages do, and
:func:`check_size` is the bound on what a function may build.

Example
-------
>>> plain(GoZero()), go_type({"a": 1}), go_type([1]), go_type(1.5)
(None, 'map[string]interface {}', '[]interface {}', 'float64')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import ChainableUndefined, Undefined

from courier.sandbox import MAX_VALUE_SIZE, TemplateLimitError

__all__ = ["GoZero", "check_size", "go_type", "plain"]


class GoZero(ChainableUndefined):
    """Go's zero value for a key a map lacks: prints nothing, is false, and reading below it
    gives itself again."""

    __slots__ = ()


def plain(value: Any) -> Any:
    """``value`` as a function sees it: Go's zero value is nil; a missing top-level name fails.

    Parameters
    ----------
    value:
        An argument of a Go function, as the template gives it.

    Returns
    -------
    Any
        ``value``, or ``None`` for Go's zero value.

    Raises
    ------
    jinja2.UndefinedError
        For a top-level name the message lacks.
    """
    if isinstance(value, GoZero):
        return None
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    return value


def check_size(size: int, what: str) -> None:
    """Refuse to build a value of ``size`` characters or items when that is over the bound.

    Parameters
    ----------
    size:
        How large the value would be.
    what:
        What would build it, for the message (``repeat``, ``a printf width``).

    Raises
    ------
    TemplateLimitError
        ``MAX_VALUE_SIZE``, the sandbox's bound on one value.
    """
    if size > MAX_VALUE_SIZE:
        raise TemplateLimitError(
            "MAX_VALUE_SIZE",
            f"{what} would build a value of more than {MAX_VALUE_SIZE} characters or items",
        )


def go_type(value: Any) -> str:
    """The Go type of ``value``, as Go's messages name it (``string``, ``[]interface {}``)."""
    if value is None:
        return "<nil>"
    names = {bool: "bool", int: "int", float: "float64", str: "string"}
    for kind, name in names.items():
        if isinstance(value, kind):
            return name
    if isinstance(value, Mapping):
        return "map[string]interface {}"
    return "[]interface {}" if isinstance(value, list | tuple) else type(value).__name__
