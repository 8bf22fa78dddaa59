r"""Go's lexer (``text/template/parse/lex.go``), for the subset courier converts.

A Go template is text and actions. :class:`Lexer` cuts the source into :class:`Text` and
:class:`Action` pieces, an action being its :class:`Token`\ s. The trim markers are applied here:
``{{- `` drops the white space before the action, `` -}}`` the white space after it. Comments
(``{{/* ... */}}``) are dropped. Literals are read as Go reads them: strings with Go's escapes,
raw strings, character constants and Go's number syntax.

Example
-------
>>> Lexer("Hi {{- .To -}} !", field="f").pieces()  # doctest: +NORMALIZE_WHITESPACE
[Text(text='Hi'), Action(tokens=(Token(kind='field', value='To', line=1),), line=1),
 Text(text='!')]
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from courier.go_template.failures import fail, short

__all__ = ["KEYWORDS", "SPACE", "Action", "Lexer", "Text", "Token"]

SPACE = " \t\r\n"  # Go's white space in templates, for trimming and between operands
KEYWORDS = (
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
"""Go's keywords in an action."""


@dataclass(frozen=True)
class Token:
    """One token of an action, on the line it starts on."""

    kind: str  # space field dot var ident keyword string number bool nil ( ) | := = ,
    value: Any
    line: int


@dataclass(frozen=True)
class Text:
    """Text between actions, trimmed as the trim markers next to it say."""

    text: str


@dataclass(frozen=True)
class Action:
    """An action ``{{ ... }}``: its tokens, and the line of the first."""

    tokens: tuple[Token, ...]
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
_QUOTED = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
_CHAR_CONSTANT = re.compile(r"'((?:[^'\\\n]|\\.[0-9a-fA-F]*)+)'")


class Lexer:
    """Go's lexer (text/template/parse/lex.go), for the subset courier converts: the source as
    text and actions, with ``{{-``/``-}}`` trimming applied and comments dropped."""

    def __init__(self, source: str, *, field: str) -> None:
        self.source = source
        self.field = field
        self.pos = 0
        self.line = 1

    def fail(self, message: str, *, unsupported: bool = False) -> NoReturn:
        fail(self.field, self.line, message, unsupported=unsupported)

    def pieces(self) -> list[Text | Action]:
        """The whole source as text and actions, in order."""
        pieces: list[Text | Action] = []
        source = self.source
        while True:
            start = source.find("{{", self.pos)
            if start < 0:
                pieces.append(Text(source[self.pos :]))
                return pieces
            left_trim = source[start + 2 : start + 3] == "-" and source[start + 3 : start + 4] in (
                *SPACE,
            )
            text = source[self.pos : start]
            pieces.append(Text(text.rstrip(SPACE) if left_trim else text))
            self.advance_to(start)
            self.pos = start + (4 if left_trim else 2)
            if source.startswith("/*", self.pos):
                right_trim = self.comment()
            else:
                tokens, right_trim = self.action()
                pieces.append(Action(tuple(tokens), tokens[0].line if tokens else self.line))
            if right_trim:
                end = self.pos
                while end < len(source) and source[end] in SPACE:
                    end += 1
                self.advance_to(end)

    def advance_to(self, position: int) -> None:
        self.line += self.source.count("\n", self.pos, position)
        self.pos = position

    def at_right_delimiter(self) -> tuple[bool, bool]:
        """Whether the action ends here, and whether with a trim marker (`` -}}``)."""
        rest = self.source[self.pos : self.pos + 4]
        if rest[:1] in (*SPACE,) and rest[1:] == "-}}":
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

    def action(self) -> tuple[list[Token], bool]:
        tokens: list[Token] = []
        source = self.source
        while True:
            done, right_trim = self.at_right_delimiter()
            if done:
                self.pos += 4 if right_trim else 2
                return tokens, right_trim
            if self.pos >= len(source):
                self.fail("unclosed action")
            char = source[self.pos]
            if char in SPACE:
                end = self.pos
                while end < len(source) and source[end] in SPACE:
                    end += 1
                if source.startswith("-}}", end) and end - 1 > self.pos:
                    end -= 1  # the last space belongs to the trim marker
                tokens.append(Token("space", " ", self.line))
                self.advance_to(end)
            else:
                tokens.append(self.token(char))

    def token(self, char: str) -> Token:
        source, start, line = self.source, self.pos, self.line
        if char == "." and not source[start + 1 : start + 2].isdigit():
            match = _IDENTIFIER.match(source, start + 1)
            self.pos = match.end() if match else start + 1
            return Token("field", match.group(), line) if match else Token("dot", ".", line)
        if char == "$":
            match = _IDENTIFIER.match(source, start + 1)
            self.pos = match.end() if match else start + 1
            return Token("var", "$" + (match.group() if match else ""), line)
        if char in "()|,":
            self.pos += 1
            return Token(char, char, line)
        if source.startswith(":=", start):
            self.pos += 2
            return Token(":=", ":=", line)
        if char == "=":
            self.pos += 1
            return Token("=", "=", line)
        if char == '"':
            return Token("string", self.quoted(), line)
        if char == "`":
            end = source.find("`", start + 1)
            if end < 0:
                self.fail("unterminated raw quoted string")
            self.advance_to(end + 1)
            return Token("string", source[start + 1 : end].replace("\r", ""), line)
        if char == "'":
            return Token("number", self.char_constant(), line)
        if char in "+-." or char.isdigit():
            return Token("number", self.number(), line)
        match = _IDENTIFIER.match(source, start)
        if not match:
            self.fail(f"unexpected {char!r} in an action")
        self.pos = match.end()
        return self.word(match.group(), line)

    def word(self, word: str, line: int) -> Token:
        if word in ("true", "false"):
            return Token("bool", word == "true", line)
        if word == "nil":
            return Token("nil", None, line)
        return Token("keyword" if word in KEYWORDS else "ident", word, line)

    def quoted(self) -> str:
        match = _QUOTED.match(self.source, self.pos)
        if not match:
            self.fail("unterminated quoted string")
        self.pos = match.end()
        return _unquote(match.group(1), self.fail)

    def char_constant(self) -> int:
        match = _CHAR_CONSTANT.match(self.source, self.pos)
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
            self.fail(f"bad number syntax: {short(self.source[self.pos : end + 1])!r}")
        self.pos = end
        if text.endswith("i"):
            self.fail("complex numbers are not supported", unsupported=True)
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
        fail(f"bad number syntax: {short(text)!r}")
