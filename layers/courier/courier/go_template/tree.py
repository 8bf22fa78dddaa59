"""Go's syntax tree (``text/template/parse/node.go``), for the subset courier converts.

:class:`~courier.go_template.parser.Parser` builds it from the lexer's pieces and
:class:`~courier.go_template.emitter.Emitter` writes it as Jinja. A template is a tuple of
:data:`Node`: text, outputs ``{{ pipeline }}``, the blocks ``if``, ``with`` and ``range``,
calls ``{{ template "name" pipeline }}`` and ``{{ break }}``/``{{ continue }}``. A
``{{ define }}`` (or ``{{ block }}``) is a :class:`Define`, kept apart from the body. A pipeline
(:class:`Pipe`) is commands joined by ``|``, a command a tuple of :data:`Operand`.

Example
-------
>>> Output(Pipe((), False, ((Field(("To",), 1),),), 1))  # {{ .To }}
Output(pipe=Pipe(variables=(), assigns=False, commands=((Field(names=('To',), line=1),),), line=1))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from courier.go_template.lexer import Text

__all__ = [
    "Block",
    "Call",
    "Constant",
    "Define",
    "Dot",
    "Field",
    "Function",
    "LoopControl",
    "Node",
    "Operand",
    "Output",
    "Parenthesised",
    "Pipe",
    "Variable",
]


@dataclass(frozen=True)
class Field:
    """``.A.B``: keys of dot."""

    names: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class Dot:
    """``.``: dot itself."""

    line: int


@dataclass(frozen=True)
class Variable:
    """``$`` or ``$x``, then ``.A.B``."""

    name: str
    names: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class Function:
    """A function's name, as a command's first operand (or alone)."""

    name: str
    line: int


@dataclass(frozen=True)
class Constant:
    """A string, number, ``true``/``false`` or ``nil``."""

    value: str | int | float | bool | None
    line: int


@dataclass(frozen=True)
class Parenthesised:
    """``( pipeline )``, then ``.A.B``."""

    pipe: Pipe
    names: tuple[str, ...]
    line: int


Operand = Field | Dot | Variable | Function | Constant | Parenthesised


@dataclass(frozen=True)
class Pipe:
    """A pipeline: commands joined by ``|``, after an optional declaration or assignment."""

    variables: tuple[str, ...]  # declared (:=) or assigned (=) before the commands
    assigns: bool
    commands: tuple[tuple[Operand, ...], ...]
    line: int


@dataclass(frozen=True)
class Output:
    """``{{ pipeline }}``."""

    pipe: Pipe


@dataclass(frozen=True)
class Block:
    """``if``, ``with`` or ``range``, with its ``else`` part."""

    kind: Literal["if", "with", "range"]
    pipe: Pipe
    body: tuple[Node, ...]
    orelse: tuple[Node, ...]
    line: int
    chained: bool = False  # written as {{ else if }} / {{ else with }}


@dataclass(frozen=True)
class Call:
    """``{{ template "name" pipeline }}`` (and where a ``{{ block }}`` stands)."""

    name: str
    pipe: Pipe | None
    line: int


@dataclass(frozen=True)
class LoopControl:
    """``{{ break }}`` or ``{{ continue }}``."""

    kind: Literal["break", "continue"]
    line: int


Node = Text | Output | Block | Call | LoopControl


@dataclass(frozen=True)
class Define:
    """``{{ define "name" }}`` (or ``{{ block }}``): a named template's body."""

    name: str
    body: tuple[Node, ...]
    line: int
