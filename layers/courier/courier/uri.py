"""The SMTP connection URI: parsing, the security mode it names, and its redacted form.

The URI is the one setting that decides whether a password-reset mail travels encrypted, so the
parser is strict where browsers and Go's ``net/url`` are lenient: a raw ``@``, ``/``, ``?``,
``#``, ``:`` or ``%`` in the user or password, an unknown query parameter or a boolean that is
not a boolean is a :class:`~courier.errors.ConfigError` that names the field and the fix, never
a guess.

A mistake moves the password to where no one expects it (a raw ``@`` or ``/`` makes part of it
the host, the port or the path; a password pasted alone is the whole URI), so no error quotes
the URI or any part of it: not the scheme text, the user, the password, the host, the path, a
query parameter's name or value, nor ``server_name``. An error names the field, what is wrong
and the fix; it shows only what courier knows already (a supported or well-known scheme, a
known parameter name, a default port). Nor does any error keep a library's exception in its
``__cause__`` or ``__context__``: those quote their input.

Example
-------
>>> uri = ConnectionUri.parse("smtp://some-user%40mg.example.org:s3cret@smtp.mailgun.org/")
>>> uri.username, uri.port, uri.security
('some-user@mg.example.org', 587, <Security.STARTTLS: 'starttls'>)
>>> str(uri)
'smtp://some-user%40mg.example.org:***@smtp.mailgun.org:587/'
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import quote, unquote

from courier.errors import ConfigError

# The port lists live in courier.ports; they stay importable from here, where they were first.
from courier.ports import DEFAULT_PORTS, IMPLICIT_TLS_PORTS, STARTTLS_PORTS

__all__ = [
    "DEFAULT_PORTS",
    "IMPLICIT_TLS_PORTS",
    "STARTTLS_PORTS",
    "AuthMechanism",
    "ConnectionUri",
    "Security",
]

FIELD = "connection_uri"
_SMTP_PORT, _SMTPS_PORT = DEFAULT_PORTS["smtp"], DEFAULT_PORTS["smtps"]
QUERY_PARAMETERS = ("disable_starttls", "skip_ssl_verify", "server_name", "auth")
# Schemes an error may name (a known word, never a secret): others are "the scheme".
_KNOWN_SCHEMES = frozenset(
    {"http", "https", "ftp", "file", "mailto", "imap", "imaps", "pop", "pop3", "pop3s", "ssmtp"}
    | {"smtp+tls", "smtp+ssl", "smtp+starttls", "submission", "submissions", "ldap", "ldaps"}
)
_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})
_PERCENT_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_HOST_LABEL = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")
_FORBIDDEN_IN_USERINFO = {"/": "%2F", "?": "%3F", "#": "%23", "@": "%40", ":": "%3A"}


class Security(StrEnum):
    """How a session is protected, as the URI names it."""

    STARTTLS = "starttls"
    """``smtp://``: cleartext greeting, then mandatory STARTTLS."""
    IMPLICIT_TLS = "implicit-tls"
    """``smtps://``: TLS from the first byte (RFC 8314)."""
    CLEARTEXT = "cleartext"
    """``smtp://...?disable_starttls=true``: no encryption at all, deliberately."""


class AuthMechanism(StrEnum):
    """How the session logs in with an OAuth 2.0 access token instead of a password (``auth=``).

    The URI's user is the mailbox; the token comes from the project's SecureString
    ``…/smtp/oauth2`` (:mod:`courier.oauth`).
    """

    XOAUTH2 = "xoauth2"
    """Google's and Microsoft's SASL mechanism (``AUTH XOAUTH2``)."""
    OAUTHBEARER = "oauthbearer"
    """RFC 7628 (``AUTH OAUTHBEARER``)."""


