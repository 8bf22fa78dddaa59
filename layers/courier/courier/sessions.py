"""A batch's SMTP sessions: every project's at once, and a few for a project with many mails.

:meth:`Sessions.deliver` sends a batch's mails and notes on each :class:`Delivery` what the
server said. Each project's mails form one queue, drained by up to
:meth:`~courier.stack.StackSettings.connections_for` sessions of their own (one per
:data:`MAILS_PER_SESSION` mails); every session runs in a thread of one bounded pool, so ten
projects' sessions open and send side by side instead of one after another. A session carries
its mails over :meth:`Transport.send_all <courier.transport.Transport.send_all>` (one round trip
per mail when the server pipelines) and QUITs when its project's queue is empty.

The rules a project's sessions share, as :class:`~courier.delivery`'s single session had them:

- a session the server closed before it had a mail's final dot (a drop or a 421, after that
  session carried a mail: idle sessions are closed by servers, and a pipelined server may
  answer the next mail's commands before it hangs up) is opened again, and the mail goes back
  to the queue: the server cannot have kept it;
- a session that cannot be opened (bad credentials, TLS refused) leaves the queue to the
  project's other sessions; when none is left, the mails still queued fail with its error,
  without a try each;
- a server that timed out fails the project's mails still queued at once (each would wait as
  long again), with :class:`~courier.errors.SmtpTimeoutError` "not tried".

Nothing here logs or touches the message's bookkeeping: the sender reads each delivery's
:attr:`~Delivery.result` once every session has ended.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from courier.config import ProjectConfig
from courier.deadline import Deadline
from courier.errors import CourierError, SmtpDisconnectedError, SmtpError, SmtpTimeoutError
from courier.transport import OutgoingMail, Transport

__all__ = ["MAILS_PER_SESSION", "MAX_SESSIONS", "Delivery", "Sessions"]

MAILS_PER_SESSION = 4
"""A project gets one more session (up to its limit) for each this many mails: a session's
opening costs about six round trips, a pipelined mail one."""
MAX_SESSIONS = 10
"""Sessions of one invocation at once, all projects together (a batch has at most 10 mails)."""
_CLOSING = 421
"""RFC 5321 §3.8: the server is closing the session."""


@dataclass(eq=False)
class Delivery:
    """One mail of the batch, its project's settings and what the server said to it."""

    mail: OutgoingMail
    config: ProjectConfig
    result: str | CourierError | None = None
    """The text of the server's ``250`` to the mail, or the error it failed with; ``None``
    until a session has carried it."""


