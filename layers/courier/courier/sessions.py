"""A batch's SMTP sessions: every project's at once, and a few for a project with many mails.

:meth:`Sessions.start` opens a batch's sessions and gives an :class:`Outbox` to hand them the
mails while they open (the sender claims and composes meanwhile); each :class:`Delivery` gets
what the server said. :meth:`Sessions.deliver` does both for mails ready at once. Each
project's mails form one queue, drained by up to
:meth:`~courier.stack.StackSettings.connections_for` sessions of their own (one per
:data:`MAILS_PER_SESSION` mails); every session runs in a thread of one bounded pool, so ten
projects' sessions open and send side by side instead of one after another. A session carries
its mails over :meth:`Transport.send_all <courier.transport.Transport.send_all>` (one round trip
per mail when the server pipelines) and QUITs when its project's queue is empty.

The rules a project's sessions share, as :class:`~courier.delivery`'s single session had them:

- a mail whose session the server closed before it had the mail's final dot (a drop or a
  421: idle sessions are closed by servers, and a pipelined server may answer the next mail's
  commands before it hangs up) goes back to the queue once, for a new session: the server
  cannot have kept it; a second such loss is the mail's failure;
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
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

from courier.config import ProjectConfig
from courier.deadline import Deadline
from courier.errors import CourierError, SmtpError, SmtpTimeoutError
from courier.oauth import Tokens
from courier.transactions import lost_before_final_dot
from courier.transport import OutgoingMail, Transport

__all__ = ["MAILS_PER_SESSION", "MAX_SESSIONS", "Delivery", "Outbox", "Sessions"]

MAILS_PER_SESSION = 4
"""A project gets one more session (up to its limit) for each this many mails: a session's
opening costs about six round trips, a pipelined mail one."""
MAX_SESSIONS = 10
"""Sessions of one invocation at once, all projects together (a batch has at most 10 mails)."""


@dataclass(eq=False)
class Delivery:
    """One mail of the batch, its project's settings and what the server said to it."""

    mail: OutgoingMail
    config: ProjectConfig
    result: str | CourierError | None = None
    """The text of the server's ``250`` to the mail, or the error it failed with; ``None``
    until a session has carried it."""
    resent: bool = False
    """A session was lost before the mail's final dot once already: the next loss is its."""


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
    tokens:
        The process's OAuth 2.0 tokens, for projects whose URI logs in with one (``auth=``);
        ``None``: such a project's sessions fail with ``oauth2_settings_missing``.
    """

    def __init__(
        self,
        *,
        timeout: float,
        allow_private_hosts: bool,
        connections_for: Callable[[int | None], int],
        tokens: Tokens | None = None,
    ) -> None:
        self._tokens = tokens
        self._timeout = timeout
        self._allow_private_hosts = allow_private_hosts
        self._connections_for = connections_for

    @contextmanager
    def start(self, expected: Sequence[ProjectConfig], *, deadline: Deadline) -> Iterator[Outbox]:
        """Open the sessions for a batch of mails whose projects are ``expected`` (one config
        per mail to come), and give the :class:`Outbox` to :meth:`Outbox.add` them to while
        the sessions open; on leaving the ``with``, wait until every session has QUIT (each by
        ``deadline``)."""
        configs = {config.project_id: config for config in expected}
        counts = Counter(config.project_id for config in expected)
        queues = {
            project: _ProjectQueue(config, sessions=self._sessions_for(config, counts[project]))
            for project, config in configs.items()
        }
        outbox = Outbox(queues)
        sessions = [queue for queue in queues.values() for _ in range(queue.sessions)]
        if not sessions:
            yield outbox
            return
        pool = ThreadPoolExecutor(max_workers=min(len(sessions), MAX_SESSIONS))
        futures = [pool.submit(self._run_session, queue, deadline) for queue in sessions]
        try:
            yield outbox
        finally:
            outbox.seal()
            pool.shutdown(wait=True)
        for future in futures:
            future.result()  # a bug in a session is raised here

    def deliver(self, deliveries: Sequence[Delivery], *, deadline: Deadline) -> None:
        """Send every delivery's mail by ``deadline`` and set its :attr:`~Delivery.result`;
        returns once every session has QUIT."""
        with self.start([delivery.config for delivery in deliveries], deadline=deadline) as outbox:
            for delivery in deliveries:
                outbox.add(delivery)

    def _sessions_for(self, config: ProjectConfig, mails: int) -> int:
        limit = self._connections_for(config.max_connections)
        return min(limit, math.ceil(mails / MAILS_PER_SESSION))

    def _run_session(self, queue: _ProjectQueue, deadline: Deadline) -> None:
        """One session's life: open, carry mails from ``queue`` until it is empty, QUIT."""
        try:
            transport = self._transport(queue.config, deadline)
        except CourierError as error:  # a setting only a session checks
            queue.session_failed(error)
            queue.session_ended()
            return
        try:
            while queue.may_have_mail():
                try:
                    self._carry(queue, transport, deadline)
                except CourierError as error:  # the session could not be opened
                    queue.session_failed(error)
                    return
                except BaseException as error:  # a bug: its mails may not stay without a result
                    queue.session_failed(CourierError(f"the session failed: {error!r}"))
                    raise
        finally:
            transport.close(deadline=deadline)
            queue.session_ended()

    def _transport(self, config: ProjectConfig, deadline: Deadline) -> Transport:
        mailbox = config.connection_uri.token_user
        token_source = None
        if mailbox is not None and config.oauth is not None and self._tokens is not None:
            token_source = self._tokens.source(config.oauth, mailbox=mailbox, deadline=deadline)
        return Transport(
            config.connection_uri,
            timeout=self._timeout,
            local_hostname=config.local_name,
            allow_private_hosts=self._allow_private_hosts,
            client_certificate=config.client_certificate,
            token_source=token_source,
        )

    def _carry(self, queue: _ProjectQueue, transport: Transport, deadline: Deadline) -> None:
        """Carry mails over one opened session until the queue is empty or the session ends."""
        pulled: dict[int, Delivery] = {}

        def mails() -> Iterator[OutgoingMail]:
            while (delivery := queue.take()) is not None:
                pulled[id(delivery.mail)] = delivery
                yield delivery.mail

        for mail, result in transport.send_all(mails(), deadline=deadline):
            delivery = pulled.pop(id(mail))
            if (
                not delivery.resent
                and isinstance(result, SmtpError)
                and lost_before_final_dot(result)
            ):
                delivery.resent = True  # the server cannot have it: a new session takes it
                queue.put_back(delivery)
                continue
            delivery.result = result
            if isinstance(result, SmtpTimeoutError):
                queue.time_out(result)


