"""``python -m local``: invoke, up (with invoke and send against it) and the demo, as a user runs
them from a shell."""

from __future__ import annotations

import json
import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from functools import partial
from pathlib import Path

import pytest

from local.aws import endpoint_client
from local.sam_env import SAM_ENV_FILE
from local.sandbox import find_session
from local.up import READY_LINE

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
EVENTS = ROOT / "events" / "sender"
README = ROOT / "README.md"


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


class Printed:
    """What ``up`` printed so far: ``printed(text)`` says whether a line has ``text``."""

    def __init__(self, lines: queue.Queue[str]) -> None:
        self._lines = lines
        self._seen: list[str] = []

    def count(self, text: str) -> int:
        while not self._lines.empty():
            self._seen.append(self._lines.get())
        return sum(text in line for line in self._seen)

    def __call__(self, text: str) -> bool:
        return self.count(text) > 0

    def line(self, text: str) -> str | None:
        """The first line printed so far that has ``text``."""
        self.count(text)
        return next((line for line in self._seen if text in line), None)


def test_up_serves_invoke_and_send_until_interrupted(
    up: tuple[subprocess.Popen[str], queue.Queue[str], Path], tmp_path: Path
) -> None:
    process, lines, workdir = up
    printed = Printed(lines)

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


TOKEN_PROJECTS = {
    "xoauth2": ("smtp", 1, "STARTTLS, verified"),
    "oauthbearer": ("smtps", 4, "implicit TLS, verified"),
}
"""The token-login projects of `up`: their scheme, and their server's mode."""


