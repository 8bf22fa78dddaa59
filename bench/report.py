"""Figures, their targets, and how they are printed: ``name: value`` lines, then a table
(figure, value, the min and max of the values it is the median of, target, met?)."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = ["Figure", "Target", "figure_lines", "median", "table_lines"]


@dataclass(frozen=True)
class Target:
    """A bound a figure must meet: ``at_least`` or ``at_most`` ``bound``."""

    kind: Literal["at_least", "at_most"]
    bound: float
    suffix: str = ""

    def met(self, value: float) -> bool:
        return value >= self.bound if self.kind == "at_least" else value <= self.bound

    def __str__(self) -> str:
        sign = ">=" if self.kind == "at_least" else "<="
        return f"{sign} {self.bound:g}{self.suffix}"


@dataclass(frozen=True)
class Figure:
    """One measured figure."""

    name: str
    value: float
    digits: int = 2
    target: Target | None = None
    low: float | None = None
    """The smallest of the values ``value`` is the median of (``None``: a single value)."""
    high: float | None = None

    @property
    def text(self) -> str:
        return f"{self.value:.{self.digits}f}"

    @property
    def spread(self) -> str:
        if self.low is None or self.high is None:
            return ""
        return f"{self.low:.{self.digits}f} / {self.high:.{self.digits}f}"

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.target.met(self.value)


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def figure_lines(figures: Sequence[Figure]) -> list[str]:
    """One ``name: value`` line per figure."""
    return [f"{figure.name}: {figure.text}" for figure in figures]


def table_lines(figures: Sequence[Figure]) -> list[str]:
    """A Markdown table: figure | value | min / max | target | met?"""
    rows = [("figure", "value", "min / max", "target", "met?")]
    for figure in figures:
        met = {None: "", True: "yes", False: "**no**"}[figure.met]
        rows.append((figure.name, figure.text, figure.spread, str(figure.target or ""), met))
    widths = [max(len(row[column]) for row in rows) for column in range(5)]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
        for row in rows
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return lines
