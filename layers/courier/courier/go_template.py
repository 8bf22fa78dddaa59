r"""Kratos's Go templates, converted to the Jinja that courier renders in its sandbox.

Kratos's template overrides are Go ``text/template`` (subject, plaintext) and ``html/template``
(HTML) with Sprig's functions. :func:`is_go_template` tells such a source from a Jinja one, and
:func:`convert` turns it into Jinja source for :class:`courier.go_functions.GoTemplateSandbox`
(courier's sandbox, with Go's printing, map lookups and functions): the same bounds, budget and
error codes as a Jinja override. The converted Jinja is meant to be read (the validator shows
it): ``{{ .RecoveryCode }}`` becomes ``{{ recovery_code }}``, ``{{ .X | replace "a" "b" }}``
becomes ``{{ x | replace("a", "b") }}``, ``define`` becomes a macro at the top.

What courier does not convert (an unknown function, ``call``, ``env``, ...) is a
:class:`~courier.errors.ConfigError` ``go_template_unsupported``; what Go itself would refuse
(a malformed action, an undefined variable, a field Kratos does not send) is
``go_template_syntax``. Both messages name the line: ``line 3: ...``.

Example
-------
>>> go = ('{{ if eq .Identity.metadata_public.lang "de" -}}\n  Hallo!\n'
...       '{{- else -}}\n  Hi!\n{{- end }}')
>>> print(convert(go, field="templates.recovery_code_valid.email.subject"))
{% if identity.metadata_public.lang == "de" %}Hallo!{% else %}Hi!{% endif %}
>>> print(convert('Code: {{ .RecoveryCode | printf "%q" }}', field="f"))
Code: {{ printf("%q", recovery_code) }}
"""

from __future__ import annotations

import json
import keyword
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn

from courier.errors import ConfigError
from courier.go_functions import FUNCTIONS, REFUSED
from courier.template_data import GO_FIELD_NAMES

__all__ = ["convert", "is_go_template"]

_SPACE = " \t\r\n"  # Go's white space in templates, for trimming and between operands
_KEYWORDS = (
    "if",
    "else",
    "end",
    "range",
    "with",
    "define",
    "template",
    "block",
    "break",
    "continue",
)
_OPERATORS = ("eq", "ne", "lt", "le", "gt", "ge", "and", "or", "not", "index", "slice")
# One rule (see is_go_template): an action that starts as only Go writes one.
_GO_ACTION = re.compile(
    r"\{\{(?:-[ \t\r\n])?[ \t\r\n]*(?:[.$]|/\*"
    rf"|(?:{'|'.join(_KEYWORDS)})(?=[ \t\r\n]|-?\}}\}})"
    r"|\(*[ \t\r\n]*(?!(?:not|and|or|in|is)[ \t\r\n])[^\W\d]\w*[ \t\r\n]+[.$\"'`0-9]"
    r"|(?:not|and|or)[ \t\r\n]+[.$])"
)
_JINJA_TAG = re.compile(r"\{[%#]")
_JSON_KEYS = {go: key for key, go in GO_FIELD_NAMES.items()}


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
        Jinja source, to compile with :class:`courier.go_functions.GoTemplateSandbox`.

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
    scanner = _Scanner(source, field)
    body, defines = _Parser(scanner.pieces(), field).parse()
    return _Emitter(defines, field).emit(body)


def _short(text: str) -> str:
    """User text for a message: never long."""
    return text if len(text) <= 30 else text[:27] + "..."


def _fail(field: str, line: int, message: str, *, unsupported: bool = False) -> NoReturn:
    code = "go_template_unsupported" if unsupported else "go_template_syntax"
    raise ConfigError(field, code, f"line {line}: {message}")


# ---------------------------------------------------------------- scanning: text and actions


@dataclass(frozen=True)
class _Token:
    kind: str  # space field dot var ident keyword string number bool nil ( ) | := = ,
    value: Any
    line: int


@dataclass(frozen=True)
class _Text:
    text: str


@dataclass(frozen=True)
class _Action:
    tokens: tuple[_Token, ...]
    line: int


_NUMBER = re.compile(
    r"[+-]?(?:0[xX][0-9a-fA-F_]*(?:\.[0-9a-fA-F_]*)?(?:[pP][+-]?[0-9_]+)?|0[bB][01_]+"
    r"|0[oO][0-7_]+|[0-9_]*\.?[0-9_]*(?:[eE][+-]?[0-9_]+)?)i?"
)
_IDENTIFIER = re.compile(r"[^\W\d]\w*")
_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    '"': '"',
    "'": "'",
}
_GO_ESCAPE = re.compile(
    r"\\(?:([abfnrtv\\\"'])|x([0-9a-fA-F]{2})|([0-7]{3})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8}))"
)


