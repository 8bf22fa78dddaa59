"""Go's pipelines as Jinja expressions: operands, fields, functions and operators.

An :class:`ExpressionWriter` turns a :class:`~courier.go_template.tree.Pipe` into an
:class:`Expr`, parenthesised only where Jinja's :class:`Precedence` needs it. Each command after
the first gets the value so far as its last argument, as in Go; a function of
:data:`~courier.go_template.functions.FUNCTIONS` becomes a filter (``x | replace("a", "b")``) or
a global (``printf("%d", n)``); ``eq``, ``and``, ``index``, ``slice``, ... become Jinja's
operators. The root data (Go's ``.`` at the top, ``$``) is :data:`ROOT`: its Go field names are
the render's top-level names (``.RecoveryCode`` is ``recovery_code``).

Example
-------
>>> from courier.go_template.tree import Field, Function, Pipe
>>> writer = ExpressionWriter(field="f")
>>> pipe = Pipe((), False, ((Field(("To",), 1),), (Function("upper", 1),)), 1)  # .To | upper
>>> writer.pipe(pipe, Scope(ROOT, ROOT)).text
'to | upper'
"""

from __future__ import annotations

import json
import keyword
from dataclasses import dataclass, field
from enum import IntEnum
from typing import NoReturn

from courier.go_template.failures import fail, short
from courier.go_template.functions import FUNCTIONS, REFUSED
from courier.go_template.tree import (
    Constant,
    Dot,
    Field,
    Function,
    Operand,
    Parenthesised,
    Pipe,
    Variable,
)
from courier.template_data import GO_FIELD_NAMES

__all__ = ["ROOT", "Binding", "Expr", "ExpressionWriter", "Precedence", "Root", "Scope", "Value"]

_OPERATORS = ("eq", "ne", "lt", "le", "gt", "ge", "and", "or", "not", "index", "slice")
_JSON_KEYS = {go: key for key, go in GO_FIELD_NAMES.items()}


class Precedence(IntEnum):
    """Jinja's precedence, as far as the converted expressions go."""

    OR = 1
    AND = 2
    NOT = 3
    COMPARE = 4
    FILTER = 8
    POSTFIX = 9


_COMPARISONS = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


@dataclass(frozen=True)
class Expr:
    """A Jinja expression, and how tightly it binds."""

    text: str
    precedence: int

    def at(self, precedence: int) -> str:
        """The expression as an operand that needs at least ``precedence``."""
        return self.text if self.precedence >= precedence else f"({self.text})"


class Root:
    """The whole of Kratos's template data (Go's ``.`` at the top, ``$``): its fields are the
    render's top-level names."""


ROOT = Root()
Value = Expr | Root


@dataclass(frozen=True)
class Binding:
    """Where a Go variable lives in the Jinja: its Jinja name, or the root data itself."""

    jinja: str
    namespace: bool  # assigned (=) somewhere: kept in a namespace() so that loops can assign it
    root: bool = False

    def read(self) -> Value:
        """The variable's value, as an expression (or the root)."""
        if self.root:
            return ROOT
        return Expr(f"{self.jinja}.value" if self.namespace else self.jinja, Precedence.POSTFIX)


@dataclass
class Scope:
    """What ``.`` and ``$`` are at a place in the template, and the variables in sight."""

    dot: Value
    dollar: Value
    variables: dict[str, Binding] = field(default_factory=dict)

    def inner(self, dot: Value | None = None) -> Scope:
        """A scope inside this one (Go's variables end with the block), with dot ``dot``."""
        return Scope(self.dot if dot is None else dot, self.dollar, dict(self.variables))


