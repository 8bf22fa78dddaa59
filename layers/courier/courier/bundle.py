"""Files a config names in courier's bundle: read only from their folder, whatever the path.

A config may name bundled files (``file://`` templates, client certificates). The sender runs
on Lambda, where only the deployed bundle exists, and one project's config must not make the
sender read another file of the bundle (or of the system): a path is resolved, symlinks
followed, and refused unless it lands inside its folder.

Example
-------
>>> from courier.templates import TEMPLATE_DIR
>>> text = read_bundled_file("builtin/login_code_valid/email.subject.j2", root=TEMPLATE_DIR,
...                          field="f", kind=BundledKind("template_file", "template", "file://"))
>>> text.strip()
'Log in to your account'
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from courier.errors import ConfigError

__all__ = ["BundledKind", "read_bundled_file"]


@dataclass(frozen=True)
class BundledKind:
    """What kind of file is read, for the error codes and messages.

    Attributes
    ----------
    code:
        The prefix of the codes: ``{code}_outside``, ``{code}_missing``, ``{code}_unreadable``.
    what:
        The folder's contents in a message ("template", "certificate").
    shown_prefix:
        Written before the path in messages (``file://``), or ``""``.
    instead:
        What to do instead of a file outside the folder.
    """

    code: str
    what: str
    shown_prefix: str = ""
    instead: str = ""


def read_bundled_file(
    path: str, *, root: Path, field: str, kind: BundledKind, max_bytes: int | None = None
) -> str:
    """The UTF-8 text of ``path``, relative to ``root`` (or absolute inside it).

    Raises
    ------
    ConfigError
        ``{kind.code}_outside``, ``{kind.code}_missing`` or ``{kind.code}_unreadable`` (not
        UTF-8, or larger than ``max_bytes``).
    """
    shown = f"{kind.shown_prefix}{path}"
    folder = f"courier's bundled {kind.what} folder ({root})"
    try:
        # resolve() follows symlinks, so a link that points out of the folder is outside too.
        resolved = (root / path).resolve()
    except (OSError, ValueError) as exc:
        raise ConfigError(field, f"{kind.code}_missing", f"{shown}: {exc}") from None
    if not resolved.is_relative_to(root):
        raise ConfigError(
            field,
            f"{kind.code}_outside",
            f"{shown} is outside {folder}; the sender reads such files only from there (it "
            f"runs on AWS Lambda, with nothing but its bundle): {kind.instead}",
        )
    if not resolved.is_file():
        raise ConfigError(
            field, f"{kind.code}_missing", f"{shown}: there is no such file in {folder}"
        )
    try:
        with resolved.open("rb") as handle:
            data = handle.read() if max_bytes is None else handle.read(max_bytes + 1)
        if max_bytes is not None and len(data) > max_bytes:
            raise ConfigError(
                field,
                f"{kind.code}_unreadable",
                f"{shown} is larger than {max_bytes // 1024} KiB: not a {kind.what} file",
            )
        return data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            field,
            f"{kind.code}_unreadable",
            f"{shown} cannot be read as UTF-8 text ({type(exc).__name__})",
        ) from None
