"""A TCP relay on loopback that makes every byte cost a network's one-way delay, each way.

:class:`DelayProxy` sits between a client and a local server. Each chunk read from one side is
written to the other side ``delay`` seconds after it was read, in order; the two directions
have a delay queue each, so a reply can travel while a request is still in flight (a sleep per
read would serialize them). Before it connects to the server, the proxy holds a new client for
three one-way delays (SYN, SYN-ACK, ACK): the server accepts, and sends its greeting, when it
would over a network, so the greeting reaches the client two round trips after ``connect()``.

Threads, not asyncio: ``time.sleep`` wakes within tens of microseconds, while an event loop's
``epoll`` timeout is rounded up to the next millisecond on every hop.

Example
-------
>>> with DelayProxy(upstream=("127.0.0.1", 2525), delay=0.010) as proxy:  # doctest: +SKIP
...     smtplib.SMTP("127.0.0.1", proxy.port)  # every round trip now costs >= 20 ms
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
import time
from dataclasses import dataclass
from typing import Self

__all__ = ["HANDSHAKE_TRIPS", "DelayProxy", "ProxyStats"]

HANDSHAKE_TRIPS = 3
"""One-way trips of TCP's handshake before the server's ``accept()`` returns."""

_CHUNK = 64 * 1024


@dataclass(frozen=True)
class ProxyStats:
    """How faithfully the proxy kept its delay."""

    connections: int
    chunks: int
    mean_lateness: float
    """Seconds a chunk was written after it was due, on average (timer and scheduling)."""
    max_lateness: float


class DelayProxy:
    """Relay ``127.0.0.1:port`` to ``upstream``, delaying each chunk by ``delay`` each way.

    Parameters
    ----------
    upstream:
        The server's ``(host, port)``.
    delay:
        One-way delay in seconds; a round trip costs twice this.
    handshake_trips:
        One-way delays to wait before connecting upstream (TCP's three-way handshake).
    """

    def __init__(
        self,
        *,
        upstream: tuple[str, int],
        delay: float,
        handshake_trips: int = HANDSHAKE_TRIPS,
    ) -> None:
        if delay < 0:
            raise ValueError(f"delay must be >= 0, not {delay!r}")
        self.upstream = upstream
        self.delay = delay
        self.handshake_trips = handshake_trips
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._connections = 0
        self._chunks = 0
        self._lateness = 0.0
        self._max_lateness = 0.0
        self._accepting = threading.Thread(target=self._accept, name="proxy-accept", daemon=True)

    def start(self) -> Self:
        self._accepting.start()
        return self

    def stop(self) -> None:
        """Stop accepting; relays in flight end with their connections."""
        self._listener.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stats(self) -> ProxyStats:
        with self._lock:
            chunks = self._chunks
            return ProxyStats(
                connections=self._connections,
                chunks=chunks,
                mean_lateness=self._lateness / chunks if chunks else 0.0,
                max_lateness=self._max_lateness,
            )

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # the listener was closed
                return
            with self._lock:
                self._connections += 1
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        time.sleep(self.handshake_trips * self.delay)
        try:
            server = socket.create_connection(self.upstream)
        except OSError:
            client.close()
            return
        for side in (client, server):
            side.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        writers = [self._direction(client, server), self._direction(server, client)]
        for writer in writers:
            writer.join()
        client.close()
        server.close()

    def _direction(self, source: socket.socket, target: socket.socket) -> threading.Thread:
        """Start relaying ``source`` → ``target``; returns the writer thread."""
        chunks: queue.SimpleQueue[tuple[float, bytes]] = queue.SimpleQueue()

        def read() -> None:
            while True:
                try:
                    data = source.recv(_CHUNK)
                except OSError:
                    data = b""
                chunks.put((time.monotonic() + self.delay, data))
                if not data:
                    return

        def write() -> None:
            broken = False
            while True:
                due, data = chunks.get()
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                if not data:
                    _shutdown(target)
                    return
                if broken:
                    continue
                self._record(time.monotonic() - due)
                try:
                    target.sendall(data)
                except OSError:
                    broken = True  # keep draining until the reader sees the end

        threading.Thread(target=read, daemon=True).start()
        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        return writer

    def _record(self, lateness: float) -> None:
        with self._lock:
            self._chunks += 1
            self._lateness += lateness
            self._max_lateness = max(self._max_lateness, lateness)


def _shutdown(side: socket.socket) -> None:
    with contextlib.suppress(OSError):  # the peer is gone already
        side.shutdown(socket.SHUT_WR)