class Outbox:
    """Where a batch's mails go while its sessions open (:meth:`Sessions.start`)."""

    def __init__(self, queues: Mapping[str, _ProjectQueue]) -> None:
        self._queues = queues

    def add(self, delivery: Delivery) -> None:
        """Queue ``delivery`` for its project's sessions (a project :meth:`Sessions.start`
        was not told of fails it, as a bug)."""
        queue = self._queues.get(delivery.config.project_id)
        if queue is None:
            delivery.result = CourierError("no session was opened for the message's project")
            return
        queue.append(delivery)

    def seal(self) -> None:
        """No more mails: each session QUITs once its project's queue is empty."""
        for queue in self._queues.values():
            queue.seal()


class _ProjectQueue:
    """A project's mails not yet carried, shared by its sessions (each in its own thread).

    Mails may still come while the sessions open: a session waits for the next one until the
    queue is sealed.
    """

    def __init__(self, config: ProjectConfig, *, sessions: int) -> None:
        self.config = config
        self.sessions = sessions
        """How many sessions drain this queue."""
        self.timed_out: SmtpTimeoutError | None = None
        self._mails: deque[Delivery] = deque()
        self._changed = threading.Condition()
        self._sealed = False
        self._failures: list[CourierError] = []
        self._ended = 0

    def append(self, delivery: Delivery) -> None:
        with self._changed:
            if self.timed_out is not None:
                delivery.result = _not_tried(self.timed_out)
            elif self._ended >= self.sessions:
                delivery.result = self._no_session_left()
            else:
                self._mails.append(delivery)
                self._changed.notify()

    def seal(self) -> None:
        with self._changed:
            self._sealed = True
            self._changed.notify_all()

    def may_have_mail(self) -> bool:
        """Whether a mail is queued, or may still come."""
        with self._changed:
            return self.timed_out is None and (bool(self._mails) or not self._sealed)

    def take(self) -> Delivery | None:
        """The next mail to send, waiting for one while the queue is open; ``None`` once it
        is sealed and empty (or the server timed out)."""
        with self._changed:
            while not self._mails and not self._sealed and self.timed_out is None:
                self._changed.wait()
            if self.timed_out is not None or not self._mails:
                return None
            return self._mails.popleft()

    def put_back(self, delivery: Delivery) -> None:
        with self._changed:
            if self.timed_out is not None:
                delivery.result = _not_tried(self.timed_out)
            else:
                self._mails.appendleft(delivery)
                self._changed.notify()

    def time_out(self, error: SmtpTimeoutError) -> None:
        """The server timed out: what is queued fails now instead of waiting as long again."""
        with self._changed:
            if self.timed_out is None:
                self.timed_out = error
            while self._mails:
                self._mails.popleft().result = _not_tried(error)
            self._changed.notify_all()

    def session_failed(self, error: CourierError) -> None:
        """A session ended by ``error`` before carrying the queue's mails."""
        with self._changed:
            self._failures.append(error)

    def session_ended(self) -> None:
        """A session is over; the last one fails what no session could carry."""
        with self._changed:
            self._ended += 1
            if self._ended < self.sessions:
                return
            while self._mails:
                self._mails.popleft().result = self._no_session_left()

    def _no_session_left(self) -> CourierError:
        return self._failures[-1] if self._failures else CourierError("no session carried it")


def _not_tried(error: SmtpTimeoutError) -> SmtpTimeoutError:
    return SmtpTimeoutError(
        f"not tried: the server timed out earlier in this batch ({error.reply})",
        endpoint=error.endpoint,
        step=error.step,
    )