class _Scanner:
    """Go's lexer (text/template/parse/lex.go), for the subset courier converts: the source as
    text and actions, with ``{{-``/``-}}`` trimming applied and comments dropped."""

    def __init__(self, source: str, field: str) -> None:
        self.source = source
        self.field = field
        self.pos = 0
        self.line = 1

    def fail(self, message: str) -> NoReturn:
        _fail(self.field, self.line, message)

    def pieces(self) -> list[_Text | _Action]:
        pieces: list[_Text | _Action] = []
        source = self.source
        while True:
            start = source.find("{{", self.pos)
            if start < 0:
                pieces.append(_Text(source[self.pos :]))
                return pieces
            left_trim = source[start + 2 : start + 3] == "-" and source[start + 3 : start + 4] in (
                *_SPACE,
            )
            text = source[self.pos : start]
            pieces.append(_Text(text.rstrip(_SPACE) if left_trim else text))
            self.advance_to(start)
            self.pos = start + (4 if left_trim else 2)
            if source.startswith("/*", self.pos):
                right_trim = self.comment()
            else:
                tokens, right_trim = self.action()
                pieces.append(_Action(tuple(tokens), tokens[0].line if tokens else self.line))
            if right_trim:
                end = self.pos
                while end < len(source) and source[end] in _SPACE:
                    end += 1
                self.advance_to(end)

    def advance_to(self, position: int) -> None:
        self.line += self.source.count("\n", self.pos, position)
        self.pos = position

    def at_right_delimiter(self) -> tuple[bool, bool]:
        """Whether the action ends here, and whether with a trim marker (`` -}}``)."""
        rest = self.source[self.pos : self.pos + 4]
        if rest[:1] in (*_SPACE,) and rest[1:] == "-}}":
            return True, True
        return rest.startswith("}}"), False

    def comment(self) -> bool:
        end = self.source.find("*/", self.pos + 2)
        if end < 0:
            self.fail("unclosed comment")
        self.advance_to(end + 2)
        done, right_trim = self.at_right_delimiter()
        if not done:
            self.fail("comment ends before closing delimiter")
        self.pos += 4 if right_trim else 2
        return right_trim

    def action(self) -> tuple[list[_Token], bool]:
        tokens: list[_Token] = []
        source = self.source
        while True:
            done, right_trim = self.at_right_delimiter()
            if done:
                self.pos += 4 if right_trim else 2
                return tokens, right_trim
            if self.pos >= len(source):
                self.fail("unclosed action")
            char = source[self.pos]
            if char in _SPACE:
                end = self.pos
                while end < len(source) and source[end] in _SPACE:
                    end += 1
                if source.startswith("-}}", end) and end - 1 > self.pos:
                    end -= 1  # the last space belongs to the trim marker
                tokens.append(_Token("space", " ", self.line))
                self.advance_to(end)
            else:
                tokens.append(self.token(char))

    def token(self, char: str) -> _Token:
        source, start, line = self.source, self.pos, self.line
        if char == "." and not source[start + 1 : start + 2].isdigit():
            match = _IDENTIFIER.match(source, start + 1)
            self.pos = match.end() if match else start + 1
            return _Token("field", match.group(), line) if match else _Token("dot", ".", line)
        if char == "$":
            match = _IDENTIFIER.match(source, start + 1)
            self.pos = match.end() if match else start + 1
            return _Token("var", "$" + (match.group() if match else ""), line)
        if char in "()|,":
            self.pos += 1
            return _Token(char, char, line)
        if source.startswith(":=", start):
            self.pos += 2
            return _Token(":=", ":=", line)
        if char == "=":
            self.pos += 1
            return _Token("=", "=", line)
        if char == '"':
            return _Token("string", self.quoted(), line)
        if char == "`":
            end = source.find("`", start + 1)
            if end < 0:
                self.fail("unterminated raw quoted string")
            self.advance_to(end + 1)
            return _Token("string", source[start + 1 : end].replace("\r", ""), line)
        if char == "'":
            return _Token("number", self.char_constant(), line)
        if char in "+-." or char.isdigit():
            return _Token("number", self.number(), line)
        match = _IDENTIFIER.match(source, start)
        if not match:
            self.fail(f"unexpected {char!r} in an action")
        self.pos = match.end()
        return self.word(match.group(), line)

    def word(self, word: str, line: int) -> _Token:
        if word in ("true", "false"):
            return _Token("bool", word == "true", line)
        if word == "nil":
            return _Token("nil", None, line)
        return _Token("keyword" if word in _KEYWORDS else "ident", word, line)

    def quoted(self) -> str:
        match = re.compile(r'"((?:[^"\\\n]|\\.)*)"').match(self.source, self.pos)
        if not match:
            self.fail("unterminated quoted string")
        self.pos = match.end()
        return _unquote(match.group(1), self.fail)

    def char_constant(self) -> int:
        match = re.compile(r"'((?:[^'\\\n]|\\.[0-9a-fA-F]*)+)'").match(self.source, self.pos)
        value = _unquote(match.group(1), self.fail) if match else ""
        if not match or len(value) != 1:
            self.fail("malformed character constant")
        self.pos = match.end()
        return ord(value)

    def number(self) -> int | float:
        match = _NUMBER.match(self.source, self.pos)
        text = match.group() if match else ""
        end = self.pos + len(text)
        if not text.strip("+-.") or _IDENTIFIER.match(self.source, end):
            self.fail(f"bad number syntax: {_short(self.source[self.pos : end + 1])!r}")
        self.pos = end
        if text.endswith("i"):
            _fail(self.field, self.line, "complex numbers are not supported", unsupported=True)
        return _number(text.replace("_", ""), self.fail)


