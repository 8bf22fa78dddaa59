"""The Jinja of a parsed Go template: statements, variables, and the macros of defines.

:class:`Emitter` writes the tree of :mod:`.tree` as Jinja for
:class:`~courier.go_template.runtime.GoTemplateSandbox`, its expressions written by
:class:`~courier.go_template.expressions.ExpressionWriter`. ``if``/``else if`` become
``{% if %}``/``{% elif %}``, ``with`` a ``{% set %}`` and an ``{% if %}``, ``range`` a
``{% for %}`` over ``elements`` or ``pairs``; a variable that ``=`` assigns lives in a
``namespace()`` so that loops can assign it. Each ``define`` is hoisted as a macro to the top:
one for dot = the root (``{{ template "x" . }}``) and one that takes dot as its argument, each
written only when a call (or a call in a macro written) wants it; a define nothing calls is still
written, with a dot, so that it is checked and can be read.

Example
-------
>>> from courier.go_template.lexer import Lexer
>>> from courier.go_template.parser import Parser
>>> pieces = Lexer('{{ define "x" }}{{ . }}{{ end }}{{ template "x" .To }}', field="f").pieces()
>>> body, defines = Parser(pieces, field="f").parse()
>>> Emitter(defines, field="f").emit(body)
'{% macro tmpl_x_dot(dot) %}{{ dot }}{% endmacro %}{{ tmpl_x_dot(to) }}'
"""

from __future__ import annotations

import keyword
import re
from typing import NoReturn

from courier.go_template.expressions import (
    ROOT,
    Binding,
    Expr,
    ExpressionWriter,
    Precedence,
    Root,
    Scope,
    Value,
)
from courier.go_template.failures import fail, short
from courier.go_template.lexer import Text
from courier.go_template.tree import Block, Call, Define, Node, Output, Pipe

__all__ = ["Emitter"]


