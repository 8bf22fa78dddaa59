"""Values made on first use (:mod:`courier.lazy`, :class:`courier.aws_session.Clients`): once,
whichever thread asks first, and again after a failure."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from courier.aws_session import Clients
from courier.lazy import Lazy


def test_threads_that_ask_while_the_value_is_made_wait_for_that_one() -> None:
    # GIVEN a value whose making is held until released
    made: list[object] = []
    started, release = threading.Event(), threading.Event()

    def make() -> object:
        started.set()
        release.wait(timeout=10)
        made.append(object())
        return made[-1]

    value = Lazy(make)
    # WHEN eight threads ask for it, one of them making it
    with ThreadPoolExecutor(max_workers=8) as pool:
        asked = [pool.submit(value) for _ in range(8)]
        assert started.wait(timeout=10)
        release.set()
        got = [future.result(timeout=10) for future in asked]
    # THEN it was made once, and every thread has it
    assert len(made) == 1
    assert all(each is made[0] for each in got)


def test_a_value_that_failed_to_be_made_is_made_by_the_next_call() -> None:
    # GIVEN a value whose first making fails
    attempts: list[int] = []

    def make() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("the endpoint was not there")
        return "made"

    value = Lazy(make)
    # WHEN it is asked for twice THEN the first call raises and the second makes it
    with pytest.raises(ConnectionError):
        value()
    assert value() == "made"
    assert len(attempts) == 2


def test_clients_are_made_from_one_session_one_at_a_time() -> None:
    # GIVEN a function's clients, its sessions counted, and two clients asked for side by side
    sessions: list[object] = []
    inside = threading.Lock()
    overlapped: list[bool] = []

    def new_session() -> object:
        sessions.append(object())
        return sessions[-1]

    def make(session: object) -> object:
        overlapped.append(not inside.acquire(blocking=False))
        try:
            return session
        finally:
            inside.release()

    clients = Clients(make_session=new_session)  # type: ignore[arg-type]
    first, second = clients.on_first_use(make), clients.on_first_use(make)
    assert sessions == []  # nothing made before a client is asked for
    with ThreadPoolExecutor(max_workers=2) as pool:
        made = [pool.submit(first), pool.submit(second)]
        results = [future.result(timeout=10) for future in made]
    # THEN one session made both, never two at once
    assert len(sessions) == 1
    assert results == [sessions[0], sessions[0]]
    assert overlapped == [False, False]
