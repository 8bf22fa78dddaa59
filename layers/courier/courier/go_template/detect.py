"""The one rule that tells a Go template (Kratos's syntax) from a Jinja one.

Kratos's overrides are Go templates and courier's own are Jinja; both write ``{{ ... }}``.
:func:`is_go_template` decides from how the actions start, so that a source is converted only
when Jinja could not have meant it (docs/go-templates.md states the rule too).

Example
-------
>>> is_go_template("Hi {{ .To }}"), is_go_template("Hi {{ to }}")
(True, False)
"""

from __future__ import annotations

import re

from courier.go_template.lexer import KEYWORDS

__all__ = ["is_go_template"]

# One rule (see is_go_template): an action that starts as only Go writes one.
_GO_ACTION = re.compile(
    r"\{\{(?:-[ \t\r\n])?[ \t\r\n]*(?:[.$]|/\*"
    rf"|(?:{'|'.join(KEYWORDS)})(?=[ \t\r\n]|-?\}}\}})"
    r"|\(*[ \t\r\n]*(?!(?:not|and|or|in|is)[ \t\r\n])[^\W\d]\w*[ \t\r\n]+[.$\"'`0-9]"
    r"|(?:not|and|or)[ \t\r\n]+[.$])"
)
_JINJA_TAG = re.compile(r"\{[%#]")


def is_go_template(source: str) -> bool:
    """Whether ``source`` is a Go template (Kratos's syntax) rather than Jinja.

    The rule: a source with a Jinja tag (``{%`` or ``{#``) is Jinja. Otherwise it is Go when one
    of its actions ``{{ ... }}`` (after an optional trim marker ``{{-``) starts as only Go
    writes an action:

    * with ``.`` (a field, or dot), ``$`` (a variable) or ``/*`` (a comment);
    * with a Go keyword: ``if``, ``else``, ``end``, ``range``, ``with``, ``define``,
      ``template``, ``block``, ``break``, ``continue``;
    * with a function called on an operand, which Jinja has no syntax for: a name (after
      optional ``(``), white space, then ``.``, ``$``, a quote, a backquote or a digit
      (``{{ upper .To }}``, ``{{ printf "%s" ... }}``, ``{{ (index .Identity "traits") }}``);
      for ``not``, ``and`` and ``or``, which are Jinja's too, only ``.`` or ``$``.

    Anything else stays Jinja: ``{{ to }}``, ``{{ to | upper }}``, ``{{ not to }}``, and
    actions Go and Jinja both read (``{{ "x" }}``, ``{{ now }}``), so a Go template made of
    those only is read as Jinja. A source without actions reads alike in both.

    Example
    -------
    >>> is_go_template("Code: {{ .RecoveryCode }}"), is_go_template("{{ eq $x 1 }}")
    (True, True)
    >>> is_go_template("Code: {{ recovery_code | upper }}"), is_go_template("{% if x %}{{ .5 }}")
    (False, False)
    """
    return not _JINJA_TAG.search(source) and _GO_ACTION.search(source) is not None
