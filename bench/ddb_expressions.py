"""DynamoDB's condition and update expressions, for :mod:`bench.dynamodb`: the subset the
sender's calls use, evaluated on items of top-level attributes.

Conditions: comparisons (``=``, ``<>``, ``<``, ``<=``, ``>``, ``>=``), ``BETWEEN``, ``IN``,
``attribute_exists``, ``attribute_not_exists``, ``begins_with``, ``AND``, ``OR``, ``NOT`` and
parentheses. Updates: ``SET`` (a value, or ``if_not_exists(path, value)``) and ``REMOVE``. Names
are plain or ``#placeholders``, values ``:placeholders``; a nested path (``a.b``, ``a[0]``) or any
other syntax raises :class:`ExpressionError`, which the endpoint answers as a
``ValidationException``: an expression the benchmark cannot evaluate fails the call instead of
being answered wrongly.

Example
-------
>>> item = {"id": {"S": "k"}, "expiry": {"N": "5"}}
>>> evaluate("attribute_not_exists(#id) OR #e < :now", item, names={"#id": "id", "#e": "expiry"},
...          values={":now": {"N": "9"}})
True
>>> update("SET #s = :s REMOVE expiry", item, names={"#s": "status"}, values={":s": {"S": "OK"}})
{'id': {'S': 'k'}, 'status': {'S': 'OK'}}
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

__all__ = ["AttributeValue", "ExpressionError", "Item", "evaluate", "names_of", "update"]

AttributeValue = dict[str, Any]
"""``{"S": "text"}``, ``{"N": "12"}``, ``{"M": {...}}``…, as the wire carries it."""
Item = dict[str, AttributeValue]

_TOKEN = re.compile(
    r"\s*(?:(?P<op><>|<=|>=|=|<|>)|(?P<punct>[(),])|(?P<name>#\w+)|(?P<value>:\w+)"
    r"|(?P<word>[A-Za-z_]\w*))"
)
_ORDERED = ("S", "N", "B")
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "<>": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


class ExpressionError(ValueError):
    """An expression outside the subset, or a placeholder that is not defined."""


def evaluate(
    expression: str,
    item: Item | None,
    *,
    names: Mapping[str, str] | None = None,
    values: Mapping[str, AttributeValue] | None = None,
) -> bool:
    """Whether ``item`` (``None``: no item) meets the condition ``expression``."""
    parser = _Parser(expression, names or {}, values or {})
    result = parser.condition(item or {})
    parser.end()
    return result


def update(
    expression: str,
    item: Item,
    *,
    names: Mapping[str, str] | None = None,
    values: Mapping[str, AttributeValue] | None = None,
) -> Item:
    """``item`` after the update ``expression`` (a new dict; ``item`` is left as it is)."""
    parser = _Parser(expression, names or {}, values or {})
    result = dict(item)
    seen: set[str] = set()
    while not parser.at_end():
        clause = parser.word().upper()
        if clause in seen or clause not in ("SET", "REMOVE"):
            raise ExpressionError(f"update clause {clause!r} is not supported (SET, REMOVE)")
        seen.add(clause)
        while True:
            path = parser.path()
            if clause == "SET":
                parser.expect("=")
                value = parser.set_value(item)
                result[path] = value
            else:
                result.pop(path, None)
            if not parser.accept(","):
                break
    return result


def names_of(projection: str, *, names: Mapping[str, str] | None = None) -> list[str]:
    """The attribute names of a ``ProjectionExpression`` (top-level paths only)."""
    parser = _Parser(projection, names or {}, {})
    paths = [parser.path()]
    while parser.accept(","):
        paths.append(parser.path())
    parser.end()
    return paths


class _Parser:
    """Recursive descent over the tokens, evaluating as it goes (every operand is parsed,
    whatever the result, so the whole expression is checked)."""

    def __init__(
        self, text: str, names: Mapping[str, str], values: Mapping[str, AttributeValue]
    ) -> None:
        self._tokens = _tokens(text)
        self._position = 0
        self._names = names
        self._values = values
        self._text = text

    # Tokens.

    def at_end(self) -> bool:
        return self._position == len(self._tokens)

    def end(self) -> None:
        if not self.at_end():
            raise ExpressionError(f"unexpected {self._peek()!r} in {self._text!r}")

    def _peek(self) -> str:
        return self._tokens[self._position][1] if not self.at_end() else ""

    def _take(self) -> tuple[str, str]:
        if self.at_end():
            raise ExpressionError(f"{self._text!r} ends too soon")
        token = self._tokens[self._position]
        self._position += 1
        return token

    def accept(self, text: str) -> bool:
        if self._peek().upper() == text:
            self._position += 1
            return True
        return False

    def expect(self, text: str) -> None:
        if not self.accept(text):
            raise ExpressionError(f"expected {text!r} in {self._text!r}, not {self._peek()!r}")

    def word(self) -> str:
        kind, text = self._take()
        if kind != "word":
            raise ExpressionError(f"expected a keyword in {self._text!r}, not {text!r}")
        return text

    # Conditions.

    def condition(self, item: Item) -> bool:
        result = self._conjunction(item)
        while self.accept("OR"):
            right = self._conjunction(item)
            result = result or right
        return result

    def _conjunction(self, item: Item) -> bool:
        result = self._negation(item)
        while self.accept("AND"):
            right = self._negation(item)
            result = result and right
        return result

    def _negation(self, item: Item) -> bool:
        if self.accept("NOT"):
            return not self._negation(item)
        return self._primary(item)

    def _primary(self, item: Item) -> bool:
        if self.accept("("):
            result = self.condition(item)
            self.expect(")")
            return result
        kind, text = self._tokens[self._position] if not self.at_end() else ("", "")
        function = text.lower()
        is_call = (
            self._position + 1 < len(self._tokens) and self._tokens[self._position + 1][1] == "("
        )
        if kind == "word" and is_call:
            self._position += 2
            return self._function(function, item)
        left = self._operand(item)
        if self.accept("BETWEEN"):
            low = self._operand(item)
            self.expect("AND")
            high = self._operand(item)
            return _compare(">=", left, low) and _compare("<=", left, high)
        if self.accept("IN"):
            self.expect("(")
            options = [self._operand(item)]
            while self.accept(","):
                options.append(self._operand(item))
            self.expect(")")
            return any(_compare("=", left, option) for option in options)
        kind, operator = self._take()
        if kind != "op":
            raise ExpressionError(f"expected a comparison in {self._text!r}, not {operator!r}")
        return _compare(operator, left, self._operand(item))

    def _function(self, function: str, item: Item) -> bool:
        if function in ("attribute_exists", "attribute_not_exists"):
            path = self.path()
            self.expect(")")
            return (path in item) == (function == "attribute_exists")
        if function == "begins_with":
            value = self._operand(item)
            self.expect(",")
            prefix = self._operand(item)
            self.expect(")")
            if value is None or prefix is None or "S" not in value or "S" not in prefix:
                return False
            return bool(value["S"].startswith(prefix["S"]))
        raise ExpressionError(f"function {function!r} is not supported")

    # Operands.

    def path(self) -> str:
        kind, text = self._take()
        if kind == "name":
            if text not in self._names:
                raise ExpressionError(f"{text} is not in ExpressionAttributeNames")
            return self._names[text]
        if kind == "word":
            return text
        raise ExpressionError(f"expected an attribute name in {self._text!r}, not {text!r}")

    def _operand(self, item: Item) -> AttributeValue | None:
        if self._peek().startswith(":"):
            return self._value()
        return item.get(self.path())

    def _value(self) -> AttributeValue:
        _, text = self._take()
        if text not in self._values:
            raise ExpressionError(f"{text} is not in ExpressionAttributeValues")
        return self._values[text]

    def set_value(self, item: Item) -> AttributeValue:
        if self._peek().lower() == "if_not_exists":
            self._position += 1
            self.expect("(")
            path = self.path()
            self.expect(",")
            default = self._value()
            self.expect(")")
            return item.get(path, default)
        if self._peek().startswith(":"):
            return self._value()
        raise ExpressionError(f"SET takes a :value or if_not_exists(), not {self._peek()!r}")


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        if text[position:].isspace():
            break
        match = _TOKEN.match(text, position)
        if match is None or match.lastgroup is None:
            raise ExpressionError(f"cannot read {text[position:]!r} (nested paths?) in {text!r}")
        tokens.append((match.lastgroup, match[match.lastgroup]))
        position = match.end()
    return tokens


def _compare(operator: str, left: AttributeValue | None, right: AttributeValue | None) -> bool:
    """DynamoDB's comparison: false when either side is missing or the types differ."""
    if left is None or right is None:
        return False
    (left_type, left_value), (right_type, right_value) = _scalar(left), _scalar(right)
    if left_type != right_type:
        return operator == "<>"
    if operator not in ("=", "<>") and left_type not in _ORDERED:
        return False
    return _COMPARE[operator](left_value, right_value)


def _scalar(value: AttributeValue) -> tuple[str, Any]:
    ((kind, raw),) = value.items()
    if kind == "N":
        return kind, Decimal(raw)
    if kind == "M":
        return kind, {key: _scalar(member) for key, member in raw.items()}
    if kind == "L":
        return kind, [_scalar(member) for member in raw]
    if kind in ("SS", "NS", "BS"):
        return kind, frozenset(Decimal(v) for v in raw) if kind == "NS" else frozenset(raw)
    return kind, raw