def test_up_offers_token_login_projects_that_deliver_with_the_endpoints_token(
    up: tuple[subprocess.Popen[str], queue.Queue[str], Path], tmp_path: Path
) -> None:
    process, lines, workdir = up
    printed = Printed(lines)

    # GIVEN `up`, once it says it is up: it lists the token endpoint and the token-login
    # projects, each URI with its mechanism and no password, and its server's mode
    wait_for(lambda: printed(READY_LINE), seconds=60, what="up to start")
    assert printed("  token login   https://localhost:")
    for project, (scheme, number, title) in TOKEN_PROJECTS.items():
        listed = printed.line(f"  {project} ({project.upper()}, a token by ")
        assert listed is not None, project
        mode, uri, _ = re.split(r"\s{2,}", listed.strip())
        assert mode == f"{number} {title}"
        assert re.fullmatch(
            rf"{scheme}://no-reply%40{project}\.courier\.example@127\.0\.0\.1:\d+/\?auth={project}",
            uri,
        )

    # WHEN a message is sent to each of them
    sent = {}
    for project in TOKEN_PROJECTS:
        body = {
            "project_id": project,
            "recipient": "ada@example.org",
            "template_type": "login_code_valid",
            "template_data": {"login_code": "123456"},
        }
        done = run_local("send", json.dumps(body), "--workdir", workdir, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        sent[project] = done.stdout.strip()

    # THEN each is delivered at once, its server having taken the login the URI asks for, as
    # the project's mailbox (the server takes only the token the endpoint issued)
    for project, message_id in sent.items():
        outcome = f"  {message_id[:8]}  delivered"
        wait_for(partial(printed, outcome), seconds=30, what=f"the {project} message's outcome")
        mailbox = f"no-reply@{project}.courier.example"
        mechanism = project.upper()
        _, number, title = TOKEN_PROJECTS[project]
        mail_line = f"mail via {project} (mode {number}, {title}; {mechanism} login as {mailbox}): "
        wait_for(partial(printed, mail_line), seconds=10, what=f"the {project} mail")
        [path] = (workdir / "mail").glob(f"*-{project}-ada_example.org.eml")
        mail = message_from_bytes(path.read_bytes(), policy=policy.default)
        assert re.fullmatch(
            rf"mode=\d \S+; tls=TLSv1\.[23]; auth={re.escape(mailbox)}; "
            rf"mechanism={mechanism}; project={project}",
            mail["X-Courier-Local"],
        )
    assert not printed("retried")
    # ... and no secret of the token settings (in SSM) was printed
    session = find_session(workdir / "session.json")
    assert session is not None
    ssm = endpoint_client("ssm", endpoint_url=session.endpoint_url, region=session.region)
    settings = {
        project: json.loads(
            ssm.get_parameter(Name=f"/courier/{project}/smtp/oauth2", WithDecryption=True)[
                "Parameter"
            ]["Value"]
        )
        for project in sent
    }
    secrets = [
        settings["xoauth2"]["client_secret"],
        settings["oauthbearer"]["service_account_key"]["private_key_id"],
        *settings["oauthbearer"]["service_account_key"]["private_key"].splitlines()[1:-1],
    ]
    for secret in secrets:
        assert not printed(secret)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 0


def test_messages_shows_the_status_records_of_the_running_up(
    up: tuple[subprocess.Popen[str], queue.Queue[str], Path], tmp_path: Path
) -> None:
    process, lines, workdir = up
    printed = Printed(lines)

    # GIVEN `up`, and two messages it has delivered and dead-lettered
    wait_for(lambda: printed(READY_LINE), seconds=60, what="up to start")
    delivered = {
        "project_id": "smtps",
        "recipient": "Ada@example.org",
        "template_type": "login_code_valid",
        "template_data": {"login_code": "123456"},
    }
    sent = [
        run_local("send", body, "--workdir", workdir, cwd=tmp_path).stdout.strip()
        for body in (json.dumps(delivered), '{"recipient": "ada@example.org", "template_type": ')
    ]
    wait_for(lambda: printed.count("batch of 1: 1 done") == 2, seconds=30, what="both batches")

    # WHEN `messages` lists every project's, then one recipient's, then shows one message
    listed = run_local("messages", "--workdir", workdir, "-t", TEMPLATE, cwd=tmp_path)
    ada = run_local(
        "messages", "--recipient", "ada@example.org", "--project", "smtps", "--json",
        "--workdir", workdir, "-t", TEMPLATE, cwd=tmp_path,
    )  # fmt: skip
    one = run_local("messages", "--id", sent[0], "--workdir", workdir, "-t", TEMPLATE, cwd=tmp_path)
    unknown = run_local(
        "messages", "--id", "nope", "--workdir", workdir, "-t", TEMPLATE, cwd=tmp_path
    )

    # THEN the table has both, newest first, as the routes give them
    assert listed.returncode == 0, listed.stderr
    table = [re.split(r"\s{2,}", line) for line in listed.stdout.splitlines()]
    assert table[0] == [
        "id",
        "project",
        "template type",
        "recipient",
        "status",
        "sends",
        "updated (UTC)",
    ]
    assert [row[:6] for row in table[1:]] == [
        [sent[1], "default", "-", "-", "dead_lettered", "1"],
        [sent[0], "smtps", "login_code_valid", "Ada@example.org", "delivered", "1"],
    ]
    # ... the listing of one recipient (its case ignored) is the route's JSON
    assert ada.returncode == 0, ada.stderr
    assert [m["id"] for m in json.loads(ada.stdout)["messages"]] == [sent[0]]
    # ... one message comes with its dispatch: the DATA step, the server's 250 and its Message-ID
    assert one.returncode == 0, one.stderr
    assert "status      delivered" in one.stdout
    dispatch = next(line for line in one.stdout.splitlines() if line.startswith("1  "))
    assert re.split(r"\s{2,}", dispatch)[2:4] == ["success", "DATA"]
    assert re.search(r"250 2\.0\.0 OK.*<courier\.[0-9a-f]+@smtps\.courier\.example>", dispatch)
    # ... and an unknown id is an error that names where it looked
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "Error: no message nope in any project (default, smtps)"
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 0


def test_messages_without_a_running_up_says_how_to_start_one(tmp_path: Path) -> None:
    done = run_local("messages", "--workdir", tmp_path / "local", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout == ""
    assert "no local stack is up: start one with `python -m local up`" in done.stderr


ROW = re.compile(r"^(\d+)\s{2,}")


def test_the_demo_gives_every_message_its_documented_outcome(tmp_path: Path) -> None:
    # GIVEN a fresh clone's state (no build) WHEN `make demo`'s command runs
    done = run_local("demo", "--out", tmp_path / "demo", cwd=ROOT)

    # THEN it ends by itself, status 0, with one summary line per message
    assert done.returncode == 0, done.stdout + done.stderr
    summary, statuses = done.stdout.split("\nstatus records (", 1)
    rows = table_rows(summary)
    # columns: #, message, project, mode, outcome, tries, server saw, cause
    outcome = {n: (row[2], row[4], row[5]) for n, row in rows.items()}
    assert outcome == {
        1: ("starttls", "delivered", "1"),
        2: ("starttls-skip-verify", "delivered", "1"),
        3: ("cleartext", "delivered", "1"),
        4: ("smtps", "delivered", "1"),
        5: ("smtps-skip-verify", "delivered", "1"),
        6: ("smtps-server-name", "delivered", "1"),
        7: ("xoauth2", "delivered", "1"),
        8: ("oauthbearer", "delivered", "1"),
        9: ("starttls", "dead-lettered", "1"),
        10: ("smtps", "delivered", "2"),
        11: ("(default)", "dead-lettered", "1"),
    }
    # ... the TLS the servers saw, per mode, the token logins they took, and the causes
    assert [rows[n][6].split(",")[0][:6] for n in (1, 2, 4, 5, 6, 7, 8, 10)] == ["TLSv1."] * 8
    assert rows[3][6] == "cleartext"
    assert rows[6][6].endswith("SNI mail.courier.test")
    assert [(rows[n][3], rows[n][6].split(", ", 1)[1]) for n in (7, 8)] == [
        ("1 STARTTLS, verified", "XOAUTH2 token"),
        ("4 implicit TLS, verified", "OAUTHBEARER token"),
    ]
    assert [rows[n][7] for n in (7, 8)] == ["-", "-"]
    assert rows[9][7] == "smtp_rcpt: 550 5.1.1 <nobody@example.org>: user unknown"
    assert rows[10][7].startswith("retried after smtp_rcpt (451 4.7.1 greylisted")
    assert rows[11][7].startswith("message_not_json: body: is not JSON: ")
    assert "COURIER_RETRY_BACKOFF_BASE_SECONDS=1" in done.stdout
    assert "every message reached its documented outcome" in done.stdout
    # ... a progress line on stderr, and the mail as .eml files beside a page of every message
    assert "11/11 messages settled" in done.stderr
    assert len(list((tmp_path / "demo").glob("*.eml"))) == 9
    page = (tmp_path / "demo" / "index.html").read_text()
    titles = re.findall(r'<section id="message-\d+" class="([a-z-]+)"><h2>(.*?)</h2>', page)
    assert len(titles) == 11
    assert titles[0] == ("delivered", "1. Recover access to your account \N{EM DASH} delivered")
    assert titles[6] == ("delivered", "7. Log in to your account \N{EM DASH} delivered")
    assert titles[8][0] == "dead-lettered"
    assert titles[8][1].startswith("9. Recover access to your account")
    assert titles[10] == ("dead-lettered", "11. malformed body \N{EM DASH} dead-lettered")
    assert "<th>login</th><td>XOAUTH2 as no-reply@xoauth2.courier.example</td>" in page
    assert "<th>login</th><td>OAUTHBEARER as no-reply@oauthbearer.courier.example</td>" in page
    assert "<th>error code</th><td>smtp_rcpt</td>" in page
    assert "<th>error code</th><td>message_not_json</td>" in page
    assert "<li>try 1: retried after smtp_rcpt (451 4.7.1 greylisted" in page
    assert page.count('<iframe sandbox title="HTML part"') == 9
    # ... and, last, each message's status record as the HTTP API's route reads it, matching
    # its documented outcome (the greylisted one delivered after 2 dispatches)
    # columns: #, recipient, template type, status, sends, last error
    records = {n: tuple(row[1:]) for n, row in table_rows(statuses).items()}
    assert records == {
        1: ("ada+starttls@example.org", "recovery_code_valid", "delivered", "1", "-"),
        2: (
            "ada+starttls-skip-verify@example.org",
            "verification_code_valid",
            "delivered",
            "1",
            "-",
        ),
        3: ("ada+cleartext@example.org", "login_code_valid", "delivered", "1", "-"),
        4: ("ada+smtps@example.org", "registration_code_valid", "delivered", "1", "-"),
        5: ("ada+smtps-skip-verify@example.org", "recovery_valid", "delivered", "1", "-"),
        6: ("ada+smtps-server-name@example.org", "verification_valid", "delivered", "1", "-"),
        7: ("ada+xoauth2@example.org", "login_code_valid", "delivered", "1", "-"),
        8: ("ada+oauthbearer@example.org", "recovery_code_valid", "delivered", "1", "-"),
        9: ("nobody@example.org", "recovery_code_valid", "dead_lettered", "1", "smtp_rcpt"),
        10: ("greylisted@example.org", "login_code_valid", "delivered", "2", "smtp_rcpt"),
        11: ("-", "-", "dead_lettered", "1", "message_not_json"),
    }
    assert statuses.rstrip().endswith("every status record says so")


def table_rows(text: str) -> dict[int, list[str]]:
    """The numbered rows of a printed table, split into their cells."""
    return {
        int(match.group(1)): re.split(r"\s{2,}", line.strip())
        for line in text.splitlines()
        if (match := ROW.match(line))
    }


# Every workflow of the README's "Local use" section, run as written there.


def readme_command_lines() -> list[list[str]]:
    """The ``.venv/bin/python -m local ...`` command lines of the README's "Local use" section,
    in order: continuation lines joined, ``# comments`` and ``[optional]`` parts dropped
    (outside quotes), then split as a shell does."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Local use", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    lines = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(_required_part(line))
            if words[:3] == [".venv/bin/python", "-m", "local"] and len(words) > 3:
                lines.append(words)
    return lines


def readme_commands() -> dict[str, list[str]]:
    """The first of the README's command lines (:func:`readme_command_lines`) of each
    subcommand."""
    commands: dict[str, list[str]] = {}
    for words in readme_command_lines():
        commands.setdefault(words[3], words)
    return commands


def _required_part(line: str) -> str:
    """``line`` without its comment and its ``[...]`` groups (both outside quotes)."""
    kept: list[str] = []
    quote = ""
    depth = 0
    for n, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (n == 0 or line[n - 1].isspace()):
            break
        elif char in "[]":
            depth += 1 if char == "[" else -1
            continue
        if depth == 0:
            kept.append(char)
    return "".join(kept)


def as_run(words: list[str]) -> list[str]:
    """A README command line, run by the interpreter that runs the tests (the README's
    ``.venv/bin/python``)."""
    assert words[0] == ".venv/bin/python"
    return [sys.executable, *words[1:]]


class Console:
    """The lines a process prints, read as they come (no polling of the clock)."""

    def __init__(self, stream: Iterator[str]) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()

        def read() -> None:
            for line in stream:
                self._queue.put(line.rstrip("\n"))
            self._queue.put(None)

        threading.Thread(target=read, daemon=True).start()

    def wait_for(self, pattern: str, *, seconds: float) -> re.Match[str]:
        """The first line (printed so far or next) that matches ``pattern``."""
        compiled = re.compile(pattern)
        for seen in self.lines:
            if match := compiled.search(seen):
                return match
        deadline = time.monotonic() + seconds
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                lines = "\n".join(self.lines)
                raise AssertionError(f"no line matched {pattern!r}:\n{lines}") from None
            if line is None:
                lines = "\n".join(self.lines)
                raise AssertionError(f"the process ended before {pattern!r}:\n{lines}")
            self.lines.append(line)
            if match := compiled.search(line):
                return match


@pytest.fixture
def readme_up(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Console, Path]]:
    """The README's ``up`` line, as written: from the repository's root, its default workdir
    (the relative ``out/local``), its own process group; stderr kept in a file."""
    if find_session(ROOT / "out" / "local" / "session.json") is not None:
        pytest.skip("an `up` of this checkout is running: it would lose its session")
    stderr = tmp_path / "up.stderr"
    with stderr.open("w") as errors:
        process = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
            as_run(readme_commands()["up"]),
            cwd=ROOT,
            env={"PATH": "/usr/bin:/bin"},
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            start_new_session=True,
        )
    assert process.stdout is not None
    try:
        yield process, Console(process.stdout), stderr
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        process.stdout.close()


def test_the_readme_up_send_and_invoke_deliver_over_verified_tls(
    readme_up: tuple[subprocess.Popen[str], Console, Path],
) -> None:
    process, console, stderr = readme_up
    commands = readme_commands()

    # GIVEN the README's `up`, once it says it is up
    console.wait_for(re.escape(READY_LINE), seconds=60)
    mail_dir = Path(console.wait_for(r"^  mail +(\S+)/\*\.eml", seconds=5).group(1))
    ca_bundle = Path(console.wait_for(r"SSL_CERT_FILE=(\S+)", seconds=5).group(1))
    env_file = Path(console.wait_for(r"--env-vars (\S+)", seconds=5).group(1))

    # WHEN the README's `send` lines (the first to smtps) and its `invoke` run, from the root
    # as well
    sends = [words for words in readme_command_lines() if words[3] == "send"]
    assert sends[0] == commands["send"]
    sent = [
        subprocess.run(  # noqa: S603
            as_run(words),
            cwd=ROOT,
            env={"PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        for words in sends
    ]
    invoked = subprocess.run(  # noqa: S603
        as_run(commands["invoke"]),
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    # THEN each sent message is delivered through the queue (smtps: implicit TLS, verified) ...
    for done in sent:
        assert done.returncode == 0, done.stderr
        message_id = done.stdout.strip()
        outcome = console.wait_for(rf"^  {re.escape(message_id[:8])}  (.*)$", seconds=60)
        assert outcome.group(1) == "delivered"
    # ... and the invoked event (the default project: STARTTLS, verified) too
    assert invoked.returncode == 0, invoked.stderr
    assert "Using the local stack of `up`" in invoked.stderr
    assert json.loads(invoked.stdout) == {"batchItemFailures": []}
    assert '"message":"message delivered"' in invoked.stderr
    assert f"mail goes to {mail_dir}" in invoked.stderr
    # ... each mail in the mailbox `up` printed, with the TLS version the server saw
    for mode, name in ((4, "smtps"), (1, "starttls")):
        line = console.wait_for(rf"^mail via mode {mode} \(.*\): (\S+)$", seconds=30)
        path = Path(line.group(1))
        assert path.parent == mail_dir
        mail = message_from_bytes(path.read_bytes(), policy=policy.default)
        assert re.search(r"with ESMTPSA \(TLSv1\.[23]\) for <ada@example\.org>", mail["Received"])
        assert re.match(
            rf"mode={mode} {name}; tls=TLSv1\.[23]; auth=courier", mail["X-Courier-Local"]
        )
    # ... and every path `up` recorded and printed is absolute (the functions run in their code
    # folder; `invoke` and `send` may run elsewhere)
    workdir = ROOT / "out" / "local"
    session = find_session(workdir / "session.json")
    assert session is not None
    assert (Path(session.ca_bundle), Path(session.mail_dir)) == (ca_bundle, mail_dir)
    assert ca_bundle == workdir / "ca.pem"
    assert mail_dir == workdir / "mail"
    assert env_file == workdir / SAM_ENV_FILE
    assert env_file.is_file()
    printed = "\n".join(console.lines)
    assert "retried" not in printed
    assert "not trusted" not in printed + invoked.stderr

    # ... and Ctrl-C (to its process group) stops it: session and --env-vars file gone, no
    # server traceback on its stderr
    os.killpg(process.pid, signal.SIGINT)
    assert process.wait(timeout=30) == 0
    assert not (workdir / "session.json").exists()
    assert not env_file.exists()
    assert "Traceback" not in stderr.read_text()
