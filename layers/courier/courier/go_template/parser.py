"""Go's parser (``text/template/parse/parse.go``), for the subset courier converts.

:class:`Parser` reads the lexer's text and actions into the tree of :mod:`.tree`: outputs and
pipelines (``$x := a | f b``), the control structures ``if``/``else if``, ``with``/``else with``,
``range`` (with ``break`` and ``continue``), and named templates: ``define``, ``template`` and
``block`` (a ``define`` and a ``template`` in one). It refuses what Go's parser refuses, naming
the line: a missing ``{{end}}``, a ``define`` below the top level, a name defined twice, ...

Example
-------
>>> from courier.go_template.lexer import Lexer
>>> pieces = Lexer('{{ define "x" }}{{ .To }}{{ end }}{{ template "x" . }}', field="f").pieces()
>>> body, defines = Parser(pieces, field="f").parse()
>>> [type(node).__name__ for node in body], list(defines)
(['Call'], ['x'])
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NoReturn

from courier.go_template.failures import fail, short
from courier.go_template.lexer import Action, Text, Token
from courier.go_template.tree import (
    Block,
    Call,
    Constant,
    Define,
    Dot,
    Field,
    Function,
    LoopControl,
    Node,
    Operand,
    Output,
    Parenthesised,
    Pipe,
    Variable,
)

__all__ = ["Parser"]


class Parser:
    """Go's parser (text/template/parse/parse.go), for the subset courier converts."""

    def __init__(self, pieces: list[Text | Action], *, field: str) -> None:
        self.pieces: Iterator[Text | Action] = iter(pieces)
        self.field = field
        self.defines: dict[str, Define] = {}
        self.loops = 0
        self.tokens: list[Token] = []
        self.at = 0
        self.line = 1

    def fail(self, message: str, *, unsupported: bool = False) -> NoReturn:
        fail(self.field, self.line, message, unsupported=unsupported)

    def parse(self) -> tuple[tuple[Node, ...], dict[str, Define]]:
        """The template's body, and its named templates by name."""
        body, end = self.nodes(top=True)
        if end is not None:
            self.fail(f"unexpected {{{{{end}}}}}")
        return body, self.defines

    def nodes(self, *, top: bool = False) -> tuple[tuple[Node, ...], str | None]:
        """The nodes up to the next ``{{end}}`` or ``{{else}}`` (returned as the second item, the
        tokens after ``else`` left to read), or to the end of the source (``None``)."""
        nodes: list[Node] = []
        for piece in self.pieces:
            if isinstance(piece, Text):
                if piece.text:
                    nodes.append(piece)
                continue
            self.tokens, self.at, self.line = list(piece.tokens), 0, piece.line
            self.skip_space()
            first = self.peek()
            if first is None:
                self.fail("missing value for command")
            if first.kind != "keyword":
                nodes.append(Output(self.pipe(declarations=True)))
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

    def keyword(self, word: str, *, top: bool) -> Node | None:
        line = self.line
        if word in ("if", "with", "range"):
            return self.block(word, line)
        if word in ("break", "continue"):
            if not self.loops:
                self.fail(f"{{{{{word}}}}} outside {{{{range}}}}")
            self.expect_end()
            return LoopControl("break" if word == "break" else "continue", line)
        if word == "template":
            name = self.template_name(word)
            return Call(name, self.optional_pipe(), line)
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
            self.fail(f"template {short(name)!r} is defined twice")
        self.defines[name] = Define(name, body, line)
        return Call(name, pipe, line) if word == "block" else None

    def block(self, kind: str, line: int) -> Block:
        pipe = self.pipe(declarations=True, ranging=kind == "range")
        if kind == "range":
            self.loops += 1
        body, end = self.nodes()
        if kind == "range":
            self.loops -= 1
        orelse: tuple[Node, ...] = ()
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
                return Block(kind, pipe, body, (_chained(nested),), line)  # type: ignore[arg-type]
            self.expect_end()
            orelse, end = self.nodes()
            if end != "end":
                self.fail(f"expected {{{{end}}}}; found {{{{{end}}}}}")
        return Block(kind, pipe, body, orelse, line)  # type: ignore[arg-type]

    def template_name(self, word: str) -> str:
        self.skip_space()
        token = self.peek()
        if token is None or token.kind != "string":
            self.fail(f"{{{{{word}}}}} needs a quoted template name")
        self.at += 1
        return str(token.value)

    def optional_pipe(self) -> Pipe | None:
        self.skip_space()
        return None if self.peek() is None else self.pipe(declarations=False)

    # --------------------------------------------------------- pipelines

    def peek(self) -> Token | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def skip_space(self) -> None:
        while self.at < len(self.tokens) and self.tokens[self.at].kind == "space":
            self.at += 1

    def expect_end(self) -> None:
        self.skip_space()
        token = self.peek()
        if token is not None:
            self.fail(f"unexpected {_describe(token)} in action")

    def pipe(self, *, declarations: bool, ranging: bool = False, inside: bool = False) -> Pipe:
        line = self.line
        variables, assigns = self.declaration(ranging) if declarations else ((), False)
        commands: list[tuple[Operand, ...]] = []
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
        return Pipe(variables, assigns, tuple(commands), line)

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

    def command(self) -> tuple[Operand, ...]:
        operands: list[Operand] = []
        while True:
            self.skip_space()
            token = self.peek()
            if token is None or token.kind in ("|", ")"):
                return tuple(operands)
            operands.append(self.operand())
            after = self.peek()
            if after is not None and after.kind not in ("space", "|", ")"):
                self.fail(f"unexpected {_describe(after)} in operand")

    def operand(self) -> Operand:
        token = self.tokens[self.at]
        self.at += 1
        line = token.line
        if token.kind == "field":
            return Field((token.value, *self.fields()), line)
        if token.kind == "dot":
            return Dot(line)
        if token.kind == "var":
            return Variable(token.value, self.fields(), line)
        if token.kind == "ident":
            return Function(token.value, line)
        if token.kind in ("string", "number", "bool", "nil"):
            return Constant(token.value, line)
        if token.kind == "(":
            inner = self.pipe(declarations=True, inside=True)
            self.at += 1  # the )
            return Parenthesised(inner, self.fields(), line)
        if token.kind == "keyword":
            self.fail(f"unexpected {{{{{token.value}}}}} in a command")
        return self.fail(f"unexpected {_describe(token)} in command")

    def fields(self) -> tuple[str, ...]:
        names: list[str] = []
        while (token := self.peek()) is not None and token.kind == "field":
            names.append(token.value)
            self.at += 1
        return tuple(names)


def _chained(block: Block) -> Block:
    return Block(block.kind, block.pipe, block.body, block.orelse, block.line, chained=True)


def _describe(token: Token) -> str:
    if token.kind in ("string", "number"):
        return f"{token.kind} {short(repr(token.value))}"
    return f"{token.kind} {short(str(token.value))!r}" if token.kind != "space" else "space"
