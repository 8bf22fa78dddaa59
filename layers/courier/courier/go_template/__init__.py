r"""Kratos's Go templates, converted to the Jinja that courier renders in its sandbox.

Kratos's template overrides are Go ``text/template`` (subject, plaintext) and ``html/template``
(HTML) with Sprig's functions. :func:`is_go_template` tells such a source from a Jinja one, and
:func:`convert` turns it into Jinja source for :class:`GoTemplateSandbox` (courier's sandbox,
with Go's printing, map lookups and functions): the same bounds, budget and error codes as a
Jinja override. The converted Jinja is meant to be read (the validator shows
it): ``{{ .RecoveryCode }}`` becomes ``{{ recovery_code }}``, ``{{ .X | replace "a" "b" }}``
becomes ``{{ x | replace("a", "b") }}``, ``define`` becomes a macro at the top.

What courier does not convert (an unknown function, ``call``, ``env``, ...) is a
:class:`~courier.errors.ConfigError` ``go_template_unsupported``; what Go itself would refuse
(a malformed action, an undefined variable, a field Kratos does not send) is
``go_template_syntax``. Both messages name the line: ``line 3: ...``.

Modules, by idea: :mod:`.detect` (the one rule: Go or Jinja), :mod:`.lexer` (text, actions and
their tokens; ``{{-``/``-}}`` trimming), :mod:`.tree` and :mod:`.parser` (Go's syntax tree:
pipelines, ``if``/``with``/``range``, ``define``/``template``/``block``), :mod:`.expressions`
(pipelines as Jinja expressions), :mod:`.emitter` (the Jinja, defines hoisted as macros),
:mod:`.converter` (the three in a row) and :mod:`.failures` (the two error codes). What the
converted Jinja runs on: :mod:`.runtime` (:class:`GoTemplateSandbox`), :mod:`.functions` (Go's
and Sprig's functions), :mod:`.formatting` (how Go prints values; ``printf``), :mod:`.dates`
(Go's time layouts) and :mod:`.values` (nil, Go's zero value, Go's type names).

Example
-------
>>> from courier.go_template import convert
>>> go = ('{{ if eq .Identity.metadata_public.lang "de" -}}\n  Hallo!\n'
...       '{{- else -}}\n  Hi!\n{{- end }}')
>>> print(convert(go, field="templates.recovery_code_valid.email.subject"))
{% if identity.metadata_public.lang == "de" %}Hallo!{% else %}Hi!{% endif %}
>>> print(convert('Code: {{ .RecoveryCode | printf "%q" }}', field="f"))
Code: {{ printf("%q", recovery_code) }}
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from courier.go_template.converter import convert
    from courier.go_template.detect import is_go_template
    from courier.go_template.runtime import GoTemplateSandbox

__all__ = ["GoTemplateSandbox", "convert", "is_go_template"]

# Imported when first used: only a project with a Go template override needs any of it, and the
# converter and Go's functions cost a cold start about 11 ms (python -X importtime).
_MODULES = {
    "GoTemplateSandbox": "courier.go_template.runtime",
    "convert": "courier.go_template.converter",
    "is_go_template": "courier.go_template.detect",
}


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_MODULES[name]), name)
    globals()[name] = value
    return value
