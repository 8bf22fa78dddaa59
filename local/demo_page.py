"""The demo's page (``out/demo/index.html``): every message and where it ended.

One section per demo message, in the order they were sent, titled by the mail's subject (or,
for a message that never rendered, by what it was, e.g. "malformed body"):

- a delivered one shows its tries, what the server saw (TLS version, SNI, a token login's
  mechanism), the login it took (mechanism and user or mailbox) and the mail itself
  (:func:`local.mailbox.mail_details`: headers, the HTML part in a sandboxed frame, the
  plaintext part, a link to the ``.eml`` file);
- a dead-lettered one shows its cause as the DLQ's ``courier.*`` attributes say it: reason,
  error code and message, SMTP step and reply;
- a retried one lists each try that handed it back, with its cause.

The page needs no server and runs no script; every value is escaped.

Example
-------
>>> write_demo_page(Path("out/demo/index.html"), result)  # doctest: +SKIP
PosixPath('out/demo/index.html')
"""

from __future__ import annotations

import html
from pathlib import Path

from local.mailbox import mail_details
from local.summary import DemoResult, MessageOutcome

__all__ = ["write_demo_page"]

_DEAD_LETTER_ROWS = (
    ("reason", "courier.reason"),
    ("error code", "courier.error_code"),
    ("error message", "courier.error_message"),
    ("SMTP step", "courier.smtp_step"),
    ("SMTP reply", "courier.smtp_reply"),
    ("maybe delivered", "courier.maybe_delivered"),
    ("attempts", "courier.attempts"),
)


def write_demo_page(path: Path, result: DemoResult) -> Path:
    """Write the page of ``result`` to ``path`` (beside the ``.eml`` files); return ``path``.

    Parameters
    ----------
    path:
        The page, in the folder of the delivered mail (its links are relative).
    result:
        The demo's outcomes.
    """
    outcomes = result.outcomes
    delivered = sum(o.outcome == "delivered" for o in outcomes)
    dead = sum(o.outcome == "dead-lettered" for o in outcomes)
    heading = f"courier demo: {len(outcomes)} messages, {delivered} delivered, {dead} dead-lettered"
    status = (
        "every message reached its documented outcome"
        if result.ok
        else "SOME MESSAGES DID NOT REACH THEIR DOCUMENTED OUTCOME"
    )
    intro = (
        f"<p>Through {html.escape(result.function)} in {result.seconds:.1f} s "
        f"({result.batches} batches); retries back off {result.backoff_seconds} s "
        f"(COURIER_RETRY_BACKOFF_BASE_SECONDS). {html.escape(status)}.</p>"
    )
    contents = "".join(
        f'<li><a href="#message-{o.number}">{html.escape(o.title)}</a>: '
        f"{html.escape(o.outcome)}</li>"
        for o in outcomes
    )
    sections = "\n".join(_section(outcome) for outcome in outcomes)
    page = _PAGE.format(
        title=html.escape(heading), intro=intro, contents=contents, sections=sections
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def _section(outcome: MessageOutcome) -> str:
    facts = [
        ("message", outcome.label),
        ("project", outcome.project or "(default)"),
        ("mode", f"{outcome.mode.number} {outcome.mode.title}" if outcome.mode else "-"),
        ("outcome", outcome.outcome),
        ("tries", str(outcome.attempts)),
    ]
    if outcome.outcome == "delivered":
        facts.append(("server saw", outcome.server_saw))
        if outcome.auth_mechanism:
            facts.append(("login", f"{outcome.auth_mechanism} as {outcome.auth_login or '-'}"))
    if not outcome.as_documented:
        facts.append(("documented", outcome.documented))
    parts = [_table(facts)]
    if outcome.dead_letter:
        rows = [
            (name, outcome.dead_letter[key])
            for name, key in _DEAD_LETTER_ROWS
            if outcome.dead_letter.get(key)
        ]
        parts.append(f"<h3>Dead-lettered</h3>{_table(rows)}")
    if outcome.retries:
        tries = "".join(
            f"<li>try {attempt}: retried after {html.escape(cause)}</li>"
            for attempt, cause in outcome.retries
        )
        last = outcome.attempts
        if outcome.outcome != "pending" and all(attempt != last for attempt, _ in outcome.retries):
            tries += f"<li>try {last}: {html.escape(outcome.outcome)}</li>"
        parts.append(f"<h3>Tries</h3><ol>{tries}</ol>")
    if outcome.mail_file is not None and outcome.mail_file.is_file():
        parts.append(f"<h3>The mail</h3>{mail_details(outcome.mail_file)}")
    title = f"{outcome.number}. {outcome.title} \N{EM DASH} {outcome.outcome}"
    return (
        f'<section id="message-{outcome.number}" class="{html.escape(outcome.outcome)}">'
        f"<h2>{html.escape(title)}</h2>{''.join(parts)}</section>"
    )


def _table(rows: list[tuple[str, str]]) -> str:
    cells = "".join(
        f"<tr><th>{html.escape(name)}</th><td>{html.escape(value)}</td></tr>"
        for name, value in rows
    )
    return f"<table>{cells}</table>"


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font: 15px/1.4 system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; }}
section {{ border: 1px solid #ccc; border-radius: 6px; margin: 1.5rem 0; padding: 0 1rem 1rem; }}
section.dead-lettered {{ border-color: #c33; }}
section.pending {{ border-color: #c90; }}
th {{ text-align: left; padding-right: 1rem; color: #555; font-weight: normal; }}
iframe {{ width: 100%; height: 18rem; border: 1px solid #ddd; }}
</style></head><body>
<h1>{title}</h1>
{intro}
<ol>{contents}</ol>
<p>Delivered mail is kept beside this page as <code>.eml</code> files, which open in any mail
client; the dead-letter queue keeps each dead-lettered body with its cause.</p>
{sections}
</body></html>
"""
