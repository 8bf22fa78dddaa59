"""Throughput under real latency: one session per batch (courier) against one per message.

Both paths compose each mail with :func:`courier.delivery.compose` and send it with courier's
:class:`~courier.transport.Transport` to the same STARTTLS + AUTH server behind the delaying
proxy; they differ only in how connections are used:

* **reuse**: :class:`courier.delivery.Connections`, as :class:`courier.sender.Sender` uses it
  for a batch: the session opens on the first message and QUITs after the last.
* **per message**, as Ory Kratos's courier sends: connect, EHLO, STARTTLS, EHLO, AUTH, MAIL,
  RCPT, DATA, QUIT for every message.

The AWS calls of a delivery (idempotency records in DynamoDB) are left out of both: they are
counted by :mod:`bench.batch`.
"""

from __future__ import annotations

import smtplib
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Literal, TypeVar

from bench.report import Figure, Target, median
from bench.workload import message_bodies
from courier.config import ProjectConfig, parse_project_config
from courier.deadline import Deadline
from courier.delivery import Connections, compose
from courier.message import CourierMessage, parse_message
from courier.transport import Transport

__all__ = [
    "WAYS",
    "Measurement",
    "Run",
    "Steps",
    "Way",
    "measure",
    "project_config",
    "round_trip",
    "send_per_message",
    "send_reusing",
    "summarize",
]

Way = Literal["reuse", "per_message"]
WAYS: tuple[Way, ...] = ("reuse", "per_message")
TIMEOUT = 10.0
FLOOR_ROUND_TRIPS = 2
"""Round trips of one message on an open session with PIPELINING (RFC 2920), which the server
offers as the common providers do: MAIL, RCPT and DATA together, then the content."""
SPEEDUP_TARGET = Target("at_least", 3)
FLOOR_TARGET = Target("at_most", 1.3)
_clock = time.perf_counter
_T = TypeVar("_T")


@dataclass
class Steps:
    """Seconds spent in each step of a batch, one entry per occurrence."""

    compose: list[float] = field(default_factory=list)
    open: list[float] = field(default_factory=list)
    send: list[float] = field(default_factory=list)
    close: list[float] = field(default_factory=list)
    tls_version: str | None = None


@dataclass(frozen=True)
class Run:
    """One batch sent one way."""

    way: Way
    batch: int
    seconds: float
    steps: Steps

    @property
    def per_second(self) -> float:
        return self.batch / self.seconds


def project_config(uri: str) -> ProjectConfig:
    """The stack's default project, sending through ``uri``."""
    return parse_project_config(
        "default",
        config_json=None,
        connection_uri=None,
        default_connection_uri=uri,
        default_from_address="no-reply@courier.example",
    )


def send_reusing(messages: Sequence[CourierMessage], config: ProjectConfig) -> Run:
    """Courier's path: one session for the whole batch."""
    steps = Steps()
    connections = Connections(timeout=TIMEOUT, allow_private_hosts=True)
    start = _clock()
    try:
        for message in messages:
            mail = _timed(steps.compose, partial(compose, message, config))
            deadline = Deadline.after(TIMEOUT * 3)
            _timed(steps.send, partial(connections.send, mail, config, deadline=deadline))
    finally:
        _timed(steps.close, connections.close_all)
    return Run("reuse", len(messages), _clock() - start, steps)


def send_per_message(messages: Sequence[CourierMessage], config: ProjectConfig) -> Run:
    """The usual way: a new session (connect … AUTH … QUIT) for every message."""
    steps = Steps()
    start = _clock()
    for message in messages:
        mail = _timed(steps.compose, partial(compose, message, config))
        transport = Transport(
            config.connection_uri,
            timeout=TIMEOUT,
            local_hostname=config.local_name,
            allow_private_hosts=True,
        )
        try:
            _timed(steps.open, transport.open)
            if isinstance(sock := getattr(transport.connection, "sock", None), ssl.SSLSocket):
                steps.tls_version = sock.version()
            send = partial(transport.send, mail.email, sender=mail.sender, recipient=mail.recipient)
            _timed(steps.send, send)
        finally:
            _timed(steps.close, transport.close)
    return Run("per_message", len(messages), _clock() - start, steps)


@dataclass(frozen=True)
class Measurement:
    """The side-by-side runs, and one reused-session batch sent without delay."""

    runs: list[Run]
    undelayed: Run
    """The largest batch over a reused session straight to the server: the time the client,
    the server and loopback take themselves (it also warms up courier's caches)."""
    round_trip: float
    """Median seconds of a bare SMTP ``NOOP`` through the proxy: what one round trip really
    costs here, the delay plus the relay's own hops."""


def round_trip(uri: str, *, count: int = 20) -> float:
    """Median seconds of ``count`` ``NOOP`` commands on one session with ``uri``'s server."""
    parsed = project_config(uri).connection_uri
    times: list[float] = []
    with smtplib.SMTP(parsed.host, parsed.port, timeout=TIMEOUT) as connection:
        for _ in range(count):
            _timed(times, connection.noop)
    return median(times)


