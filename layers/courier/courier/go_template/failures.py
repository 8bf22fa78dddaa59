"""How a conversion fails: one of two error codes, and a message that names the line.

Valid Go that courier does not convert is ``go_template_unsupported``; what Go itself would
refuse is ``go_template_syntax``. Either is a :class:`~courier.errors.ConfigError` on the setting
the template comes from, its message starting ``line N:``.

Example
-------
>>> fail("f", 3, "unclosed action")
Traceback (most recent call last):
...
courier.errors.ConfigError: f: line 3: unclosed action
>>> short("a" * 40)
'aaaaaaaaaaaaaaaaaaaaaaaaaaa...'
"""

from __future__ import annotations

from typing import NoReturn

from courier.errors import ConfigError

__all__ = ["fail", "short"]


def short(text: str) -> str:
    """User text for a message: never long.

    Parameters
    ----------
    text:
        What the user wrote (a name, a literal, ...).

    Returns
    -------
    str
        ``text``, cut to 30 characters with ``...`` when it is longer.
    """
    return text if len(text) <= 30 else text[:27] + "..."


def fail(field: str, line: int, message: str, *, unsupported: bool = False) -> NoReturn:
    """Refuse the template.

    Parameters
    ----------
    field:
        The setting the template comes from.
    line:
        The line of the template the error is on.
    message:
        What is wrong.
    unsupported:
        Valid Go that courier does not convert, rather than something Go would refuse.

    Raises
    ------
    ConfigError
        ``go_template_unsupported`` or ``go_template_syntax``, with ``line N: message``.
    """
    code = "go_template_unsupported" if unsupported else "go_template_syntax"
    raise ConfigError(field, code, f"line {line}: {message}")
