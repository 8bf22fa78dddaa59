"""Go's time layouts (``time/format.go``): a time written as a layout such as ``2006-01-02``.

Go writes a layout as the reference time, Monday, January 2 15:04:05 MST 2006, in the form
wanted. :func:`format_time` writes a time that way, always in UTC (courier shows times in UTC
only); :func:`as_time` reads a time as Kratos gives one.

Example
-------
>>> format_time("Mon, 02 Jan 2006 15:04 MST", as_time("2026-12-01T09:30:00+01:00"))
'Tue, 01 Dec 2026 08:30 UTC'
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from courier.go_template.values import go_type

__all__ = ["as_time", "format_time"]

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")  # fmt: skip
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# Go's layout elements, longest first where one is the start of another (time/format.go).
_LAYOUT = re.compile(
    r"January|Jan(?![a-z])|Monday|Mon(?![a-z])|MST|2006|_2006|__2|_2|002|01|02|03|04|05|06|"
    r"15|1|2|3|4|5|PM|pm|-07:00:00|-070000|-07:00|-0700|-07|Z07:00:00|Z070000|Z07:00|Z0700|"
    r"Z07|[.,](?:0+|9+)(?![0-9])"
)


def _layout_element(element: str, moment: datetime) -> str:
    """What the Go layout element ``element`` stands for in ``moment`` (which is in UTC)."""
    hour12 = moment.hour % 12 or 12
    plain = {
        "January": _MONTHS[moment.month - 1],
        "Jan": _MONTHS[moment.month - 1][:3],
        "Monday": _DAYS[moment.weekday()],
        "Mon": _DAYS[moment.weekday()][:3],
        "MST": "UTC",
        "2006": f"{moment.year:04d}",
        "_2006": f"_{moment.year:04d}",
        "__2": f"{moment.timetuple().tm_yday:>3d}",
        "_2": f"{moment.day:>2d}",
        "002": f"{moment.timetuple().tm_yday:03d}",
        "01": f"{moment.month:02d}",
        "02": f"{moment.day:02d}",
        "03": f"{hour12:02d}",
        "04": f"{moment.minute:02d}",
        "05": f"{moment.second:02d}",
        "06": f"{moment.year % 100:02d}",
        "15": f"{moment.hour:02d}",
        "1": str(moment.month),
        "2": str(moment.day),
        "3": str(hour12),
        "4": str(moment.minute),
        "5": str(moment.second),
        "PM": "PM" if moment.hour >= 12 else "AM",
        "pm": "pm" if moment.hour >= 12 else "am",
    }
    if element in plain:
        return plain[element]
    if element[0] in ".,":  # fractional seconds: ,000 exactly; .999 without trailing zeros
        nanoseconds = f"{moment.microsecond:06d}000"[: len(element) - 1]
        if element[1] == "9":
            nanoseconds = nanoseconds.rstrip("0")
            return element[0] + nanoseconds if nanoseconds else ""
        return element[0] + nanoseconds
    if element.startswith("Z"):  # Z07:00 & co. print Z for UTC
        return "Z"
    return "+" + element[1:].replace("7", "0")  # -07:00 & co.: the offset of UTC


def as_time(value: Any) -> datetime:
    """A time as Kratos gives it (an RFC 3339 string in JSON, or a datetime, or Unix seconds),
    in UTC."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"date: {value[:40]!r} is not an RFC 3339 time") from None
    elif isinstance(value, int) and not isinstance(value, bool):
        value = datetime.fromtimestamp(value, UTC)
    if not isinstance(value, datetime):
        raise TypeError(f"date: a {go_type(value)} is not a time")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def format_time(layout: str, moment: datetime) -> str:
    """``moment`` written with the Go layout ``layout``.

    Parameters
    ----------
    layout:
        A Go layout (``2006-01-02 15:04:05``); what is not a layout element is kept as it is.
    moment:
        The time, in UTC (as :func:`as_time` gives it).

    Returns
    -------
    str
        The time as the layout writes it.
    """
    return _LAYOUT.sub(lambda match: _layout_element(match.group(), moment), layout)
