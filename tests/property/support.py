"""What the property tests share: the inputs (JSON, connection URIs that embed a password) and
the checks (the credential guard per example, no password in an error).

The credential guard of tests/conftest.py records every courier error and credential of a
test; a property test runs hundreds of examples in one test, so :func:`guarded` checks what one
example recorded and then resets the guard: the cost stays linear in the examples, and a
credential of one example is never looked for in another example's errors.
"""

from __future__ import annotations

import inspect
import json
import json.decoder
import json.scanner
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any
from urllib.parse import quote, unquote

from hypothesis import strategies as st

import courier.config
import courier.errors
import courier.message
import courier.uri
import courier.validation.paths
import courier.validation.request
from tests.conftest import CredentialGuard, exception_chain, find_credential_leaks

SHORTEST_SECRET = 4
"""A password (or a piece of one) shorter than this is not looked for: it is ordinary text."""

# Characters and text.

SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
ANY_CHAR = st.one_of(st.characters(exclude_categories=()), SURROGATES)
"""Any code point, lone surrogates included (and drawn often)."""
TRICKY_CHARS = tuple("@/#?:%[]=&;,'\"\\ \t\r\n\x00\x0b\x7f+~é€😀\u0085\u2028\ud800")
"""What breaks URIs, JSON and headers: delimiters, quotes, whitespace, CR/LF, NUL, non-ASCII,
Unicode line breaks, a lone surrogate."""
TRICKY_TEXT = st.text(
    st.one_of(st.sampled_from(TRICKY_CHARS), st.characters(codec="ascii")), max_size=24
)
ANY_TEXT = st.one_of(st.text(), st.text(ANY_CHAR), TRICKY_TEXT)


def _huge(pieces: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    lengths = st.one_of(
        st.sampled_from([997, 998, 999, 262_143, 262_144, 262_145]), st.integers(0, 300_000)
    )
    return st.builds(lambda piece, length: (piece * length)[:length], pieces, lengths)


HUGE_TEXT = _huge(st.text(min_size=1, max_size=3))
"""Long strings (up to 300,000 characters) around the schema's limits; cheap to draw."""

JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20))
JSON = st.recursive(
    JSON_SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=16,
)
"""JSON values (NaN and the infinities included: ``json.dumps`` writes them, parsers must cope)."""


def json_text(value: object, *, ascii_only: bool = True) -> str:
    return json.dumps(value, ensure_ascii=ascii_only)


def nested_json(depth: int, *, kind: str = "[") -> str:
    """``depth`` arrays (or objects) inside each other: deeper than any recursion limit."""
    if kind == "[":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


DEPTHS = st.one_of(st.integers(1, 3000), st.sampled_from([999, 1000, 1001, 100_000]))