class ExpressionWriter:
    """Writes Go's pipelines as Jinja expressions, for the template of the setting ``field``."""

    def __init__(self, *, field: str) -> None:
        self.field = field

    def fail(self, line: int, message: str, *, unsupported: bool = False) -> NoReturn:
        fail(self.field, line, message, unsupported=unsupported)

    def expression(self, value: Value, line: int) -> str:
        """``value`` as the Jinja of an output: the root data cannot be one."""
        if isinstance(value, Root):
            self.fail(line, _ROOT_AS_VALUE, unsupported=True)
        return value.text

    def pipe(self, pipe: Pipe, scope: Scope) -> Value:
        """The value of a pipeline: each command after the first gets the value so far as its
        last argument, as Go passes it."""
        value: Value | None = None
        for command in pipe.commands:
            value = self.command(command, value, scope)
        assert value is not None  # the parser refuses empty pipelines
        return value

    def command(self, command: tuple[Operand, ...], piped: Value | None, scope: Scope) -> Value:
        head, *args = command
        values = [self.operand(arg, scope) for arg in args]
        if isinstance(head, Function):
            return self.function(head, [*values, *([piped] if piped is not None else [])])
        if values or piped is not None:
            self.fail(head.line, f"{_operand_text(head)} is not a function: it takes no arguments")
        return self.operand(head, scope)

    def operand(self, operand: Operand, scope: Scope) -> Value:
        if isinstance(operand, Field):
            return self.fields(scope.dot, operand.names, operand.line)
        if isinstance(operand, Dot):
            return scope.dot
        if isinstance(operand, Variable):
            if operand.name == "$":
                return self.fields(scope.dollar, operand.names, operand.line)
            variable = scope.variables.get(operand.name)
            if variable is None:
                self.fail(operand.line, f"undefined variable {short(operand.name)}")
            return self.fields(variable.read(), operand.names, operand.line)
        if isinstance(operand, Function):
            return self.function(operand, [])
        if isinstance(operand, Constant):
            return _literal(operand.value)
        if operand.pipe.variables:
            self.fail(
                operand.line, "a declaration inside parentheses is not supported", unsupported=True
            )
        value = self.pipe(operand.pipe, scope)
        return self.fields(value, operand.names, operand.line) if operand.names else value

    def fields(self, base: Value, names: tuple[str, ...], line: int) -> Value:
        """``base.A.B``: on the root, ``A`` is a Go field name (its JSON key is the render's
        name); below, the names are map keys."""
        if not names:
            return base
        if isinstance(base, Root):
            first, *rest = names
            if first not in _JSON_KEYS:
                self.fail(line, _unknown_field(first))
            return _access(Expr(_JSON_KEYS[first], Precedence.POSTFIX), tuple(rest))
        return _access(base, names)

    def function(self, head: Function, args: list[Value]) -> Value:
        name, line = head.name, head.line
        if any(isinstance(arg, Root) for arg in args):
            self.fail(line, _ROOT_AS_VALUE, unsupported=True)
        values = [arg for arg in args if isinstance(arg, Expr)]
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
                f"the Go template function {short(name)!r} is not supported: "
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
            return Expr(f"{name}({', '.join(v.text for v in values)})", Precedence.POSTFIX)
        *before, last = values
        arguments = f"({', '.join(v.text for v in before)})" if before else ""
        return Expr(f"{last.at(Precedence.FILTER)} | {name}{arguments}", Precedence.FILTER)

    def operator(self, name: str, values: list[Expr], line: int) -> Expr:
        """Go's comparison, logic and indexing functions, as Jinja's operators."""
        fewest = {"not": 1, "index": 1, "slice": 1, "and": 1, "or": 1}.get(name, 2)
        most: int | None = {"not": 1, "slice": 3}.get(name, 2)
        if name in ("and", "or", "index", "eq"):
            most = None
        if len(values) < fewest or (most is not None and len(values) > most):
            self.fail(line, f"wrong number of arguments for {name}: got {len(values)}")
        if name in ("and", "or"):
            joined = f" {name} ".join(
                v.at(Precedence.NOT if name == "and" else Precedence.AND) for v in values
            )
            return (
                Expr(joined, Precedence.AND if name == "and" else Precedence.OR)
                if len(values) > 1
                else values[0]
            )
        if name == "not":
            return Expr(f"not {values[0].at(Precedence.NOT)}", Precedence.NOT)
        first, *rest = values
        if name == "index":
            keys = "".join(f"[{key.text}]" for key in rest)
            return Expr(first.at(Precedence.POSTFIX) + keys, Precedence.POSTFIX) if rest else first
        if name == "slice":  # slice x i j is x[i:j]
            bounds = ":".join(key.text for key in rest) if len(rest) == 2 else ""
            bounds = bounds or (f"{rest[0].text}:" if rest else ":")
            return Expr(f"{first.at(Precedence.POSTFIX)}[{bounds}]", Precedence.POSTFIX)
        if name == "eq" and len(rest) > 1:  # Go: eq a b c is a == b or a == c
            options = ", ".join(v.text for v in rest)
            return Expr(f"{first.at(Precedence.FILTER)} in [{options}]", Precedence.COMPARE)
        return Expr(
            f"{first.at(Precedence.FILTER)} {_COMPARISONS[name]} {rest[0].at(Precedence.FILTER)}",
            Precedence.COMPARE,
        )


_ROOT_AS_VALUE = (
    "'.' here is the whole of Kratos's template data: courier can pass it to a template "
    '({{template "name" .}}) or read its fields, but not use it as a value'
)


def _unknown_field(name: str) -> str:
    fields = ", ".join(f".{go}" for go in GO_FIELD_NAMES.values())
    hint = f" (its Go name is .{GO_FIELD_NAMES[name]})" if name in GO_FIELD_NAMES else ""
    return f".{short(name)} is not a field of Kratos's template data{hint}; the fields: {fields}"


def _operand_text(operand: Operand) -> str:
    if isinstance(operand, Field):
        return short("." + ".".join(operand.names))
    if isinstance(operand, Variable):
        return short(".".join((operand.name, *operand.names)))
    if isinstance(operand, Constant):
        return short(repr(operand.value))
    return "a parenthesised pipeline" if isinstance(operand, Parenthesised) else "."


def _access(base: Expr, names: tuple[str, ...]) -> Expr:
    text = base.at(Precedence.POSTFIX)
    for name in names:
        safe = name.isascii() and name.isidentifier() and not name.startswith("_")
        if safe and not keyword.iskeyword(name) and name not in ("true", "false", "none"):
            text += f".{name}"
        else:
            text += f"[{json.dumps(name, ensure_ascii=False)}]"
    return Expr(text, Precedence.POSTFIX)


def _literal(value: str | int | float | bool | None) -> Expr:
    if value is None:
        return Expr("none", Precedence.POSTFIX)
    if isinstance(value, bool):
        return Expr("true" if value else "false", Precedence.POSTFIX)
    if isinstance(value, str):
        return Expr(json.dumps(value, ensure_ascii=False), Precedence.POSTFIX)
    return Expr(repr(value), Precedence.FILTER if value < 0 else Precedence.POSTFIX)
