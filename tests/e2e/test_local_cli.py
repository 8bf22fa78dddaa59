"""``python -m local``: invoke, up (with invoke and send against it) and the demo, as a user runs
them from a shell."""

from __future__ import annotations

import json
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from local.up import READY_LINE

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
EVENTS = ROOT / "events" / "sender"


def run_local(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (our own interpreter and module)
        [sys.executable, "-m", "local", *map(str, args)],
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def wait_for(condition: Callable[[], bool], *, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)  # poll interval; the condition decides, not the clock


def test_invoke_prints_the_result_on_stdout_and_the_log_on_stderr(tmp_path: Path) -> None:
    # GIVEN no running `up` and a sample event
    # WHEN the sender is invoked as with `sam local invoke SenderFunction -e EVENT`
    done = run_local(
        "invoke",
        "SenderFunction",
        "-e",
        EVENTS / "recovery-code.json",
        "-t",
        TEMPLATE,
        "--workdir",
        tmp_path / "local",
        cwd=tmp_path,
    )

    # THEN stdout is the handler's result alone, stderr the function's log, status 0, and the
    # mail is kept as a file
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"batchItemFailures": []}
    assert "START RequestId:" in done.stderr
    assert '"message":"message delivered"' in done.stderr
    assert "mail delivered: out/invoke/01-starttls-ada_example.org.eml" in done.stderr
    assert "dead-letter queue: empty" in done.stderr
    assert (tmp_path / "out" / "invoke" / "01-starttls-ada_example.org.eml").is_file()


def test_a_failed_invoke_prints_the_error_document_and_exits_1(tmp_path: Path) -> None:
    # GIVEN an --env-vars file that gives the sender a setting it cannot read
    env_vars = tmp_path / "env.json"
    env_vars.write_text(json.dumps({"SenderFunction": {"COURIER_SMTP_TIMEOUT_SECONDS": "soon"}}))

    # WHEN the sender is invoked with it
    done = run_local(
        "invoke",
        "SenderFunction",
        "-e",
        EVENTS / "recovery-code.json",
        "-t",
        TEMPLATE,
        "--env-vars",
        env_vars,
        "--workdir",
        tmp_path / "local",
        cwd=tmp_path,
    )

    # THEN the handler cannot be loaded: Lambda's error document on stdout, status 1
    assert done.returncode == 1
    error = json.loads(done.stdout)
    assert error["errorType"] == "Runtime.ImportModuleError"
    assert "soon" in error["errorMessage"]


def test_invoking_an_unknown_function_names_the_known_ones(tmp_path: Path) -> None:
    done = run_local("invoke", "NoSuchFunction", "-t", TEMPLATE, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout == ""
    assert "Function NoSuchFunction not found in template" in done.stderr
    assert "SenderFunction" in done.stderr


@pytest.fixture
def up(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], queue.Queue[str], Path]]:
    workdir = tmp_path / "local"
    process = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "local",
            "up",
            "-t",
            str(TEMPLATE),
            "--workdir",
            str(workdir),
            "--retry-backoff",
            "1",
        ],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout

    def read() -> None:
        for line in stdout:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    yield process, lines, workdir
    if process.poll() is None:
        process.kill()
    process.wait()
    stdout.close()


def test_up_serves_invoke_and_send_until_interrupted(
    up: tuple[subprocess.Popen[str], queue.Queue[str], Path], tmp_path: Path
) -> None:
    process, lines, workdir = up
    seen: list[str] = []

    def printed(text: str) -> bool:
        while not lines.empty():
            seen.append(lines.get())
        return any(text in line for line in seen)

    # GIVEN `python -m local up`, once it says it is up
    wait_for(lambda: printed(READY_LINE), seconds=60, what="up to start")
    assert printed("AWS_ENDPOINT_URL=http://127.0.0.1:")
    assert printed("smtps://courier:***@127.0.0.1:")
    assert (workdir / "session.json").is_file()

    # WHEN an event is invoked and a message sent, from other processes
    invoked = run_local(
        "invoke",
        "SenderFunction",
        "-e",
        EVENTS / "pre-rendered.json",
        "-t",
        TEMPLATE,
        "--workdir",
        workdir,
        cwd=tmp_path,
    )
    message = {
        "project_id": "smtps",
        "recipient": "bob@example.org",
        "template_type": "login_code_valid",
        "template_data": {"login_code": "123456"},
    }
    sent = run_local("send", json.dumps(message), "--workdir", workdir, cwd=tmp_path)

    # THEN both reach up's SMTP servers, the sent one through the queue and its poller
    assert invoked.returncode == 0, invoked.stderr
    assert "Using the local stack of `up`" in invoked.stderr
    assert json.loads(invoked.stdout) == {"batchItemFailures": []}
    assert sent.returncode == 0, sent.stderr
    wait_for(
        lambda: printed("batch of 1: 1 done, 0 back on the queue"),
        seconds=30,
        what="the sent message's batch",
    )
    assert printed("mail via mode 4")
    assert len(list((workdir / "mail").glob("*.eml"))) == 2

    # ... and Ctrl-C stops it cleanly, with the session gone and the preview written
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 0
    assert not (workdir / "session.json").exists()
    assert (workdir / "mail" / "index.html").read_text().count("<section>") == 2


ROW = re.compile(r"^(\d+)\s{2,}")


def test_the_demo_gives_every_message_its_documented_outcome(tmp_path: Path) -> None:
    # GIVEN a fresh clone's state (no build) WHEN `make demo`'s command runs
    done = run_local("demo", "--out", tmp_path / "demo", cwd=ROOT)

    # THEN it ends by itself, status 0, with one summary line per message
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {
        int(match.group(1)): re.split(r"\s{2,}", line.strip())
        for line in done.stdout.splitlines()
        if (match := ROW.match(line))
    }
    # columns: #, message, project, mode, outcome, tries, server saw, cause
    outcome = {n: (row[2], row[4], row[5]) for n, row in rows.items()}
    assert outcome == {
        1: ("starttls", "delivered", "1"),
        2: ("starttls-skip-verify", "delivered", "1"),
        3: ("cleartext", "delivered", "1"),
        4: ("smtps", "delivered", "1"),
        5: ("smtps-skip-verify", "delivered", "1"),
        6: ("smtps-server-name", "delivered", "1"),
        7: ("starttls", "dead-lettered", "1"),
        8: ("smtps", "delivered", "2"),
        9: ("(default)", "dead-lettered", "1"),
    }
    # ... the TLS the servers saw, per mode, and the causes
    assert [rows[n][6].split(",")[0][:6] for n in (1, 2, 4, 5, 6, 8)] == ["TLSv1."] * 6
    assert rows[3][6] == "cleartext"
    assert rows[6][6].endswith("SNI mail.courier.test")
    assert rows[7][7] == "smtp_rcpt: 550 5.1.1 <nobody@example.org>: user unknown"
    assert rows[8][7].startswith("retried after smtp_rcpt (451 4.7.1 greylisted")
    assert rows[9][7] == "message_not_json"
    assert "COURIER_RETRY_BACKOFF_BASE_SECONDS=1" in done.stdout
    assert "every message reached its documented outcome" in done.stdout
    # ... a progress line on stderr, and the mail as .eml files beside their preview
    assert "9/9 messages settled" in done.stderr
    assert len(list((tmp_path / "demo").glob("*.eml"))) == 7
    assert (tmp_path / "demo" / "index.html").read_text().count("<section>") == 7