class Sessions:
    """Sends a batch's mails, each project over its own sessions, all projects at once.

    Parameters
    ----------
    timeout:
        Seconds each SMTP step may take (the stack's ``SmtpTimeoutSeconds``).
    allow_private_hosts:
        The SSRF guard off (local use).
    connections_for:
        How many sessions a project may have at once, from its ``smtp.max_connections``
        (:meth:`StackSettings.connections_for <courier.stack.StackSettings.connections_for>`).
    """

    def __init__(
        self,
        *,
        timeout: float,
        allow_private_hosts: bool,
        connections_for: Callable[[int | None], int],
    ) -> None:
        self._timeout = timeout
        self._allow_private_hosts = allow_private_hosts
        self._connections_for = connections_for

    def deliver(self, deliveries: Sequence[Delivery], *, deadline: Deadline) -> None:
        """Send every delivery's mail by ``deadline`` and set its :attr:`~Delivery.result`;
        returns once every session has QUIT (each by ``deadline``)."""
        queues: dict[str, _ProjectQueue] = {}
        for delivery in deliveries:
            project = delivery.config.project_id
            queues.setdefault(project, _ProjectQueue(delivery.config)).append(delivery)
        sessions = [queue for queue in queues.values() for _ in range(self._sessions_of(queue))]
        if len(sessions) == 1:  # no thread for a lone session
            self._run_session(sessions[0], deadline)
            return
        with ThreadPoolExecutor(max_workers=min(len(sessions), MAX_SESSIONS)) as pool:
            for future in [pool.submit(self._run_session, q, deadline) for q in sessions]:
                future.result()

    def _sessions_of(self, queue: _ProjectQueue) -> int:
        limit = self._connections_for(queue.config.max_connections)
        wanted = min(limit, math.ceil(len(queue) / MAILS_PER_SESSION))
        queue.sessions = wanted
        return wanted

    def _run_session(self, queue: _ProjectQueue, deadline: Deadline) -> None:
        """One session's life: open, carry mails from ``queue`` until it is empty, QUIT."""
        config = queue.config
        transport = Transport(
            config.connection_uri,
            timeout=self._timeout,
            local_hostname=config.local_name,
            allow_private_hosts=self._allow_private_hosts,
            client_certificate=config.client_certificate,
        )
        try:
            while queue.has_mail():
                try:
                    self._carry(queue, transport, deadline)
                except CourierError as error:  # the session could not be opened
                    queue.session_failed(error)
                    return
                except BaseException as error:  # a bug: its mails may not stay without a result
                    queue.session_failed(CourierError(f"the session failed: {error!r}"))
                    raise
                if queue.timed_out is not None:
                    return
        finally:
            transport.close(deadline=deadline)
            queue.session_ended()

    def _carry(self, queue: _ProjectQueue, transport: Transport, deadline: Deadline) -> None:
        """Carry mails over one opened session until the queue is empty or the session ends."""
        carried = 0
        pulled: dict[int, Delivery] = {}

        def mails() -> Iterator[OutgoingMail]:
            while (delivery := queue.take()) is not None:
                pulled[id(delivery.mail)] = delivery
                yield delivery.mail

        for mail, result in transport.send_all(mails(), deadline=deadline):
            delivery = pulled.pop(id(mail))
            if carried and isinstance(result, SmtpError) and _lost_before_final_dot(result):
                queue.put_back(delivery)  # the server cannot have it: a new session takes it
                continue
            delivery.result = result
            carried += 1
            if isinstance(result, SmtpTimeoutError):
                queue.time_out(result)


class _ProjectQueue:
    """A project's mails not yet carried, shared by its sessions (each in its own thread)."""

    def __init__(self, config: ProjectConfig) -> None:
        self.config = config
        self.sessions = 1
        """How many sessions drain this queue (set before any starts)."""
        self.timed_out: SmtpTimeoutError | None = None
        self._mails: deque[Delivery] = deque()
        self._lock = threading.Lock()
        self._failures: list[CourierError] = []
        self._ended = 0

    def __len__(self) -> int:
        return len(self._mails)

    def append(self, delivery: Delivery) -> None:
        self._mails.append(delivery)

    def has_mail(self) -> bool:
        with self._lock:
            return bool(self._mails)

    def take(self) -> Delivery | None:
        """The next mail to send, or ``None`` when there is none (or the server timed out)."""
        with self._lock:
            if self.timed_out is not None or not self._mails:
                return None
            return self._mails.popleft()

    def put_back(self, delivery: Delivery) -> None:
        with self._lock:
            if self.timed_out is not None:
                delivery.result = _not_tried(self.timed_out)
            else:
                self._mails.appendleft(delivery)

    def time_out(self, error: SmtpTimeoutError) -> None:
        """The server timed out: what is queued fails now instead of waiting as long again."""
        with self._lock:
            if self.timed_out is None:
                self.timed_out = error
            while self._mails:
                self._mails.popleft().result = _not_tried(error)

    def session_failed(self, error: CourierError) -> None:
        """A session ended by ``error`` before carrying the queue's mails."""
        with self._lock:
            self._failures.append(error)

    def session_ended(self) -> None:
        """A session is over; the last one fails what no session could carry."""
        with self._lock:
            self._ended += 1
            if self._ended < self.sessions:
                return
            error = self._failures[-1] if self._failures else None
            while self._mails:
                delivery = self._mails.popleft()
                delivery.result = error or CourierError("no session carried the message")


def _lost_before_final_dot(error: SmtpError) -> bool:
    """The server ended the session (a drop, or 421) before it had the mail's final dot."""
    return not error.maybe_accepted and (
        isinstance(error, SmtpDisconnectedError) or error.code == _CLOSING
    )


def _not_tried(error: SmtpTimeoutError) -> SmtpTimeoutError:
    return SmtpTimeoutError(
        f"not tried: the server timed out earlier in this batch ({error.reply})",
        endpoint=error.endpoint,
        step=error.step,
    )