def _unquote(body: str, fail: Callable[[str], NoReturn]) -> str:
    """A Go string literal's value: its escapes decoded (``\\x`` and octal ones are bytes)."""
    out = bytearray()
    position = 0
    for match in _GO_ESCAPE.finditer(body):
        out += body[position : match.start()].encode()
        simple, hex_byte, octal, short, long = match.groups()
        if simple:
            out += _ESCAPES[simple].encode()
        elif hex_byte or octal:
            out.append(int(hex_byte, 16) if hex_byte else int(octal, 8) & 0xFF)
        else:
            out += chr(min(int(short or long, 16), 0x10FFFF)).encode("utf-8", "replace")
        position = match.end()
    rest = body[position:]
    if "\\" in rest:
        fail("unknown escape sequence in a quoted string")
    out += rest.encode()
    return out.decode("utf-8", "replace")


def _number(text: str, fail: Callable[[str], NoReturn]) -> int | float:
    try:
        if re.fullmatch(r"[+-]?0[0-7]+", text):
            return int(text, 8)
        if re.fullmatch(r"[+-]?(?:0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO][0-7]+|\d+)", text):
            return int(text, 0)
        if text.lstrip("+-")[:2].lower() == "0x":
            return float.fromhex(text)
        return float(text)
    except ValueError:
        fail(f"bad number syntax: {_short(text)!r}")


# ---------------------------------------------------------------- parsing: Go's syntax tree


@dataclass(frozen=True)
class _Field:  # .A.B: keys of dot
    names: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class _Dot:
    line: int


@dataclass(frozen=True)
class _Variable:  # $ or $x, then .A.B
    name: str
    names: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class _Function:
    name: str
    line: int


@dataclass(frozen=True)
class _Literal:
    value: str | int | float | bool | None
    line: int


@dataclass(frozen=True)
class _Parenthesised:  # ( pipeline ), then .A.B
    pipe: _Pipe
    names: tuple[str, ...]
    line: int


_Operand = _Field | _Dot | _Variable | _Function | _Literal | _Parenthesised


@dataclass(frozen=True)
class _Pipe:
    variables: tuple[str, ...]  # declared (:=) or assigned (=) before the commands
    assigns: bool
    commands: tuple[tuple[_Operand, ...], ...]
    line: int


@dataclass(frozen=True)
class _Output:  # {{ pipeline }}
    pipe: _Pipe


@dataclass(frozen=True)
class _Block:  # if, with, range
    kind: Literal["if", "with", "range"]
    pipe: _Pipe
    body: tuple[_Node, ...]
    orelse: tuple[_Node, ...]
    line: int
    chained: bool = False  # written as {{ else if }} / {{ else with }}


@dataclass(frozen=True)
class _Call:  # {{ template "name" pipeline }}
    name: str
    pipe: _Pipe | None
    line: int


@dataclass(frozen=True)
class _LoopControl:
    kind: Literal["break", "continue"]
    line: int


_Node = _Text | _Output | _Block | _Call | _LoopControl


@dataclass(frozen=True)
class _Define:
    name: str
    body: tuple[_Node, ...]
    line: int


