"""The chaos soak: many messages through hostile servers and SQS redelivery; nothing is lost.

Messages for four projects go through the queue (moto) in batches of 10, as the event source
mapping would hand them over, to the real sender and four scripted servers that, at random
(a fixed seed), greylist (451) or refuse (550) a recipient, hang up before MAIL, at RCPT, or
after the message's final dot, with and without keeping the mail; one of them fails so often
that its messages also run out of attempts. Retries come back at once
(backoff base 0), and now and then a delivered message's delete is "lost", so SQS hands it over
again. Then every message must be:

- delivered, or dead-lettered with a cause; never both, unless the DLQ says maybe-delivered;
- delivered more than once only after a hang-up that kept the mail, every copy with the first
  copy's Message-ID;

and no invocation may return past its deadline.

``make test`` runs 300 messages; ``make soak`` runs 5,000 (``SOAK_MESSAGES``) and prints the
counts.
"""

from __future__ import annotations

import json
import os
import random
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import pytest

from local.sqs import receive_event
from tests.faults.harness import FaultBench, recovery
from tests.faults.scripted_smtpd import Action, Drop, Event, Reply
from tests.queues import attributes

SEED = 20261201
MESSAGES = int(os.environ.get("SOAK_MESSAGES", "300"))
PROJECTS = {"default": 1.0, "acme": 1.0, "globex": 1.0, "initech": 5.0}
"""Each project's server, with how much more often than the others it fails (initech fails
three attempts in four, so its messages also run out of attempts)."""
LOST_DELETE = 0.03
WAVE = 100
# Per message transaction at the server, in order of the draw.
FAULTS = (
    ("greylisted", 0.05),
    ("refused", 0.01),
    ("drop_before_mail", 0.02),
    ("drop_at_rcpt", 0.02),
    ("drop_after_dot_kept", 0.03),
    ("drop_after_dot_lost", 0.02),
)


