"""cProfile of one invocation, kept as its functions with the most cumulative time.

On Python 3.12 and later, :mod:`cProfile` sees every thread. A function's cumulative time is
wall time: it includes its waits (for the network, and for the GIL while other threads run),
and the times of functions in threads that run side by side overlap.
"""

from __future__ import annotations

import cProfile
import pstats
from collections.abc import Sequence
from typing import Any

__all__ = ["Row", "summary", "top"]

Row = tuple[str, float, float, int]
"""``(file:line(function), cumulative seconds, own seconds, calls)``."""

_ROWS = 80


def top(profiler: cProfile.Profile, *, rows: int = _ROWS) -> list[Row]:
    """The ``rows`` functions with the most cumulative time, most first."""
    stats: Any = pstats.Stats(profiler)
    found = [
        (f"{_short(file)}:{line}({function})", cumulative, own, calls)
        for (file, line, function), (_, calls, own, cumulative, _) in stats.stats.items()
    ]
    found.sort(key=lambda row: row[1], reverse=True)
    return found[:rows]


def summary(rows: Sequence[Sequence[Any]], *, count: int = 12) -> str:
    """``module.function ms (xcalls)`` of the first ``count`` courier functions, and
    botocore's API call."""
    chosen = [row for row in rows if str(row[0]).startswith("courier/")][:count]
    chosen += [
        row for row in rows if "botocore/client.py" in row[0] and "_make_api_call" in row[0]
    ][:1]
    return ", ".join(_label(*row) for row in chosen)


def _label(where: str, cumulative: float, own: float, calls: int) -> str:
    path = where.split(":")[0]
    module = path.rsplit("/", 1)[-1].removesuffix(".py")
    if path.startswith("botocore/"):
        module = "botocore " + module
    function = where.split("(", 1)[1].rstrip(")")
    return f"{module}.{function} {cumulative * 1000:.0f}{f' (x{calls})' if calls > 1 else ''}"


def _short(file: str) -> str:
    for marker in ("site-packages/", "layers/courier/", "functions/", "/lib/python3.13/"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file