class _Parser:
    """Go's parser (text/template/parse/parse.go), for the subset courier converts."""

    def __init__(self, pieces: list[_Text | _Action], field: str) -> None:
        self.pieces: Iterator[_Text | _Action] = iter(pieces)
        self.field = field
        self.defines: dict[str, _Define] = {}
        self.loops = 0
        self.tokens: list[_Token] = []
        self.at = 0
        self.line = 1

    def fail(self, message: str, *, unsupported: bool = False) -> NoReturn:
        _fail(self.field, self.line, message, unsupported=unsupported)

    def parse(self) -> tuple[tuple[_Node, ...], dict[str, _Define]]:
        body, end = self.nodes(top=True)
        if end is not None:
            self.fail(f"unexpected {{{{{end}}}}}")
        return body, self.defines

    def nodes(self, *, top: bool = False) -> tuple[tuple[_Node, ...], str | None]:
        """The nodes up to the next ``{{end}}`` or ``{{else}}`` (returned as the second item, the
        tokens after ``else`` left to read), or to the end of the source (``None``)."""
        nodes: list[_Node] = []
        for piece in self.pieces:
            if isinstance(piece, _Text):
                if piece.text:
                    nodes.append(piece)
                continue
            self.tokens, self.at, self.line = list(piece.tokens), 0, piece.line
            self.skip_space()
            first = self.peek()
            if first is None:
                self.fail("missing value for command")
            if first.kind != "keyword":
                nodes.append(_Output(self.pipe(declarations=True)))
                continue
            self.at += 1
            word = first.value
            if word in ("end", "else"):
                if word == "end":
                    self.expect_end()
                return tuple(nodes), word
            node = self.keyword(word, top=top)
            if node is not None:
                nodes.append(node)
        if not top:
            self.fail("unexpected EOF: an {{if}}, {{range}}, {{with}} or {{define}} has no {{end}}")
        return tuple(nodes), None

    def keyword(self, word: str, *, top: bool) -> _Node | None:
        line = self.line
        if word in ("if", "with", "range"):
            return self.block(word, line)
        if word in ("break", "continue"):
            if not self.loops:
                self.fail(f"{{{{{word}}}}} outside {{{{range}}}}")
            self.expect_end()
            return _LoopControl("break" if word == "break" else "continue", line)
        if word == "template":
            name = self.template_name(word)
            return _Call(name, self.optional_pipe(), line)
        if not top:
            self.fail(f"unexpected {{{{{word}}}}}: it may only be at the top level")
        name = self.template_name(word)
        pipe = self.optional_pipe() if word == "block" else None
        if word == "define" and pipe is None:
            self.expect_end()
        body, end = self.nodes()
        if end != "end":
            self.fail(f"unexpected {{{{{end}}}}} in {{{{{word}}}}}")
        if name in self.defines and self.defines[name].body:
            self.line = line
            self.fail(f"template {_short(name)!r} is defined twice")
        self.defines[name] = _Define(name, body, line)
        return _Call(name, pipe, line) if word == "block" else None

    def block(self, kind: str, line: int) -> _Block:
        pipe = self.pipe(declarations=True, ranging=kind == "range")
        if kind == "range":
            self.loops += 1
        body, end = self.nodes()
        if kind == "range":
            self.loops -= 1
        orelse: tuple[_Node, ...] = ()
        if end == "else":
            self.skip_space()
            chained = self.peek()
            if (
                chained is not None
                and chained.value in ("if", "with")
                and chained.kind == "keyword"
            ):
                if chained.value != kind:
                    self.fail(f"{{{{else {chained.value}}}}} inside {{{{{kind}}}}}")
                self.at += 1
                nested = self.block(kind, self.line)
                return _Block(kind, pipe, body, (_chained(nested),), line)  # type: ignore[arg-type]
            self.expect_end()
            orelse, end = self.nodes()
            if end != "end":
                self.fail(f"expected {{{{end}}}}; found {{{{{end}}}}}")
        return _Block(kind, pipe, body, orelse, line)  # type: ignore[arg-type]

    def template_name(self, word: str) -> str:
        self.skip_space()
        token = self.peek()
        if token is None or token.kind != "string":
            self.fail(f"{{{{{word}}}}} needs a quoted template name")
        self.at += 1
        return str(token.value)

    def optional_pipe(self) -> _Pipe | None:
        self.skip_space()
        return None if self.peek() is None else self.pipe(declarations=False)

    # --------------------------------------------------------- pipelines

    def peek(self) -> _Token | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def skip_space(self) -> None:
        while self.at < len(self.tokens) and self.tokens[self.at].kind == "space":
            self.at += 1

    def expect_end(self) -> None:
        self.skip_space()
        token = self.peek()
        if token is not None:
            self.fail(f"unexpected {_describe(token)} in action")

    def pipe(self, *, declarations: bool, ranging: bool = False, inside: bool = False) -> _Pipe:
        line = self.line
        variables, assigns = self.declaration(ranging) if declarations else ((), False)
        commands: list[tuple[_Operand, ...]] = []
        while True:
            commands.append(self.command())
            token = self.peek()
            if token is None or token.kind == ")":
                break
            self.at += 1  # the |
        if (token is None) == inside:
            self.fail("unclosed left paren" if inside else "unexpected right paren")
        if any(not command for command in commands):
            self.fail("missing value for command")
        return _Pipe(variables, assigns, tuple(commands), line)

    def declaration(self, ranging: bool) -> tuple[tuple[str, ...], bool]:
        start = self.at
        names: list[str] = []
        while True:
            self.skip_space()
            token = self.peek()
            if token is None or token.kind != "var" or token.value == "$":
                break
            self.at += 1
            self.skip_space()
            after = self.peek()
            if after is not None and after.kind in (":=", "="):
                self.at += 1
                names.append(token.value)
                if len(names) > (2 if ranging else 1):
                    self.fail("too many declarations")
                return tuple(names), after.kind == "="
            if after is not None and after.kind == "," and ranging and not names:
                self.at += 1
                names.append(token.value)
                continue
            break
        self.at = start
        return (), False

    def command(self) -> tuple[_Operand, ...]:
        operands: list[_Operand] = []
        while True:
            self.skip_space()
            token = self.peek()
            if token is None or token.kind in ("|", ")"):
                return tuple(operands)
            operands.append(self.operand())
            after = self.peek()
            if after is not None and after.kind not in ("space", "|", ")"):
                self.fail(f"unexpected {_describe(after)} in operand")

    def operand(self) -> _Operand:
        token = self.tokens[self.at]
        self.at += 1
        line = token.line
        if token.kind == "field":
            return _Field((token.value, *self.fields()), line)
        if token.kind == "dot":
            return _Dot(line)
        if token.kind == "var":
            return _Variable(token.value, self.fields(), line)
        if token.kind == "ident":
            return _Function(token.value, line)
        if token.kind in ("string", "number", "bool", "nil"):
            return _Literal(token.value, line)
        if token.kind == "(":
            inner = self.pipe(declarations=True, inside=True)
            self.at += 1  # the )
            return _Parenthesised(inner, self.fields(), line)
        if token.kind == "keyword":
            self.fail(f"unexpected {{{{{token.value}}}}} in a command", unsupported=False)
        return self.fail(f"unexpected {_describe(token)} in command")

    def fields(self) -> tuple[str, ...]:
        names: list[str] = []
        while (token := self.peek()) is not None and token.kind == "field":
            names.append(token.value)
            self.at += 1
        return tuple(names)