def strings(value: object) -> Iterator[str]:
    """Every string in ``value`` (a message's fields, its template data), keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings(key)
            yield from strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings(item)


# Connection URIs.

SCHEMES = st.sampled_from(["smtp", "smtps", "SMTP", "Smtps"])
BAD_SCHEMES = st.one_of(
    st.sampled_from(["http", "smtpx", "", "mailto", "smtp+tls", "esmtp"]), st.text(max_size=6)
)
LABEL = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
HOSTS = st.one_of(
    st.lists(LABEL, min_size=1, max_size=4).map(".".join),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda address: f"[{address}]"),
    st.sampled_from(["smtp.example.com", "bücher.example", "[::1", "[fe80::1]x", "a..b", "-a"]),
    st.text(max_size=12),
)
PORTS = st.one_of(
    st.just(""),
    st.integers(1, 65535).map(lambda port: f":{port}"),
    st.sampled_from([":", ":0", ":65536", ":-1", ":abc", ":٣", ":99999999999999999999"]),
    st.text(max_size=6).map(lambda text: f":{text}"),
)
QUERY_NAMES = st.one_of(
    st.sampled_from([*courier.uri.QUERY_PARAMETERS, "legacy_ssl", "password", "", "x"]),
    st.text(max_size=6),
)
QUERY_VALUES = st.one_of(
    st.sampled_from(["true", "false", "1", "0", "True", "maybe", "", "mail.example.com"]),
    st.text(max_size=8),
)
QUERIES = st.lists(st.tuples(QUERY_NAMES, QUERY_VALUES), max_size=3).map(
    lambda pairs: "?" + "&".join(f"{name}={value}" for name, value in pairs) if pairs else ""
)
TAILS = st.builds(
    lambda path, query, fragment: path + query + fragment,
    st.sampled_from(["", "/", "", "/", "//", "/x", "/%2F"]),
    QUERIES,
    st.sampled_from(["", "", "#", "#frag"]),
)
USERS = st.one_of(
    st.sampled_from(["u", "mailer", "some-user%40mg.example.org", "apikey"]),
    st.text(min_size=1, max_size=10).map(lambda text: quote(text, safe="")),
    TRICKY_TEXT,
)
PASSWORDS = st.one_of(
    st.text(min_size=1, max_size=24),
    st.text(ANY_CHAR, min_size=1, max_size=16),
    TRICKY_TEXT.filter(bool),
    st.sampled_from(["p@ss/w#rd?:%", "pässwörd😀", "line\r\nbreak", "%41%42%43%44", "s3cret"]),
)
"""Passwords: any Unicode (surrogates too), the URI's delimiters raw, CR/LF."""


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def escape_delimiters(text: str) -> str:
    """``text`` with only what a user or password may not hold raw percent-encoded: the
    delimiters, whitespace and control characters; anything else (non-ASCII, a lone
    surrogate) stays as it is."""
    return "".join(
        quote(_utf8(char), safe="") if char in "@/#?:%" or not char.isprintable() else char
        for char in text
    )


WRITINGS: dict[str, Callable[[str], str]] = {
    "raw": lambda password: password,
    "encoded": lambda password: quote(_utf8(password), safe=""),
    "delimiters-escaped": escape_delimiters,
    "delimiters-raw": lambda password: quote(_utf8(password), safe="@/#?:%&="),
}
"""How the password is written in the URI: as it is, percent-encoded, with only the
delimiters escaped, or encoded but for the delimiters (the mistake the parser must catch)."""

Layout = Callable[[str, str, str, str, str], tuple[str, str]]
"""``(scheme, user, host, port, tail) -> (before, after)``: the URI is before+password+after."""

VALID_HOSTS = st.one_of(
    st.lists(LABEL, min_size=1, max_size=4).map(".".join),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda address: f"[{address}]"),
)
PLAIN_USERS = st.one_of(
    st.sampled_from(["u", "mailer", "some-user%40mg.example.org", "apikey"]),
    st.text(min_size=1, max_size=10).map(lambda text: quote(text, safe="")),
)
GLUED = frozenset({"no-at", "lost-its-host"})
"""Layouts where the password is glued to the host: their host is valid, their user plain and
their password without raw delimiters (a password after an unclosed ``[``, or with an ``@``
that makes its tail the host, is taken for a host and shown as one)."""

LAYOUTS: dict[str, Layout] = {
    "user-password": lambda s, u, h, p, t: (f"{s}://{u}:", f"@{h}{p}{t}"),
    "no-user": lambda s, u, h, p, t: (f"{s}://:", f"@{h}{p}{t}"),
    "password-as-user": lambda s, u, h, p, t: (f"{s}://", f"@{h}{p}{t}"),
    "no-at": lambda s, u, h, p, t: (f"{s}://{u}:", f"{h}{p}{t}"),
    "lost-its-host": lambda s, u, h, p, t: (f"{s}://{h}:", t),
    "query": lambda s, u, h, p, t: (f"{s}://{h}{p}/?password=", ""),
}
"""Where a password lands, the scheme being right."""

