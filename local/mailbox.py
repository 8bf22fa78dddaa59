"""What the local SMTP servers accepted, kept as ``.eml`` files with an HTML page to browse them.

Each file is the message as the server received it, under a ``Received:`` trace header such as
a real MTA adds (``with ESMTPSA (TLSv1.3)``, RFC 3848) and an ``X-Courier-Local`` header with
the mode, the TLS version, the AUTH login and its mechanism (and, from a token-login project's
server, the project). ``index.html`` shows every mail, titled by its subject: its headers, its
HTML part in a sandboxed frame and its plaintext part; it needs no server and runs no script.
:func:`mail_details` is that view of one mail, for other pages (the demo's,
:mod:`local.demo_page`).

Example
-------
>>> mailbox = Mailbox(Path("out/demo"))  # doctest: +SKIP
>>> fleet = SmtpFleet(workdir=..., on_message=mailbox.save)  # doctest: +SKIP
>>> mailbox.write_preview()  # doctest: +SKIP
PosixPath('out/demo/index.html')
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from local.mailservers import SmtpFleet
from local.smtpd import ReceivedMessage

__all__ = ["Mailbox", "mail_details", "mail_subject"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


class Mailbox:
    """A folder of received mail.

    Parameters
    ----------
    directory:
        Where ``.eml`` files and ``index.html`` go (created when missing).
    on_saved:
        Called with each new file's path, the name of the server that accepted it and the
        message (from the SMTP server's thread).
    """

    def __init__(
        self,
        directory: Path,
        *,
        on_saved: Callable[[Path, str, ReceivedMessage], None] | None = None,
    ) -> None:
        self.directory = directory
        self.saved: list[Path] = []
        self.received: dict[Path, tuple[str, tuple[str, ...]]] = {}
        """Each saved file's server name (the project it serves) and envelope recipients."""
        self._lock = threading.Lock()
        self._on_saved = on_saved

    def clear(self) -> None:
        """Remove the mail and preview of an earlier run."""
        if self.directory.is_dir():
            for path in [*self.directory.glob("*.eml"), self.directory / "index.html"]:
                path.unlink(missing_ok=True)

    def save(self, server: str, message: ReceivedMessage) -> Path:
        """Write ``message``, accepted by the server named ``server`` (a mode of
        :data:`~local.mailservers.MODES`, or a token-login project), as a ``.eml`` file."""
        mode = SmtpFleet.mode(server)
        protocol = (
            "ESMTP" + ("S" if message.tls_version else "") + ("A" if message.auth_login else "")
        )
        tls = f" ({message.tls_version})" if message.tls_version else ""
        recipients = ", ".join(f"<{rcpt}>" for rcpt in message.rcpt_tos)
        smtpd = "courier local smtpd" + ("" if server == mode.name else f" {server}")
        login = f"auth={message.auth_login or 'none'}"
        if message.auth_mechanism:
            login += f"; mechanism={message.auth_mechanism}"
        if server != mode.name:
            login += f"; project={server}"
        trace = (
            f"Received: from client by 127.0.0.1 ({smtpd}, mode {mode.number} "
            f"{mode.name}) with {protocol}{tls} for {recipients}; "
            f"{format_datetime(datetime.now(UTC))}\r\n"
            f"X-Courier-Local: mode={mode.number} {mode.name}; "
            f"tls={message.tls_version or 'none'}; {login}\r\n"
        )
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            first = message.rcpt_tos[0] if message.rcpt_tos else "unknown"
            name = f"{len(self.saved) + 1:02d}-{server}-{_UNSAFE.sub('_', first)}.eml"
            path = self.directory / name
            path.write_bytes(trace.encode("ascii", "replace") + message.content)
            self.saved.append(path)
            self.received[path] = (server, message.rcpt_tos)
        if self._on_saved is not None:
            self._on_saved(path, server, message)
        return path

    def write_preview(self) -> Path:
        """Write ``index.html``, a page that shows every ``.eml`` file of the folder."""
        self.directory.mkdir(parents=True, exist_ok=True)
        mails = sorted(self.directory.glob("*.eml"))
        cards = "\n".join(_card(path) for path in mails) or "<p>No mail was delivered.</p>"
        page = _PAGE.format(count=len(mails), cards=cards)
        index = self.directory / "index.html"
        index.write_text(page, encoding="utf-8")
        return index


def _parse(path: Path) -> EmailMessage:
    parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def mail_subject(path: Path) -> str:
    """The ``Subject`` of the ``.eml`` file at ``path``, decoded (empty when it has none)."""
    return str(_parse(path).get("Subject", ""))


def mail_details(path: Path) -> str:
    """HTML for one mail: a link to its file, its headers, its HTML part in a sandboxed frame
    (no script runs) and its plaintext part, every value escaped."""
    parsed = _parse(path)
    html_part = parsed.get_body(preferencelist=("html",))
    text_part = parsed.get_body(preferencelist=("plain",))
    rows = "".join(
        f"<tr><th>{name}</th><td>{html.escape(str(parsed.get(name, '')))}</td></tr>"
        for name in ("Subject", "From", "To", "Date", "X-Courier-Local")
    )
    frame = (
        f'<iframe sandbox title="HTML part" srcdoc="{html.escape(html_part.get_content())}">'
        "</iframe>"
        if html_part is not None
        else "<p><em>no HTML part</em></p>"
    )
    text = html.escape(text_part.get_content()) if text_part is not None else "(no plaintext part)"
    link = f'<p><a href="{html.escape(path.name)}">{html.escape(path.name)}</a></p>'
    return (
        f"{link}<table>{rows}</table>{frame}<details><summary>plaintext</summary>"
        f"<pre>{text}</pre></details>"
    )


def _card(path: Path) -> str:
    title = html.escape(mail_subject(path) or "(no subject)")
    return f"<section><h2>{title}</h2>{mail_details(path)}</section>"


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>courier: {count} delivered mail(s)</title>
<style>
body {{ font: 15px/1.4 system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; }}
section {{ border: 1px solid #ccc; border-radius: 6px; margin: 1.5rem 0; padding: 0 1rem 1rem; }}
th {{ text-align: left; padding-right: 1rem; color: #555; font-weight: normal; }}
iframe {{ width: 100%; height: 18rem; border: 1px solid #ddd; }}
</style></head><body>
<h1>courier: {count} delivered mail(s)</h1>
<p>Each mail as the local SMTP server received it; the <code>.eml</code> files open in any
mail client.</p>
{cards}
</body></html>
"""
