"""The conversion of a Go template to Jinja, end to end: lexer, parser, emitter.

Example
-------
>>> convert("{{ range .Identity.traits.codes }}{{ . }} {{ end }}", field="f")
'{% for dot_1 in identity.traits.codes | elements %}{{ dot_1 }} {% endfor %}'
"""

from __future__ import annotations

from courier.go_template.emitter import Emitter
from courier.go_template.lexer import Lexer
from courier.go_template.parser import Parser

__all__ = ["convert"]


def convert(source: str, *, field: str) -> str:
    """Convert the Go template ``source`` to Jinja for courier's Go sandbox.

    Parameters
    ----------
    source:
        The Go template (``text/template`` syntax, Sprig's functions).
    field:
        The setting it comes from, for errors (``templates.recovery_code_valid.email.subject``).

    Returns
    -------
    str
        Jinja source, to compile with :class:`~courier.go_template.runtime.GoTemplateSandbox`.

    Raises
    ------
    ConfigError
        ``go_template_syntax`` (Go would refuse it too) or ``go_template_unsupported`` (a
        construct courier does not convert), naming the line.

    Example
    -------
    >>> convert('{{ define "hi" }}Hi {{ .To }}{{ end }}{{ template "hi" . }}!', field="f")
    '{% macro tmpl_hi() %}Hi {{ to }}{% endmacro %}{{ tmpl_hi() }}!'
    >>> convert('{{ env "HOME" }}', field="f")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    courier.errors.ConfigError: f: line 1: the Go template function 'env' is not supported: ...
    """
    pieces = Lexer(source, field=field).pieces()
    body, defines = Parser(pieces, field=field).parse()
    return Emitter(defines, field=field).emit(body)