SCHEME_LAYOUTS: dict[str, Layout] = {
    "bad-scheme": lambda s, u, h, p, t: (f"{s}://{u}:", f"@{h}{p}{t}"),
    "before-the-scheme": lambda s, u, h, p, t: (f"{u}:", f"@smtp://{h}{p}{t}"),
    "one-slash": lambda s, u, h, p, t: (f"smtp:/{u}:", f"@{h}{p}{t}"),
    "no-slash": lambda s, u, h, p, t: (f"smtp:{u}:", f"@{h}{p}{t}"),
    "no-scheme": lambda s, u, h, p, t: (f"{u}:", f"@{h}{p}{t}"),
    "no-colon": lambda s, u, h, p, t: (f"smtp//{u}:", f"@{h}{p}{t}"),
}
"""Where a password lands when the scheme is wrong or mangled (``uri_bad_scheme``)."""


@dataclass(frozen=True)
class SecretUri:
    """A URI text that embeds ``password``, written as ``written``."""

    text: str
    password: str
    written: str
    layout: str

    def secrets(self) -> set[str]:
        """What must not show in an error (see :func:`secret_forms`)."""
        return secret_forms(self.password, self.written, inputs=(self.text,))


@st.composite
def secret_uris(draw: st.DrawFn, *, scheme: str = "right") -> SecretUri:
    """A URI with a random password, in every layout of :data:`LAYOUTS` (``scheme="right"``)
    or of :data:`SCHEME_LAYOUTS` (``scheme="wrong"``)."""
    password = draw(PASSWORDS)
    layouts = LAYOUTS if scheme == "right" else SCHEME_LAYOUTS
    layout = draw(st.sampled_from(sorted(layouts)))
    glued = layout in GLUED
    how = draw(st.sampled_from(["delimiters-escaped", "encoded"] if glued else sorted(WRITINGS)))
    written = WRITINGS[how](password)
    scheme_text = draw(SCHEMES if scheme == "right" else st.one_of(SCHEMES, BAD_SCHEMES))
    user = draw(PLAIN_USERS if glued else USERS)
    host = draw(VALID_HOSTS if glued else HOSTS)
    before, after = layouts[layout](scheme_text, user, host, draw(PORTS), draw(TAILS))
    return SecretUri(
        text=before + written + after, password=password, written=written, layout=layout
    )


VALID_PARTS = st.fixed_dictionaries(
    {
        "scheme": st.sampled_from(["smtp", "smtps"]),
        "user": st.one_of(st.none(), st.text(min_size=1, max_size=12)),
        "password": st.text(min_size=1, max_size=16),
        "host": st.one_of(
            st.lists(LABEL, min_size=1, max_size=4).map(".".join), st.ip_addresses().map(str)
        ),
        "port": st.one_of(st.none(), st.integers(1, 65535)),
        "skip_ssl_verify": st.one_of(st.none(), st.booleans()),
        "disable_starttls": st.one_of(st.none(), st.booleans()),
        "server_name": st.one_of(st.none(), st.lists(LABEL, min_size=1, max_size=3).map(".".join)),
    }
)
"""The parts of a valid URI (no password without a user)."""


def valid_uri_text(parts: dict[str, Any]) -> str:
    """The URI of :data:`VALID_PARTS`, user and password percent-encoded."""
    userinfo = ""
    if parts["user"] is not None:
        userinfo = f"{quote(parts['user'], safe='')}:{quote(parts['password'], safe='')}@"
    host = f"[{parts['host']}]" if ":" in parts["host"] else parts["host"]
    port = "" if parts["port"] is None else f":{parts['port']}"
    query = "&".join(
        f"{name}={str(parts[name]).lower()}"
        for name in ("skip_ssl_verify", "disable_starttls", "server_name")
        if parts[name] is not None
    )
    return f"{parts['scheme']}://{userinfo}{host}{port}/" + (f"?{query}" if query else "")


# The checks.