@dataclass(frozen=True, kw_only=True)
class ConnectionUri:
    """A parsed SMTP connection URI.

    Build one with :meth:`parse`. ``str()`` and ``repr()`` never show the password.
    """

    scheme: str
    host: str
    port: int
    port_is_default: bool
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    skip_ssl_verify: bool = False
    disable_starttls: bool = False
    server_name: str | None = None
    auth: AuthMechanism | None = None
    """Token login (``auth=xoauth2`` or ``auth=oauthbearer``); ``None``: a password, or no AUTH."""

    @classmethod
    def parse(cls, raw: str) -> ConnectionUri:
        """Parse ``raw``; raise :class:`ConfigError` naming the field and the fix.

        Parameters
        ----------
        raw:
            ``smtp[s]://[user:password@]host[:port][/][?param=value&...]``, with the user and
            password percent-encoded; with ``auth=xoauth2`` or ``auth=oauthbearer``,
            ``smtp[s]://mailbox@host/`` (no password: the token is the password).

        Raises
        ------
        ConfigError
            For anything but a URI of the form above.
        """
        return _parse(raw)

    @property
    def security(self) -> Security:
        """The security mode: :class:`Security`."""
        if self.scheme == "smtps":
            return Security.IMPLICIT_TLS
        return Security.CLEARTEXT if self.disable_starttls else Security.STARTTLS

    @property
    def uses_tls(self) -> bool:
        """Whether the session is encrypted (every mode but ``disable_starttls``)."""
        return self.security is not Security.CLEARTEXT

    @property
    def verify_certificate(self) -> bool:
        """Whether the server's certificate and name are checked."""
        return not self.skip_ssl_verify

    @property
    def credentials(self) -> tuple[str, str] | None:
        """``(user, password)`` for a password AUTH, or ``None`` (no AUTH, or token login)."""
        if self.username is None or self.password is None:
            return None
        return self.username, self.password

    @property
    def token_user(self) -> str | None:
        """The mailbox a token login (:attr:`auth`) is for, or ``None`` without one."""
        return self.username if self.auth is not None else None

    @property
    def tls_server_name(self) -> str:
        """The name sent as SNI and checked against the certificate."""
        return self.server_name or self.host

    def redacted(self) -> str:
        """The URI with the password replaced by ``***``: safe for logs, errors and metrics."""
        userinfo = ""
        if self.username is not None:
            userinfo = quote(self.username, safe="") + (":***" if self.password else "") + "@"
        host = f"[{self.host}]" if ":" in self.host else self.host
        query = "&".join(
            f"{name}={value}"
            for name, value in (
                ("disable_starttls", "true" if self.disable_starttls else None),
                ("skip_ssl_verify", "true" if self.skip_ssl_verify else None),
                ("server_name", self.server_name),
                ("auth", str(self.auth) if self.auth else None),
            )
            if value is not None
        )
        return f"{self.scheme}://{userinfo}{host}:{self.port}/" + (f"?{query}" if query else "")

    def __str__(self) -> str:
        return self.redacted()


def _parse(raw: str) -> ConnectionUri:
    if not isinstance(raw, str):
        raise ConfigError(
            FIELD, "uri_not_a_string", f"must be a string such as smtp://host:{_SMTP_PORT}/"
        )
    if not raw.strip():
        raise ConfigError(
            FIELD, "uri_empty", f"is empty; expected smtp://user:password@host:{_SMTP_PORT}/"
        )
    if any(char.isspace() or ord(char) < 32 or ord(char) == 127 for char in raw):
        raise ConfigError(
            FIELD,
            "uri_whitespace",
            "contains whitespace or control characters (CR, LF, tab, ...); remove them, and "
            "percent-encode any that belong in the password (a space is %20)",
        )
    if any("\ud800" <= char <= "\udfff" for char in raw):
        # Half of a UTF-16 pair is not a character: no log line or SMTP command could hold it.
        raise ConfigError(
            FIELD,
            "uri_not_text",
            "contains an unpaired UTF-16 surrogate, which is not a character; write the URI "
            "as text (percent-encode non-ASCII characters of the password as UTF-8)",
        )
    scheme, separator, rest = raw.partition("://")
    scheme = scheme.lower()
    if not separator or scheme not in DEFAULT_PORTS:
        # Without "://" the text before the first ":" may be anything, a password pasted as
        # the whole URI among them: only a known scheme is named.
        if not separator:
            what = "has no scheme (no '://')"
        elif scheme in _KNOWN_SCHEMES:
            what = f"scheme {scheme}:// is not supported"
        else:
            what = "the scheme (the text before ://) is not supported"
        raise ConfigError(
            f"{FIELD}.scheme",
            "uri_bad_scheme",
            f"{what}; use smtp:// (STARTTLS, or cleartext with disable_starttls=true) or "
            "smtps:// (implicit TLS)",
        )
    authority_end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority, tail = rest[:authority_end], rest[authority_end:]
    if "@" in tail:
        raise ConfigError(
            f"{FIELD}.password",
            "uri_password_unencoded",
            "the user or password contains a raw '/', '?' or '#', which ends the host part "
            "early; percent-encode it ('/' is %2F, '?' is %3F, '#' is %23)",
        )
    path_and_query, _, fragment = tail.partition("#")
    path, _, query = path_and_query.partition("?")
    if fragment:
        raise ConfigError(
            FIELD, "uri_fragment", "has a '#' fragment; remove it (a '#' in the password is %23)"
        )
    if path not in ("", "/"):
        raise ConfigError(
            f"{FIELD}.path",
            "uri_path",
            "has a path after the host (text after its '/'); an SMTP URI has none: end it "
            "with the port or '/' (a '/' in the password is %2F)",
        )

    userinfo, at, hostport = authority.rpartition("@")
    options = _parse_query(query)
    auth = _parse_auth(options)
    username: str | None
    password: str | None
    if auth is not None:
        username, password = _parse_token_user(userinfo if at else None, auth)
    else:
        username, password = _parse_userinfo(userinfo) if at else (None, None)
    host, port = _parse_hostport(hostport, scheme)
    server_name = options.get("server_name")
    if server_name is not None:
        _check_host(server_name, f"{FIELD}.server_name")
    return ConnectionUri(
        scheme=scheme,
        host=host,
        port=port if port is not None else DEFAULT_PORTS[scheme],
        port_is_default=port is None,
        username=username,
        password=password,
        skip_ssl_verify=_parse_bool(options, "skip_ssl_verify"),
        disable_starttls=_parse_bool(options, "disable_starttls"),
        server_name=server_name,
        auth=auth,
    )