def _chained(block: _Block) -> _Block:
    return _Block(block.kind, block.pipe, block.body, block.orelse, block.line, chained=True)


def _describe(token: _Token) -> str:
    if token.kind in ("string", "number"):
        return f"{token.kind} {_short(repr(token.value))}"
    return f"{token.kind} {_short(str(token.value))!r}" if token.kind != "space" else "space"


# ---------------------------------------------------------------- emitting Jinja

# Jinja's precedence, as far as the converted expressions go.
_OR, _AND, _NOT, _COMPARE, _FILTER, _POSTFIX = 1, 2, 3, 4, 8, 9
_COMPARISONS = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


@dataclass(frozen=True)
class _Expr:
    text: str
    precedence: int

    def at(self, precedence: int) -> str:
        """The expression as an operand that needs at least ``precedence``."""
        return self.text if self.precedence >= precedence else f"({self.text})"


class _Root:
    """The whole of Kratos's template data (Go's ``.`` at the top, ``$``): its fields are the
    render's top-level names."""


ROOT = _Root()
_Value = _Expr | _Root


@dataclass(frozen=True)
class _Var:
    jinja: str
    namespace: bool  # assigned (=) somewhere: kept in a namespace() so that loops can assign it
    root: bool = False

    def read(self) -> _Value:
        if self.root:
            return ROOT
        return _Expr(f"{self.jinja}.value" if self.namespace else self.jinja, _POSTFIX)


@dataclass
class _Scope:
    dot: _Value
    dollar: _Value
    variables: dict[str, _Var] = field(default_factory=dict)

    def inner(self, dot: _Value | None = None) -> _Scope:
        return _Scope(self.dot if dot is None else dot, self.dollar, dict(self.variables))