def _source(*modules: ModuleType) -> str:
    return "\n".join(inspect.getsource(module) for module in modules)


_LIBRARY_TEXT = "\n".join(
    [
        _source(
            courier.config,
            courier.errors,
            courier.message,
            courier.uri,
            courier.validation.paths,
            courier.validation.request,
            json.decoder,
            json.scanner,
        ),
        json.dumps(courier.config.CONFIG_SCHEMA),
        json.dumps(courier.message.message_schema()),
    ]
).lower()
"""Every fixed text an error can hold (and more): a password found in it is a coincidence."""
_DELIMITERS = re.compile(r"[@/#?:%&=;,\[\]'\"\\\s\x00-\x1f\x7f]+")


def _coincidental(text: str, inputs: Iterable[str]) -> bool:
    """Whether ``text`` shows in an error by coincidence: it is fixed text of the library, or it
    occurs in the inputs more than once (so an error may show another occurrence)."""
    lowered = text.lower()
    if lowered in _LIBRARY_TEXT:
        return True
    for raw in inputs:
        decoded = unquote(raw, errors="replace")
        forms = {raw, decoded, repr(raw)[1:-1], repr(decoded)[1:-1]}
        if any(form.lower().count(lowered) > 1 for form in forms):
            return True
    return False


def secret_forms(password: str, written: str, *, inputs: Iterable[str]) -> set[str]:
    """The password as written, percent-decoded and as a repr shows it, and its pieces between
    delimiters: each of at least :data:`SHORTEST_SECRET` characters that is not a coincidence."""
    inputs = tuple(inputs)
    forms = {password, written, unquote(written, errors="replace")}
    forms |= {repr(form)[1:-1] for form in list(forms)}
    forms |= {piece for form in list(forms) for piece in _DELIMITERS.split(form)}
    return {
        form for form in forms if len(form) >= SHORTEST_SECRET and not _coincidental(form, inputs)
    }


def shown_secrets(error: BaseException, secrets: Iterable[str]) -> list[tuple[str, str]]:
    """Each secret that ``str()`` or ``repr()`` of ``error``, or of an exception in its
    ``__cause__``/``__context__`` chain, holds (compared case-insensitively: a scheme is
    lower-cased before it is shown), with the path to that exception."""
    texts = [
        (path or "error", render(culprit).lower())
        for path, culprit in exception_chain(error)
        for render in (str, repr)
    ]
    return [(secret, path) for secret in secrets for path, text in texts if secret.lower() in text]


def shown_in_texts(texts: Iterable[str], secrets: Iterable[str]) -> list[tuple[str, str]]:
    """Each secret that one of ``texts`` holds (case-insensitively), with that text."""
    lowered = [(text, text.lower()) for text in texts]
    return [(secret, text) for secret in secrets for text, low in lowered if secret.lower() in low]


def _lookable(credential: str) -> bool:
    """Whether the guard can look for ``credential``: its ``credential_forms`` percent-encodes
    it with ``quote()``, which raises UnicodeEncodeError for a lone surrogate."""
    try:
        credential.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@contextmanager
def guarded(guard: CredentialGuard, *, inputs: Iterable[str] = ()) -> Iterator[None]:
    """Run one example under the credential guard: on success, fail if an error it built holds
    a credential it parsed; reset the guard in any case.

    Skipped: credentials the inputs hold twice or that are library text (coincidences), and
    credentials with a lone surrogate (the guard cannot look for them; the tests' own checks
    do: :func:`shown_secrets`).
    """
    inputs = tuple(inputs)
    try:
        yield
        leaks = find_credential_leaks(
            guard.errors,
            {p for p in guard.passwords if _lookable(p) and not _coincidental(p, inputs)},
            {u for u in guard.users if _lookable(u) and not _coincidental(u, inputs)},
        )
    finally:
        guard.forget()
    assert not leaks, "\n".join(leak.describe() for leak in leaks)