def measure(uri: str, *, undelayed_uri: str, batches: Sequence[int], repeat: int) -> Measurement:
    """Send each batch size both ways through ``uri``, ``repeat`` times, side by side.

    The order of the two ways alternates between repetitions, so a slow spell of a shared
    machine does not always hit the same one.
    """
    bodies = {batch: message_bodies(batch) for batch in batches}
    largest = max(batches)
    undelayed = send_reusing(
        [parse_message(body) for body in bodies[largest]], project_config(undelayed_uri)
    )
    config = project_config(uri)
    runs: list[Run] = []
    for repetition in range(repeat):
        for batch in batches:
            messages = [parse_message(body) for body in bodies[batch]]
            for way in WAYS if repetition % 2 == 0 else WAYS[::-1]:
                send = send_reusing if way == "reuse" else send_per_message
                runs.append(send(messages, config))
    return Measurement(runs, undelayed, round_trip(uri))


def _timed(into: list[float], step: Callable[[], _T]) -> _T:
    start = _clock()
    try:
        return step()
    finally:
        into.append(_clock() - start)


def summarize(measurement: Measurement, *, delay: float) -> tuple[list[Figure], list[str]]:
    """The figures (messages per second, speedups, the floor ratio) and the profile notes."""
    runs = measurement.runs
    figures: list[Figure] = []
    batches = sorted({run.batch for run in runs})
    for batch in batches:
        reuse = [run for run in runs if run.batch == batch and run.way == "reuse"]
        fresh = [run for run in runs if run.batch == batch and run.way == "per_message"]
        figures += [
            Figure(f"reuse_b{batch}_msg_per_s", median(run.per_second for run in reuse), 1),
            Figure(f"per_message_b{batch}_msg_per_s", median(r.per_second for r in fresh), 1),
            Figure(
                f"reuse_speedup_b{batch}",
                median(f.seconds / r.seconds for r, f in zip(reuse, fresh, strict=True)),
                target=SPEEDUP_TARGET if batch == 10 else None,
            ),
        ]
    largest = max(batches)
    floor = largest * FLOOR_ROUND_TRIPS * 2 * delay
    reuse = [run for run in runs if run.batch == largest and run.way == "reuse"]
    figures.append(
        Figure("floor_ratio", median(run.seconds / floor for run in reuse), target=FLOOR_TARGET)
    )
    return figures, _profile(measurement, delay=delay, batch=largest)


def _profile(measurement: Measurement, *, delay: float, batch: int) -> list[str]:
    """Where a message's time goes, and the speedup those step costs allow."""
    runs = measurement.runs
    fresh = [run.steps for run in runs if run.batch == batch and run.way == "per_message"]
    reuse = [run.steps for run in runs if run.batch == batch and run.way == "reuse"]
    opened = median(t for steps in fresh for t in steps.open)
    sent = median(t for steps in fresh for t in steps.send)
    quit_ = median(t for steps in fresh for t in steps.close)
    composed = median(t for steps in fresh + reuse for t in steps.compose)
    reused_send = median(t for steps in reuse for t in steps.send)
    undelayed = median(measurement.undelayed.steps.send)
    rtt = 2 * delay
    tls = next((steps.tls_version for steps in fresh if steps.tls_version), "TLS")

    def ms(seconds: float) -> str:
        return f"{seconds * 1000:.1f} ms ({seconds / rtt:.1f} RTT)"

    def bound(size: int) -> float:
        return (opened + sent + quit_ + composed) / (sent + composed + (opened + quit_) / size)

    return [
        f"floor: with PIPELINING a reused session needs {FLOOR_ROUND_TRIPS} round trips per "
        f"message (MAIL+RCPT+DATA, then the content): {FLOOR_ROUND_TRIPS} x 2 x "
        f"{delay * 1000:g} ms = {FLOOR_ROUND_TRIPS * rtt * 1000:g} ms; floor_ratio = the reused "
        f"session's time for {batch} messages (its open and QUIT included) / ({batch} x "
        f"{FLOOR_ROUND_TRIPS * rtt * 1000:g} ms)",
        f"per message, median of the batches of {batch} (RTT = 2 x {delay * 1000:g} ms):",
        f"  new session: open {ms(opened)} [TCP + greeting, EHLO, STARTTLS, {tls}, EHLO, "
        f"AUTH] + send {ms(sent)} + QUIT {ms(quit_)} + compose {composed * 1000:.1f} ms",
        f"  reused session: send {ms(reused_send)} + compose {composed * 1000:.1f} ms; "
        "open and QUIT once per batch",
        f"  the same send without the proxy: {undelayed * 1000:.1f} ms (client, server and "
        "loopback themselves); a bare NOOP round trip through the proxy: "
        f"{measurement.round_trip * 1000:.1f} ms (the relay's own hops add "
        f"{(measurement.round_trip - rtt) * 1000:.1f} ms to each)",
        "  speedup these step costs allow, (open + send + QUIT + compose) / "
        "(send + compose + (open + QUIT) / batch): "
        + ", ".join(f"{bound(size):.2f} at {size}" for size in (10, 100)),
    ]