class _Emitter:
    """Writes the Jinja of a parsed Go template: defines as macros at the top, then the body."""

    def __init__(self, defines: dict[str, _Define], field: str) -> None:
        self.defines = defines
        self.field = field
        self.used: set[str] = {"dot"}  # the argument of the macros that take a dot
        self.assigned = {name for define in defines.values() for name in _assigned(define.body)}
        # Each define has a macro for dot = the root, and one that takes dot as an argument.
        self.macros: dict[str, tuple[str, str]] = {}
        for name in defines:
            root = self.fresh(f"tmpl_{_identifier(name)}")
            self.macros[name] = (root, self.fresh(f"{root}_dot"))
        self.wanted: dict[tuple[str, bool], bool] = {}  # (define, with dot) -> written

    def fail(self, line: int, message: str, *, unsupported: bool = False) -> NoReturn:
        _fail(self.field, line, message, unsupported=unsupported)

    def fresh(self, base: str, *, numbered: bool = False) -> str:
        """A Jinja name no other name of the conversion has: ``base``, else ``base_2``, ...;
        ``base_1`` first if ``numbered``."""
        number = 1
        name = f"{base}_1" if numbered else base
        while name in self.used or keyword.iskeyword(name):
            number += 1
            name = f"{base}_{number}"
        self.used.add(name)
        return name

    def emit(self, body: tuple[_Node, ...]) -> str:
        self.assigned |= _assigned(body)
        main = self.nodes(body, _Scope(ROOT, ROOT))
        macros: dict[tuple[str, bool], str] = {}
        self.write_wanted(macros)
        for name in self.defines:  # never called: written with a dot, to be checked and read
            if (name, False) not in macros and (name, True) not in macros:
                self.wanted[name, True] = False
        self.write_wanted(macros)
        order = [(name, with_dot) for name in self.defines for with_dot in (False, True)]
        return "".join(macros[key] for key in order if key in macros) + main

    def write_wanted(self, macros: dict[tuple[str, bool], str]) -> None:
        """Write the macros that calls want, and those that their calls want, and so on."""
        while pending := [key for key, written in self.wanted.items() if not written]:
            for key in pending:
                self.wanted[key] = True
                macros[key] = self.macro(*key)

    def macro(self, name: str, with_dot: bool) -> str:
        define = self.defines[name]
        dot: _Value = _Expr("dot", _POSTFIX) if with_dot else ROOT
        body = self.nodes(define.body, _Scope(dot, dot))
        signature = f"{self.macros[name][1]}(dot)" if with_dot else f"{self.macros[name][0]}()"
        return f"{{% macro {signature} %}}{body}{{% endmacro %}}"

    # --------------------------------------------------------- statements

    def nodes(self, nodes: tuple[_Node, ...], scope: _Scope) -> str:
        return "".join(self.node(node, scope) for node in nodes)

    def node(self, node: _Node, scope: _Scope) -> str:
        if isinstance(node, _Text):
            return re.sub(r"\{(?=[{%#]|$)", '{{ "{" }}', node.text)
        if isinstance(node, _Output):
            return self.output(node.pipe, scope)
        if isinstance(node, _Block):
            return {"if": self.if_, "with": self.with_, "range": self.range_}[node.kind](
                node, scope
            )
        if isinstance(node, _Call):
            return self.call(node, scope)
        return f"{{% {node.kind} %}}"

    def output(self, pipe: _Pipe, scope: _Scope) -> str:
        if pipe.variables:
            return self.declare(pipe, scope)
        return f"{{{{ {self.expression(self.pipe(pipe, scope), pipe.line)} }}}}"

    def declare(self, pipe: _Pipe, scope: _Scope) -> str:
        """``$x := pipeline`` / ``$x = pipeline``: a ``{% set %}``; ``$x := .`` at the top holds
        the root, which needs no Jinja variable."""
        (name,) = pipe.variables
        value = self.pipe(pipe, scope)
        if pipe.assigns:
            variable = scope.variables.get(name)
            if variable is None:
                self.fail(pipe.line, f"undefined variable {_short(name)}")
            if variable.root or isinstance(value, _Root):
                self.fail(
                    pipe.line,
                    f"{_short(name)} cannot be assigned the root data or be "
                    "reassigned when it holds it",
                    unsupported=True,
                )
            target = f"{variable.jinja}.value" if variable.namespace else variable.jinja
            return f"{{% set {target} = {value.text} %}}"
        if isinstance(value, _Root):
            scope.variables[name] = _Var("", namespace=False, root=True)
            if name in self.assigned:
                self.fail(
                    pipe.line,
                    f"{_short(name)} holds the root data and cannot be reassigned",
                    unsupported=True,
                )
            return ""
        variable = self.variable(name, scope)
        if variable.namespace:
            return f"{{% set {variable.jinja} = namespace(value={value.text}) %}}"
        return f"{{% set {variable.jinja} = {value.text} %}}"

    def variable(self, name: str, scope: _Scope) -> _Var:
        base = "v_" + (_identifier(name[1:]) or "var")
        variable = _Var(self.fresh(base), namespace=name in self.assigned)
        scope.variables[name] = variable
        return variable

    def condition(self, pipe: _Pipe, scope: _Scope) -> tuple[str, str]:
        """The ``{% set %}`` a declaration in an if's pipeline needs, and the condition."""
        if pipe.variables:
            setting = self.declare(pipe, scope)
            value = scope.variables[pipe.variables[0]].read()
        else:
            setting, value = "", self.pipe(pipe, scope)
        return setting, "true" if isinstance(value, _Root) else value.text

    def if_(self, node: _Block, scope: _Scope) -> str:
        inner = scope.inner()
        setting, test = self.condition(node.pipe, inner)
        out = [f"{setting}{{% if {test} %}}", self.nodes(node.body, inner.inner())]
        orelse = node.orelse
        while (
            len(orelse) == 1
            and isinstance(chained := orelse[0], _Block)
            and chained.chained
            and not chained.pipe.variables
        ):
            out += [f"{{% elif {self.condition(chained.pipe, inner)[1]} %}}"]
            out += [self.nodes(chained.body, inner.inner())]
            orelse = chained.orelse
        if orelse:
            out += ["{% else %}", self.nodes(orelse, inner.inner())]
        return "".join(out) + "{% endif %}"

    def with_(self, node: _Block, scope: _Scope) -> str:
        inner = scope.inner()
        value = self.pipe(node.pipe, inner)
        if isinstance(value, _Root):  # with the root: always true
            return self.nodes(node.body, inner.inner(ROOT))
        (name,) = node.pipe.variables or ("",)
        if name and name not in self.assigned:
            dot = self.variable(name, inner)
        else:
            dot = _Var(self.fresh("dot", numbered=True), namespace=False)
        out = [f"{{% set {dot.jinja} = {value.text} %}}"]
        if name and name in self.assigned:
            out.append(
                f"{{% set {self.variable(name, inner).jinja} = namespace(value={dot.jinja}) %}}"
            )
        out += [f"{{% if {dot.jinja} %}}", self.nodes(node.body, inner.inner(dot.read()))]
        if node.orelse:
            out += ["{% else %}", self.nodes(node.orelse, inner.inner())]
        return "".join(out) + "{% endif %}"

    def range_(self, node: _Block, scope: _Scope) -> str:
        pipe = node.pipe
        if pipe.assigns:
            self.fail(
                pipe.line,
                "range with = (assigning existing variables) is not supported",
                unsupported=True,
            )
        value = self.pipe(_Pipe((), False, pipe.commands, pipe.line), scope)
        if isinstance(value, _Root):
            self.fail(pipe.line, "range cannot iterate over the whole template data")
        inner = scope.inner()
        targets, settings = [], []
        for name in pipe.variables or ("",):
            if name and name not in self.assigned:
                targets.append(self.variable(name, inner).jinja)
                continue
            target = self.fresh("dot", numbered=True)
            targets.append(target)
            if name:
                setting = f"namespace(value={target})"
                settings.append(f"{{% set {self.variable(name, inner).jinja} = {setting} %}}")
        dot = _Expr(targets[-1], _POSTFIX)
        helper = "pairs" if len(targets) == 2 else "elements"
        out = [f"{{% for {', '.join(targets)} in {value.at(_FILTER)} | {helper} %}}", *settings]
        out.append(self.nodes(node.body, inner.inner(dot)))
        if node.orelse:
            out += ["{% else %}", self.nodes(node.orelse, scope.inner())]
        return "".join(out) + "{% endfor %}"

    def call(self, node: _Call, scope: _Scope) -> str:
        if node.name not in self.defines:
            self.fail(
                node.line,
                f"template {_short(node.name)!r} is not defined in this "
                "template: courier cannot include other files (put its {{define}} here)",
                unsupported=True,
            )
        value = self.pipe(node.pipe, scope) if node.pipe else _Expr("none", _POSTFIX)
        root, with_dot = self.macros[node.name]
        if isinstance(value, _Root):
            self.wanted.setdefault((node.name, False), False)
            return f"{{{{ {root}() }}}}"
        self.wanted.setdefault((node.name, True), False)
        return f"{{{{ {with_dot}({value.text}) }}}}"

    # --------------------------------------------------------- expressions

    def expression(self, value: _Value, line: int) -> str:
        if isinstance(value, _Root):
            self.fail(line, _ROOT_AS_VALUE, unsupported=True)
        return value.text

    def pipe(self, pipe: _Pipe, scope: _Scope) -> _Value:
        """The value of a pipeline: each command after the first gets the value so far as its
        last argument, as Go passes it."""
        value: _Value | None = None
        for command in pipe.commands:
            value = self.command(command, value, scope, pipe.line)
        assert value is not None  # the parser refuses empty pipelines
        return value

    def command(
        self, command: tuple[_Operand, ...], piped: _Value | None, scope: _Scope, line: int
    ) -> _Value:
        head, *args = command
        values = [self.operand(arg, scope) for arg in args]
        if isinstance(head, _Function):
            return self.function(head, [*values, *([piped] if piped is not None else [])])
        if values or piped is not None:
            self.fail(head.line, f"{_operand_text(head)} is not a function: it takes no arguments")
        return self.operand(head, scope)

    def operand(self, operand: _Operand, scope: _Scope) -> _Value:
        if isinstance(operand, _Field):
            return self.fields(scope.dot, operand.names, operand.line)
        if isinstance(operand, _Dot):
            return scope.dot
        if isinstance(operand, _Variable):
            if operand.name == "$":
                return self.fields(scope.dollar, operand.names, operand.line)
            variable = scope.variables.get(operand.name)
            if variable is None:
                self.fail(operand.line, f"undefined variable {_short(operand.name)}")
            return self.fields(variable.read(), operand.names, operand.line)
        if isinstance(operand, _Function):
            return self.function(operand, [])
        if isinstance(operand, _Literal):
            return _literal(operand.value)
        if operand.pipe.variables:
            self.fail(
                operand.line, "a declaration inside parentheses is not supported", unsupported=True
            )
        value = self.pipe(operand.pipe, scope)
        return self.fields(value, operand.names, operand.line) if operand.names else value

    def fields(self, base: _Value, names: tuple[str, ...], line: int) -> _Value:
        """``base.A.B``: on the root, ``A`` is a Go field name (its JSON key is the render's
        name); below, the names are map keys."""
        if not names:
            return base
        if isinstance(base, _Root):
            first, *rest = names
            if first not in _JSON_KEYS:
                self.fail(line, _unknown_field(first))
            return _access(_Expr(_JSON_KEYS[first], _POSTFIX), tuple(rest))
        return _access(base, names)

    def function(self, head: _Function, args: list[_Value]) -> _Value:
        name, line = head.name, head.line
        if any(isinstance(arg, _Root) for arg in args):
            self.fail(line, _ROOT_AS_VALUE, unsupported=True)
        values = [arg for arg in args if isinstance(arg, _Expr)]
        if name in _OPERATORS:
            return self.operator(name, values, line)
        if name in REFUSED:
            self.fail(
                line,
                f"the Go template function {name!r} is not supported: {REFUSED[name]}",
                unsupported=True,
            )
        function = FUNCTIONS.get(name)
        if function is None:
            self.fail(
                line,
                f"the Go template function {_short(name)!r} is not supported: "
                "docs/go-templates.md lists the ones courier converts",
                unsupported=True,
            )
        fewest, most = function.arity
        if len(values) < fewest or (most is not None and len(values) > most):
            wanted = f"{fewest}" if fewest == most else f"at least {fewest}"
            self.fail(
                line, f"wrong number of arguments for {name}: want {wanted}, got {len(values)}"
            )
        if function.form == "global" or not values:
            return _Expr(f"{name}({', '.join(v.text for v in values)})", _POSTFIX)
        *before, last = values
        arguments = f"({', '.join(v.text for v in before)})" if before else ""
        return _Expr(f"{last.at(_FILTER)} | {name}{arguments}", _FILTER)

    def operator(self, name: str, values: list[_Expr], line: int) -> _Expr:
        """Go's comparison, logic and indexing functions, as Jinja's operators."""
        fewest = {"not": 1, "index": 1, "slice": 1, "and": 1, "or": 1}.get(name, 2)
        most: int | None = {"not": 1, "slice": 3}.get(name, 2)
        if name in ("and", "or", "index", "eq"):
            most = None
        if len(values) < fewest or (most is not None and len(values) > most):
            self.fail(line, f"wrong number of arguments for {name}: got {len(values)}")
        if name in ("and", "or"):
            joined = f" {name} ".join(v.at(_NOT if name == "and" else _AND) for v in values)
            return _Expr(joined, _AND if name == "and" else _OR) if len(values) > 1 else values[0]
        if name == "not":
            return _Expr(f"not {values[0].at(_NOT)}", _NOT)
        first, *rest = values
        if name == "index":
            keys = "".join(f"[{key.text}]" for key in rest)
            return _Expr(first.at(_POSTFIX) + keys, _POSTFIX) if rest else first
        if name == "slice":  # slice x i j is x[i:j]
            bounds = ":".join(key.text for key in rest) if len(rest) == 2 else ""
            bounds = bounds or (f"{rest[0].text}:" if rest else ":")
            return _Expr(f"{first.at(_POSTFIX)}[{bounds}]", _POSTFIX)
        if name == "eq" and len(rest) > 1:  # Go: eq a b c is a == b or a == c
            options = ", ".join(v.text for v in rest)
            return _Expr(f"{first.at(_FILTER)} in [{options}]", _COMPARE)
        return _Expr(f"{first.at(_FILTER)} {_COMPARISONS[name]} {rest[0].at(_FILTER)}", _COMPARE)