def _parse_auth(options: dict[str, str]) -> AuthMechanism | None:
    value = options.get("auth")
    if value is None:
        return None
    try:
        return AuthMechanism(value.lower())
    except ValueError:
        raise ConfigError(
            f"{FIELD}.auth",
            "uri_auth_unsupported",
            "the value of auth is not a token login courier knows; use "
            f"{' or '.join(f'auth={m}' for m in AuthMechanism)} (the token comes from the "
            "SecureString …/smtp/oauth2), or drop auth to log in with the URI's password",
        ) from None


def _parse_token_user(userinfo: str | None, auth: AuthMechanism) -> tuple[str, None]:
    """The mailbox of a token login: a user, and no password (the token takes its place)."""
    if userinfo is None or not userinfo:
        raise ConfigError(
            f"{FIELD}.user",
            "uri_auth_needs_user",
            f"auth={auth} logs in as a mailbox, and the URI has no user; write the mailbox as "
            "the user, percent-encoded: smtp://sender%40example.com@host/?auth=" + str(auth),
        )
    if ":" in userinfo:
        # Whatever follows the colon may be a secret: it is neither kept nor quoted.
        raise ConfigError(
            f"{FIELD}.password",
            "uri_auth_with_password",
            f"has a password, and auth={auth} logs in with an OAuth 2.0 access token instead: "
            "the token takes the password's place, so the URI must not carry one; remove "
            "':password' (keep the mailbox as the user) and put the token settings in the "
            "SecureString …/smtp/oauth2",
        )
    user, _ = _parse_userinfo(f"{userinfo}:x")  # the same rules for the user, its own errors
    return user, None


def _parse_userinfo(userinfo: str) -> tuple[str, str]:
    if "@" in userinfo:
        raise _unencoded("@")
    user, colon, password = userinfo.partition(":")
    if ":" in password:
        raise _unencoded(":")
    if _PERCENT_ESCAPE.search(userinfo):
        raise _unencoded("%", "%25")
    if not user:
        raise ConfigError(
            f"{FIELD}.user",
            "uri_missing_user",
            "has a password but no user; write smtp://user:password@host/",
        )
    if not colon or not password:
        raise ConfigError(
            f"{FIELD}.password",
            "uri_missing_password",
            "has a user but no password; write smtp://user:password@host/, or drop the user "
            "to send without AUTH",
        )
    try:
        return unquote(user, errors="strict"), unquote(password, errors="strict")
    except UnicodeDecodeError:
        pass
    # Raised outside the except block: the decode error, which quotes the bytes, is not kept
    # even as __context__.
    raise ConfigError(
        f"{FIELD}.password",
        "uri_password_encoding",
        "the user or password has percent-escapes that are not UTF-8; encode the text as UTF-8 "
        "before percent-encoding it",
    )