class Emitter:
    """Writes the Jinja of a parsed Go template: defines as macros at the top, then the body."""

    def __init__(self, defines: dict[str, Define], *, field: str) -> None:
        self.defines = defines
        self.field = field
        self.expressions = ExpressionWriter(field=field)
        self.used: set[str] = {"dot"}  # the argument of the macros that take a dot
        self.assigned = {name for define in defines.values() for name in _assigned(define.body)}
        # Each define has a macro for dot = the root, and one that takes dot as an argument.
        self.macros: dict[str, tuple[str, str]] = {}
        for name in defines:
            root = self.fresh(f"tmpl_{_identifier(name)}")
            self.macros[name] = (root, self.fresh(f"{root}_dot"))
        self.wanted: dict[tuple[str, bool], bool] = {}  # (define, with dot) -> written

    def fail(self, line: int, message: str, *, unsupported: bool = False) -> NoReturn:
        fail(self.field, line, message, unsupported=unsupported)

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

    def emit(self, body: tuple[Node, ...]) -> str:
        """The Jinja of the template ``body``: the macros it needs, then the body."""
        self.assigned |= _assigned(body)
        main = self.nodes(body, Scope(ROOT, ROOT))
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
        """The macro of the define ``name``: for dot = the root, or taking dot as argument."""
        define = self.defines[name]
        dot: Value = Expr("dot", Precedence.POSTFIX) if with_dot else ROOT
        body = self.nodes(define.body, Scope(dot, dot))
        signature = f"{self.macros[name][1]}(dot)" if with_dot else f"{self.macros[name][0]}()"
        return f"{{% macro {signature} %}}{body}{{% endmacro %}}"

    def nodes(self, nodes: tuple[Node, ...], scope: Scope) -> str:
        return "".join(self.node(node, scope) for node in nodes)

    def node(self, node: Node, scope: Scope) -> str:
        if isinstance(node, Text):
            return re.sub(r"\{(?=[{%#]|$)", '{{ "{" }}', node.text)
        if isinstance(node, Output):
            return self.output(node.pipe, scope)
        if isinstance(node, Block):
            return {"if": self.if_, "with": self.with_, "range": self.range_}[node.kind](
                node, scope
            )
        if isinstance(node, Call):
            return self.call(node, scope)
        return f"{{% {node.kind} %}}"

    def output(self, pipe: Pipe, scope: Scope) -> str:
        if pipe.variables:
            return self.declare(pipe, scope)
        value = self.expressions.pipe(pipe, scope)
        return f"{{{{ {self.expressions.expression(value, pipe.line)} }}}}"

    def declare(self, pipe: Pipe, scope: Scope) -> str:
        """``$x := pipeline`` / ``$x = pipeline``: a ``{% set %}``; ``$x := .`` at the top holds
        the root, which needs no Jinja variable."""
        (name,) = pipe.variables
        value = self.expressions.pipe(pipe, scope)
        if pipe.assigns:
            variable = scope.variables.get(name)
            if variable is None:
                self.fail(pipe.line, f"undefined variable {short(name)}")
            if variable.root or isinstance(value, Root):
                self.fail(
                    pipe.line,
                    f"{short(name)} cannot be assigned the root data or be "
                    "reassigned when it holds it",
                    unsupported=True,
                )
            target = f"{variable.jinja}.value" if variable.namespace else variable.jinja
            return f"{{% set {target} = {value.text} %}}"
        if isinstance(value, Root):
            scope.variables[name] = Binding("", namespace=False, root=True)
            if name in self.assigned:
                self.fail(
                    pipe.line,
                    f"{short(name)} holds the root data and cannot be reassigned",
                    unsupported=True,
                )
            return ""
        variable = self.variable(name, scope)
        if variable.namespace:
            return f"{{% set {variable.jinja} = namespace(value={value.text}) %}}"
        return f"{{% set {variable.jinja} = {value.text} %}}"

    def variable(self, name: str, scope: Scope) -> Binding:
        base = "v_" + (_identifier(name[1:]) or "var")
        variable = Binding(self.fresh(base), namespace=name in self.assigned)
        scope.variables[name] = variable
        return variable

    def condition(self, pipe: Pipe, scope: Scope) -> tuple[str, str]:
        """The ``{% set %}`` a declaration in an if's pipeline needs, and the condition."""
        if pipe.variables:
            setting = self.declare(pipe, scope)
            value = scope.variables[pipe.variables[0]].read()
        else:
            setting, value = "", self.expressions.pipe(pipe, scope)
        return setting, "true" if isinstance(value, Root) else value.text

    def if_(self, node: Block, scope: Scope) -> str:
        inner = scope.inner()
        setting, test = self.condition(node.pipe, inner)
        out = [f"{setting}{{% if {test} %}}", self.nodes(node.body, inner.inner())]
        orelse = node.orelse
        while (
            len(orelse) == 1
            and isinstance(chained := orelse[0], Block)
            and chained.chained
            and not chained.pipe.variables
        ):
            out += [f"{{% elif {self.condition(chained.pipe, inner)[1]} %}}"]
            out += [self.nodes(chained.body, inner.inner())]
            orelse = chained.orelse
        if orelse:
            out += ["{% else %}", self.nodes(orelse, inner.inner())]
        return "".join(out) + "{% endif %}"

    def with_(self, node: Block, scope: Scope) -> str:
        inner = scope.inner()
        value = self.expressions.pipe(node.pipe, inner)
        if isinstance(value, Root):  # with the root: always true
            return self.nodes(node.body, inner.inner(ROOT))
        (name,) = node.pipe.variables or ("",)
        if name and name not in self.assigned:
            dot = self.variable(name, inner)
        else:
            dot = Binding(self.fresh("dot", numbered=True), namespace=False)
        out = [f"{{% set {dot.jinja} = {value.text} %}}"]
        if name and name in self.assigned:
            out.append(
                f"{{% set {self.variable(name, inner).jinja} = namespace(value={dot.jinja}) %}}"
            )
        out += [f"{{% if {dot.jinja} %}}", self.nodes(node.body, inner.inner(dot.read()))]
        if node.orelse:
            out += ["{% else %}", self.nodes(node.orelse, inner.inner())]
        return "".join(out) + "{% endif %}"

    def range_(self, node: Block, scope: Scope) -> str:
        pipe = node.pipe
        if pipe.assigns:
            self.fail(
                pipe.line,
                "range with = (assigning existing variables) is not supported",
                unsupported=True,
            )
        value = self.expressions.pipe(Pipe((), False, pipe.commands, pipe.line), scope)
        if isinstance(value, Root):
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
        dot = Expr(targets[-1], Precedence.POSTFIX)
        helper = "pairs" if len(targets) == 2 else "elements"
        out = [
            f"{{% for {', '.join(targets)} in {value.at(Precedence.FILTER)} | {helper} %}}",
            *settings,
        ]
        out.append(self.nodes(node.body, inner.inner(dot)))
        if node.orelse:
            out += ["{% else %}", self.nodes(node.orelse, scope.inner())]
        return "".join(out) + "{% endfor %}"

    def call(self, node: Call, scope: Scope) -> str:
        if node.name not in self.defines:
            self.fail(
                node.line,
                f"template {short(node.name)!r} is not defined in this "
                "template: courier cannot include other files (put its {{define}} here)",
                unsupported=True,
            )
        value = (
            self.expressions.pipe(node.pipe, scope)
            if node.pipe
            else Expr("none", Precedence.POSTFIX)
        )
        root, with_dot = self.macros[node.name]
        if isinstance(value, Root):
            self.wanted.setdefault((node.name, False), False)
            return f"{{{{ {root}() }}}}"
        self.wanted.setdefault((node.name, True), False)
        return f"{{{{ {with_dot}({value.text}) }}}}"


def _identifier(name: str) -> str:
    """``name`` as part of a Jinja name: ``email.body.html.en_US.gotmpl`` →
    ``email_body_html_en_US_gotmpl``."""
    return re.sub(r"[^0-9A-Za-z_]", "_", name)


def _assigned(nodes: tuple[Node, ...]) -> set[str]:
    """The variables that an ``=`` assigns somewhere in ``nodes``."""
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, Output) and node.pipe.assigns:
            names.update(node.pipe.variables)
        if isinstance(node, Block):
            names |= _assigned(node.body) | _assigned(node.orelse)
    return names