@dataclass
class Chaos:
    """A server's script: a seeded draw per transaction, and what it did to whom."""

    seed: str
    severity: float
    kept_drops: Counter[str]
    """recipient → how often a server kept its mail and hung up before saying so (shared)."""
    faults: Counter[str]
    """fault → how often it was played (shared by the servers)."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    draws: Counter[str] = field(default_factory=Counter)
    pending: dict[int, str] = field(default_factory=dict)
    """session → the fault drawn at RCPT, to play at the final dot."""

    def __call__(self, event: Event) -> Action | None:
        with self.lock:
            if event.point == "MAIL":
                return self._at_mail(event)
            if event.point == "RCPT":
                return self._at_rcpt(event)
            if event.point == "dot":
                return self._at_dot(event)
        return None

    def _draw(self, name: str) -> str | None:
        self.draws[name] += 1
        roll = random.Random(f"{self.seed}:{name}:{self.draws[name]}").random()
        for fault, chance in FAULTS:
            if roll < chance * self.severity:
                return fault
            roll -= chance * self.severity
        return None

    def _at_mail(self, event: Event) -> Action | None:
        if self._draw(f"mail:{event.session}") == "drop_before_mail":
            self.faults["drop_before_mail"] += 1
            return Drop()
        return None

    def _at_rcpt(self, event: Event) -> Action | None:
        recipient = event.argument.removeprefix("TO:<").removesuffix(">")
        fault = self._draw(recipient)
        if fault is not None:
            self.faults[fault] += 1
        if fault == "greylisted":
            return Reply("451 4.7.1 greylisted, try again later")
        if fault == "refused":
            return Reply("550 5.1.1 no such user")
        if fault == "drop_at_rcpt":
            return Drop()
        if fault in ("drop_after_dot_kept", "drop_after_dot_lost"):
            self.pending[event.session] = fault
        return None

    def _at_dot(self, event: Event) -> Action | None:
        fault = self.pending.pop(event.session, None)
        if fault == "drop_after_dot_kept":
            self.kept_drops[event.argument] += 1
            return Drop(keep=True)
        if fault == "drop_after_dot_lost":
            return Drop(keep=False)
        return None


@dataclass
class SoakResult:
    messages: int
    faults: Counter[str]
    invocations: int = 0
    past_deadline: int = 0
    lost_deletes: int = 0
    deliveries: int = 0
    repeats: int = 0
    dead_lettered: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        codes = ", ".join(f"{code} {count}" for code, count in sorted(self.dead_lettered.items()))
        faults = ", ".join(f"{name} {count}" for name, count in sorted(self.faults.items()))
        return (
            f"soak: {self.messages} messages, {self.invocations} invocations, "
            f"{self.deliveries} delivered ({self.repeats} repeats), "
            f"{self.lost_deletes} deletes lost, "
            f"{sum(self.dead_lettered.values())} dead-lettered ({codes}), "
            f"{self.past_deadline} invocations past their deadline; faults played: {faults}"
        )


def test_the_chaos_soak_loses_nothing_and_repeats_only_what_may_have_arrived(
    bench: FaultBench, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN four projects on chaotic servers, and MESSAGES messages spread over them
    kept_drops: Counter[str] = Counter()
    faults: Counter[str] = Counter()
    servers = [
        bench.server(project, script=Chaos(f"{SEED}:{project}", severity, kept_drops, faults))
        for project, severity in PROJECTS.items()
    ]
    rng = random.Random(SEED)
    bodies = []
    for number in range(MESSAGES):
        project = rng.choice(list(PROJECTS))
        extra: dict[str, Any] = {"project_id": project} if project != "default" else {}
        if number % 2 == 0:  # half carry their own id, half are keyed by the SQS message id
            extra["id"] = f"soak-{number}"
        bodies.append(recovery(f"m{number}@example.org", **extra))
    sender = bench.sender(backoff_base_seconds=0, smtp_timeout=5)

    # WHEN they go through the queue, a wave at a time, drained as the event source mapping
    # would, losing some deletes (waves keep moto's queue, which it scans on every call, small)
    result = SoakResult(messages=MESSAGES, faults=faults)
    for start in range(0, MESSAGES, WAVE):
        bench.push(*bodies[start : start + WAVE])
        drain(bench, sender, rng, result)
    mailbox = [mail for server in servers for mail in server.mailbox]
    per_recipient = Counter(mail.rcpt_tos[0] for mail in mailbox)
    result.deliveries = len(per_recipient)
    result.repeats = sum(count - 1 for count in per_recipient.values())

    # THEN every message ended delivered or dead-lettered with a cause, never both unless
    # marked maybe-delivered; repeats only follow a kept hang-up and share the Message-ID
    delivered: defaultdict[str, list[str | None]] = defaultdict(list)
    for server in servers:
        for mail in server.mailbox:
            [recipient] = mail.rcpt_tos
            delivered[recipient].append(mail.message_id)
    dead: dict[str, dict[str, str]] = {}
    for message in bench.dead_letters():
        recipient = json.loads(message["Body"])["recipient"]
        assert recipient not in dead, f"{recipient} was dead-lettered twice"
        dead[recipient] = attributes(message)
    result.dead_lettered.update(cause["courier.error_code"] for cause in dead.values())
    with capsys.disabled():
        print(f"\n{result.summary()}")
    for recipient in (body["recipient"] for body in bodies):
        copies = delivered.get(recipient, [])
        cause = dead.get(recipient)
        assert copies or cause, f"{recipient} was lost"
        if cause is not None:
            assert cause["courier.error_code"], f"{recipient} was dead-lettered without a cause"
            if copies:
                assert cause.get("courier.maybe_delivered") == "true", (
                    f"{recipient} was delivered and dead-lettered ({cause['courier.error_code']})"
                )
        if len(copies) > 1:
            assert len(copies) - 1 <= kept_drops[recipient], f"{recipient}: an avoidable repeat"
            assert len(set(copies)) == 1, f"{recipient}: repeats with different Message-IDs"
    assert result.past_deadline == 0
    # AND the chaos did play every fault, and the soak drained the queue
    assert set(faults) == {name for name, _ in FAULTS}
    assert result.lost_deletes > 0
    assert any(cause["courier.reason"] == "attempts-exhausted" for cause in dead.values())
    assert any(cause.get("courier.maybe_delivered") == "true" for cause in dead.values())
    assert result.deliveries + len(dead) >= MESSAGES


def drain(bench: FaultBench, sender: Any, rng: random.Random, result: SoakResult) -> None:
    """Invoke the sender with batches of 10 until the queue is empty."""
    for _ in range(10_000):
        event = receive_event(
            bench.sqs, queue_url=bench.stack.queue_url, queue_arn=bench.stack.queue_arn
        )
        if not event["Records"]:
            return
        try:
            run = bench.run(event, sender=sender, timeout=60)
        except AssertionError:  # bench.run's own check: returned past the deadline
            result.past_deadline += 1
            raise
        result.invocations += 1
        failed = set(run.failed_ids)
        done = [r for r in event["Records"] if r["messageId"] not in failed]
        lost = [r for r in done if rng.random() < LOST_DELETE]
        result.lost_deletes += len(lost)
        if lost:  # the delete never reached SQS: it hands the message over again
            bench.sqs.change_message_visibility_batch(
                QueueUrl=bench.stack.queue_url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": r["receiptHandle"], "VisibilityTimeout": 0}
                    for n, r in enumerate(lost)
                ],
            )
        deleted = [r for r in done if r not in lost]
        if deleted:
            bench.sqs.delete_message_batch(
                QueueUrl=bench.stack.queue_url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": r["receiptHandle"]}
                    for n, r in enumerate(deleted)
                ],
            )
    raise AssertionError("the queue did not drain")