_ROOT_AS_VALUE = (
    "'.' here is the whole of Kratos's template data: courier can pass it to a template "
    '({{template "name" .}}) or read its fields, but not use it as a value'
)


def _unknown_field(name: str) -> str:
    fields = ", ".join(f".{go}" for go in GO_FIELD_NAMES.values())
    hint = f" (its Go name is .{GO_FIELD_NAMES[name]})" if name in GO_FIELD_NAMES else ""
    return f".{_short(name)} is not a field of Kratos's template data{hint}; the fields: {fields}"


def _operand_text(operand: _Operand) -> str:
    if isinstance(operand, _Field):
        return _short("." + ".".join(operand.names))
    if isinstance(operand, _Variable):
        return _short(".".join((operand.name, *operand.names)))
    if isinstance(operand, _Literal):
        return _short(repr(operand.value))
    return "a parenthesised pipeline" if isinstance(operand, _Parenthesised) else "."


def _access(base: _Expr, names: tuple[str, ...]) -> _Expr:
    text = base.at(_POSTFIX)
    for name in names:
        safe = name.isascii() and name.isidentifier() and not name.startswith("_")
        if safe and not keyword.iskeyword(name) and name not in ("true", "false", "none"):
            text += f".{name}"
        else:
            text += f"[{json.dumps(name, ensure_ascii=False)}]"
    return _Expr(text, _POSTFIX)


def _literal(value: str | int | float | bool | None) -> _Expr:
    if value is None:
        return _Expr("none", _POSTFIX)
    if isinstance(value, bool):
        return _Expr("true" if value else "false", _POSTFIX)
    if isinstance(value, str):
        return _Expr(json.dumps(value, ensure_ascii=False), _POSTFIX)
    return _Expr(repr(value), _FILTER if value < 0 else _POSTFIX)


def _identifier(name: str) -> str:
    """``name`` as part of a Jinja name: ``email.body.html.en_US.gotmpl`` →
    ``email_body_html_en_US_gotmpl``."""
    return re.sub(r"[^0-9A-Za-z_]", "_", name)


def _assigned(nodes: tuple[_Node, ...]) -> set[str]:
    """The variables that an ``=`` assigns somewhere in ``nodes``."""
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, _Output) and node.pipe.assigns:
            names.update(node.pipe.variables)
        if isinstance(node, _Block):
            names |= _assigned(node.body) | _assigned(node.orelse)
    return names