def _unencoded(char: str, encoded: str | None = None) -> ConfigError:
    return ConfigError(
        f"{FIELD}.password",
        "uri_password_unencoded",
        f"the user or password contains a raw {char!r}; percent-encode it as "
        f"{encoded or _FORBIDDEN_IN_USERINFO[char]}",
    )


def _parse_hostport(hostport: str, scheme: str) -> tuple[str, int | None]:
    if hostport.startswith("["):
        host, bracket, port_part = hostport[1:].partition("]")
        if not bracket or (port_part and not port_part.startswith(":")):
            raise ConfigError(
                f"{FIELD}.host",
                "uri_bad_host",
                "the host begins with '[' but is not [IPv6 address] or [IPv6 address]:port",
            )
        port_text = port_part[1:] if port_part else None
        if not _is_ipv6(host):
            raise ConfigError(
                f"{FIELD}.host",
                "uri_bad_host",
                "the host in [brackets] is not an IPv6 address (write an IPv4 address or a "
                "name without brackets)",
            )
    else:
        host, colon, port_text_or_empty = hostport.partition(":")
        port_text = port_text_or_empty if colon else None
        if not host:
            raise ConfigError(
                f"{FIELD}.host",
                "uri_missing_host",
                f"has no host; write smtp://user:password@smtp.example.com:{_SMTP_PORT}/",
            )
        _check_host(host, f"{FIELD}.host")
    if port_text is None:
        return host, None
    if not port_text.isascii() or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ConfigError(
            f"{FIELD}.port",
            "uri_bad_port",
            # Never echo it: it may be a password that lost its '@host'.
            "the port is not a number from 1 to 65535; leave it out to use "
            f"{DEFAULT_PORTS[scheme]} for {scheme}://",
        )
    return host, int(port_text)


def _is_ipv6(host: str) -> bool:
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        return False
    return True


def _check_host(host: str, field_name: str) -> None:
    if not host.isprintable() or any(char.isspace() for char in host):
        raise ConfigError(
            field_name, "uri_bad_host", "the host name contains whitespace or control characters"
        )
    if host.isascii():
        labels = host.removesuffix(".").split(".")
        valid = len(host) <= 253 and all(_HOST_LABEL.match(label) for label in labels)
    else:
        valid = _encodes_as_idna(host)
    if not valid:
        raise ConfigError(
            field_name,
            "uri_bad_host",
            "is not a valid host name (labels of letters, digits and '-', joined by '.'; an "
            "IPv6 address goes in [brackets])",
        )


def _encodes_as_idna(host: str) -> bool:
    try:
        host.encode("idna")
    except UnicodeError:
        return False
    return True


def _parse_query(query: str) -> dict[str, str]:
    options: dict[str, str] = {}
    for pair in query.split("&") if query else ():
        name, equals, value = pair.partition("=")
        name, value = unquote(name), unquote(value)
        if name == "legacy_ssl":
            raise ConfigError(
                f"{FIELD}.legacy_ssl",
                "uri_legacy_ssl",
                "legacy_ssl was removed; for implicit TLS use the smtps:// scheme "
                f"(e.g. smtps://user:password@host:{_SMTPS_PORT}/)",
            )
        if name not in QUERY_PARAMETERS:
            raise ConfigError(
                f"{FIELD}.query",
                "uri_unknown_parameter",
                "has an unknown parameter in its query; the parameters are "
                f"{', '.join(QUERY_PARAMETERS)} (case-sensitive)",
            )
        if name in options:
            raise ConfigError(
                f"{FIELD}.{name}", "uri_duplicate_parameter", f"{name} is given twice"
            )
        if not equals or not value:
            raise ConfigError(f"{FIELD}.{name}", "uri_empty_parameter", f"{name} has no value")
        options[name] = value
    return options


def _parse_bool(options: dict[str, str], name: str) -> bool:
    value = options.get(name)
    if value is None or value in _FALSE:
        return False
    if value in _TRUE:
        return True
    raise ConfigError(
        f"{FIELD}.{name}",
        "uri_bad_boolean",
        f"the value of {name} is not a boolean; use true or false (or 1 and 0)",
    )
