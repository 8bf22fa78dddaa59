"""Parsing the connection URI: the six modes, the providers' URIs, and every mistake by name."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest

from courier.errors import ConfigError
from courier.uri import ConnectionUri, Security
from tests.conftest import exception_chain


@pytest.mark.parametrize(
    ("raw", "security", "port", "verify", "server_name"),
    [
        ("smtp://u:p@mail.example.com:2525/", Security.STARTTLS, 2525, True, None),
        (
            "smtp://u:p@mail.example.com/?skip_ssl_verify=true",
            Security.STARTTLS,
            587,
            False,
            None,
        ),
        (
            "smtp://u:p@mail.example.com:25/?disable_starttls=true",
            Security.CLEARTEXT,
            25,
            True,
            None,
        ),
        ("smtps://u:p@mail.example.com", Security.IMPLICIT_TLS, 465, True, None),
        (
            "smtps://u:p@mail.example.com/?skip_ssl_verify=True",
            Security.IMPLICIT_TLS,
            465,
            False,
            None,
        ),
        (
            "smtps://u:p@sub.example.com:1234/?server_name=example.com",
            Security.IMPLICIT_TLS,
            1234,
            True,
            "example.com",
        ),
    ],
    ids=["1", "2", "3", "4", "5", "6"],
)
def test_the_six_modes(
    raw: str, security: Security, port: int, verify: bool, server_name: str | None
) -> None:
    uri = ConnectionUri.parse(raw)

    assert uri.security is security
    assert uri.port == port
    assert uri.verify_certificate is verify
    assert uri.server_name == server_name
    assert uri.tls_server_name == (server_name or uri.host)
    assert uri.credentials == ("u", "p")


@pytest.mark.parametrize(
    ("raw", "host", "port", "user", "password", "security"),
    [
        (
            "smtp://postmaster%40mg.example.org:3kh9umujora5@smtp.mailgun.org:587/",
            "smtp.mailgun.org",
            587,
            "postmaster@mg.example.org",
            "3kh9umujora5",
            Security.STARTTLS,
        ),
        (
            "smtps://postmaster%40mg.example.org:3kh9umujora5@smtp.eu.mailgun.org:465/",
            "smtp.eu.mailgun.org",
            465,
            "postmaster@mg.example.org",
            "3kh9umujora5",
            Security.IMPLICIT_TLS,
        ),
        (
            # SES SMTP passwords hold '/' and '+': the '/' must be encoded, '+' stays '+'.
            "smtp://AKIAIOSFODNN7EXAMPLE:BCx7%2FzyQ+XWjK1RsFx%2Fq8qp@"
            "email-smtp.us-east-1.amazonaws.com:587/",
            "email-smtp.us-east-1.amazonaws.com",
            587,
            "AKIAIOSFODNN7EXAMPLE",
            "BCx7/zyQ+XWjK1RsFx/q8qp",
            Security.STARTTLS,
        ),
        (
            "smtps://AKIAIOSFODNN7EXAMPLE:BCx7%2FzyQ+XWjK1Rs@email-smtp.eu-west-1.amazonaws.com",
            "email-smtp.eu-west-1.amazonaws.com",
            465,
            "AKIAIOSFODNN7EXAMPLE",
            "BCx7/zyQ+XWjK1Rs",
            Security.IMPLICIT_TLS,
        ),
        (
            "smtp://a1b2c3d4-server-token:a1b2c3d4-server-token@smtp.postmarkapp.com:2525/",
            "smtp.postmarkapp.com",
            2525,
            "a1b2c3d4-server-token",
            "a1b2c3d4-server-token",
            Security.STARTTLS,
        ),
    ],
    ids=["mailgun", "mailgun-smtps", "ses", "ses-smtps", "postmark"],
)
def test_provider_uris(
    raw: str, host: str, port: int, user: str, password: str, security: Security
) -> None:
    uri = ConnectionUri.parse(raw)

    assert (uri.host, uri.port, uri.security) == (host, port, security)
    assert uri.credentials == (user, password)


def test_percent_encoded_reserved_characters_decode_into_the_password() -> None:
    uri = ConnectionUri.parse("smtp://me:p%40ss%2Fw%23rd%3A%3F%25@mail.example.com/")

    assert uri.password == "p@ss/w#rd:?%"


def test_no_user_means_no_auth_and_ipv6_hosts_work() -> None:
    uri = ConnectionUri.parse("smtp://[::1]:2525/")

    assert (uri.host, uri.port, uri.credentials) == ("::1", 2525, None)
    assert str(uri) == "smtp://[::1]:2525/"


def test_scheme_is_case_insensitive() -> None:
    uri = ConnectionUri.parse("SMTPS://mail.example.com")

    assert (uri.scheme, uri.port, uri.security) == ("smtps", 465, Security.IMPLICIT_TLS)


def test_disable_starttls_has_no_effect_on_implicit_tls() -> None:
    # The config validator warns about it; the session stays encrypted.
    uri = ConnectionUri.parse("smtps://mail.example.com/?disable_starttls=true")

    assert uri.security is Security.IMPLICIT_TLS
    assert uri.uses_tls


def test_redacted_form_keeps_the_mode_flags() -> None:
    uri = ConnectionUri.parse("smtp://u:p@h/?disable_starttls=1&skip_ssl_verify=t")

    assert uri.redacted() == "smtp://u:***@h:587/?disable_starttls=true&skip_ssl_verify=true"


def test_default_port_is_recorded() -> None:
    assert ConnectionUri.parse("smtp://mail.example.com").port_is_default
    assert not ConnectionUri.parse("smtp://mail.example.com:587").port_is_default


@pytest.mark.parametrize("value", ["1", "t", "T", "TRUE", "true", "True"])
def test_true_booleans(value: str) -> None:
    assert ConnectionUri.parse(f"smtp://h/?skip_ssl_verify={value}").skip_ssl_verify


@pytest.mark.parametrize("value", ["0", "f", "F", "FALSE", "false", "False"])
def test_false_booleans(value: str) -> None:
    assert not ConnectionUri.parse(f"smtp://h/?disable_starttls={value}").disable_starttls


def test_redacted_form_hides_only_the_password() -> None:
    uri = ConnectionUri.parse(
        "smtps://some-user%40mg.example.org:hunter2@smtp.example.com:465/?server_name=example.com"
    )

    assert uri.redacted() == (
        "smtps://some-user%40mg.example.org:***@smtp.example.com:465/?server_name=example.com"
    )
    assert str(uri) == uri.redacted()
    assert "hunter2" not in repr(uri)


# (raw, field, code, words the message must contain)
MISTAKES = {
    "raw @ in password": (
        "smtp://user:p@ss@mail.example.com/",
        "connection_uri.password",
        "uri_password_unencoded",
        "%40",
    ),
    "raw / in password": (
        "smtp://user:pa/ss@mail.example.com:587/",
        "connection_uri.password",
        "uri_password_unencoded",
        "%2F",
    ),
    "raw # in password": (
        "smtp://user:pa#ss@mail.example.com:587/",
        "connection_uri.password",
        "uri_password_unencoded",
        "%23",
    ),
    "raw ? in password": (
        "smtp://user:pa?ss@mail.example.com/",
        "connection_uri.password",
        "uri_password_unencoded",
        "%3F",
    ),
    "raw : in password": (
        "smtp://user:pa:ss@mail.example.com/",
        "connection_uri.password",
        "uri_password_unencoded",
        "%3A",
    ),
    "raw % in password": (
        "smtp://user:100%real@mail.example.com/",
        "connection_uri.password",
        "uri_password_unencoded",
        "%25",
    ),
    "escape that is not UTF-8": (
        "smtp://user:%FF@mail.example.com/",
        "connection_uri.password",
        "uri_password_encoding",
        "UTF-8",
    ),
    "user without password": (
        "smtp://user@mail.example.com/",
        "connection_uri.password",
        "uri_missing_password",
        "no password",
    ),
    "password without user": (
        "smtp://:secret@mail.example.com/",
        "connection_uri.user",
        "uri_missing_user",
        "no user",
    ),
    "unknown parameter": (
        "smtp://mail.example.com/?skip_verify=true",
        "connection_uri.query",
        "uri_unknown_parameter",
        "skip_ssl_verify",
    ),
    "legacy_ssl": (
        "smtp://mail.example.com:465/?legacy_ssl=true",
        "connection_uri.legacy_ssl",
        "uri_legacy_ssl",
        "smtps://",
    ),
    "bad boolean": (
        "smtp://mail.example.com/?skip_ssl_verify=yes",
        "connection_uri.skip_ssl_verify",
        "uri_bad_boolean",
        "true or false",
    ),
    "parameter twice": (
        "smtp://h/?skip_ssl_verify=true&skip_ssl_verify=false",
        "connection_uri.skip_ssl_verify",
        "uri_duplicate_parameter",
        "twice",
    ),
    "parameter without value": (
        "smtp://h/?server_name=",
        "connection_uri.server_name",
        "uri_empty_parameter",
        "no value",
    ),
    "port not a number": (
        "smtp://mail.example.com:smtp/",
        "connection_uri.port",
        "uri_bad_port",
        "587",
    ),
    "booleans are case-sensitive": (
        "smtp://h/?skip_ssl_verify=tRuE",
        "connection_uri.skip_ssl_verify",
        "uri_bad_boolean",
        "true or false",
    ),
    "raw @ and / in password with an @ before the slash": (
        "smtp://user:pa@x/y@mail.example.com/",
        "connection_uri.password",
        "uri_password_unencoded",
        "%2F",
    ),
    "control character in server_name": (
        "smtps://h/?server_name=%C3%A9%0A.com",
        "connection_uri.server_name",
        "uri_bad_host",
        "control",
    ),
    "port out of range": (
        "smtps://mail.example.com:70000/",
        "connection_uri.port",
        "uri_bad_port",
        "465",
    ),
    "port zero": ("smtp://mail.example.com:0/", "connection_uri.port", "uri_bad_port", "1 to"),
    "other scheme": (
        "http://mail.example.com/",
        "connection_uri.scheme",
        "uri_bad_scheme",
        "smtps",
    ),
    "no scheme": ("mail.example.com:587", "connection_uri.scheme", "uri_bad_scheme", "smtp://"),
    "missing host": ("smtp://user:pw@:587/", "connection_uri.host", "uri_missing_host", "no host"),
    "empty": ("", "connection_uri", "uri_empty", "empty"),
    "bad host": ("smtp://mail_.exa mple.com/", "connection_uri", "uri_whitespace", "whitespace"),
    "invalid host characters": (
        "smtp://mail!example.com/",
        "connection_uri.host",
        "uri_bad_host",
        "host name",
    ),
    "bad IPv6": ("smtp://[zz::1]:25/", "connection_uri.host", "uri_bad_host", "IPv6"),
    "CR/LF": (
        "smtp://mail.example.com/\r\nRCPT TO:<x@y>",
        "connection_uri",
        "uri_whitespace",
        "CR",
    ),
    "a path": ("smtp://mail.example.com/inbox", "connection_uri.path", "uri_path", "no"),
    "a fragment": ("smtp://mail.example.com/#x", "connection_uri", "uri_fragment", "%23"),
    "bad server_name": (
        "smtps://h/?server_name=exa%20mple.com",
        "connection_uri.server_name",
        "uri_bad_host",
        "host name",
    ),
}


@pytest.mark.parametrize(("raw", "field", "code", "words"), MISTAKES.values(), ids=MISTAKES)
def test_mistakes_name_the_field_and_the_fix(raw: str, field: str, code: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        ConnectionUri.parse(raw)

    assert (caught.value.field, caught.value.code) == (field, code)
    assert words in str(caught.value)
    assert str(caught.value).startswith(f"{field}: ")


@pytest.mark.parametrize(
    "raw",
    [
        "smtp://user:s3cr3t-p@ss@mail.example.com/",
        "smtp://user:s3cr3t-p/ss@mail.example.com/",
        "smtp://user:s3cr3t-p#ss@mail.example.com/",
        "smtp://user:s3cr3t-p:ss@mail.example.com/",
        "smtp://user:s3cr3t-p%zz@mail.example.com/",
        "smtp://user:s3cr3t-pss@mail.example.com:port/",
        "smtp://user:s3cr3t-pss@mail.example.com/?x=1",
        "smtp://user:s3cr3t-pss",
        "smtp://user:314159265",
        "smtp://user:s3cr3t@x/y@mail.example.com/",
        "smtp://user:p@a?s3cr3t@mail.example.com/",
    ],
)
def test_errors_never_quote_the_password(raw: str) -> None:
    with pytest.raises(ConfigError) as caught:
        ConnectionUri.parse(raw)

    assert "s3cr3t" not in str(caught.value)
    assert "s3cr3t" not in repr(caught.value)


# Every part of a URI may hold the password once a mistake has moved it there.
CANARY = "c4nary-7s3cret"
# (where the canary is, a malformed URI with it there)
CANARY_PLACES = [
    ("scheme: the whole URI", CANARY),
    ("scheme: before ://", f"{CANARY}://mail.example.com/"),
    ("scheme: before :port", f"{CANARY}:587"),
    ("scheme: user:password@host", f"user:{CANARY}@mail.example.com"),
    ("scheme: user:password@host:port", f"user:{CANARY}@mail.example.com:587"),
    ("scheme: encoded @", f"{CANARY}%40x@mail.example.com"),
    ("scheme: one slash", f"smtp:/{CANARY}@mail.example.com"),
    ("scheme: no slash", f"smtp:{CANARY}@mail.example.com"),
    ("scheme: smtp:// typo", f"smtp//user:{CANARY}@mail.example.com/"),
    ("user: without password", f"smtp://{CANARY}@mail.example.com/"),
    ("user: raw @", f"smtp://{CANARY}@x:pw@mail.example.com/"),
    ("user: raw %", f"smtp://{CANARY}%zz:pw@mail.example.com/"),
    ("user: not UTF-8", f"smtp://{CANARY}%FF:pw@mail.example.com/"),
    ("user: raw /", f"smtp://{CANARY}/x:pw@mail.example.com/"),
    ("password: raw @", f"smtp://user:{CANARY}@x@mail.example.com/"),
    ("password: raw /", f"smtp://user:{CANARY}/x@mail.example.com/"),
    ("password: raw #", f"smtp://user:{CANARY}#x@mail.example.com/"),
    ("password: raw ?", f"smtp://user:{CANARY}?x@mail.example.com/"),
    ("password: raw :", f"smtp://user:{CANARY}:x@mail.example.com/"),
    ("password: raw %", f"smtp://user:{CANARY}%@mail.example.com/"),
    ("password: not UTF-8", f"smtp://user:{CANARY}%FF@mail.example.com/"),
    ("password: without user", f"smtp://:{CANARY}@mail.example.com/"),
    ("password: as the port", f"smtp://user:{CANARY}"),
    ("password: as the port, with a path", f"smtp://user:{CANARY}/"),
    ("password: with whitespace", f"smtp://user:{CANARY} x@mail.example.com/"),
    ("password: with a bad port", f"smtp://user:{CANARY}@mail.example.com:x/"),
    ("password: with a bad host", f"smtp://user:{CANARY}@mail!example.com/"),
    ("password: with a bad IPv6 host", f"smtp://user:{CANARY}@[zz::1]/"),
    ("host: bad characters", f"smtp://{CANARY}!.example.com/"),
    ("host: bad label", f"smtp://{CANARY}-.example.com/"),
    ("host: empty label", f"smtp://{CANARY}..example.com/"),
    ("host: too long", f"smtp://{CANARY}.{'a' * 250}.com/"),
    ("host: bad IDNA", f"smtp://{CANARY}.{'é' * 70}.com/"),
    ("host: in brackets", f"smtp://[{CANARY}]/"),
    ("host: after brackets", f"smtp://[::1]{CANARY}/"),
    ("host: unclosed bracket", f"smtp://[::1{CANARY}/"),
    ("host: with a bad port", f"smtp://{CANARY}.example.com:0/"),
    ("host: port out of range", f"smtp://{CANARY}.example.com:70000/"),
    ("path", f"smtp://mail.example.com/{CANARY}"),
    ("path: deeper", f"smtp://mail.example.com/inbox/{CANARY}"),
    ("path: after the port", f"smtp://mail.example.com:587/{CANARY}?skip_ssl_verify=true"),
    ("query name", f"smtp://mail.example.com/?{CANARY}=true"),
    ("query name: without value", f"smtp://mail.example.com/?{CANARY}"),
    ("query name: second", f"smtp://mail.example.com/?skip_ssl_verify=true&{CANARY}=1"),
    ("query name: encoded", f"smtp://mail.example.com/?{CANARY}%3D=1"),
    ("query value: skip_ssl_verify", f"smtp://mail.example.com/?skip_ssl_verify={CANARY}"),
    ("query value: disable_starttls", f"smtp://mail.example.com/?disable_starttls={CANARY}"),
    ("query value: legacy_ssl", f"smtp://mail.example.com/?legacy_ssl={CANARY}"),
    ("query value: repeated", f"smtp://h/?server_name={CANARY}&server_name={CANARY}"),
    ("fragment", f"smtp://mail.example.com/#{CANARY}"),
    ("fragment: after the query", f"smtp://h/?skip_ssl_verify=true#{CANARY}"),
    ("fragment: with credentials", f"smtp://user:pw@mail.example.com/#{CANARY}"),
    ("server_name: bad characters", f"smtps://h/?server_name={CANARY}!.com"),
    ("server_name: bad label", f"smtps://h/?server_name={CANARY}-.com"),
    ("server_name: space", f"smtps://h/?server_name={CANARY}%20x.com"),
    ("server_name: control character", f"smtps://h/?server_name={CANARY}%0A.com"),
    ("server_name: bad IDNA", f"smtps://h/?server_name={CANARY}.{'é' * 70}.com"),
    ("server_name: with a bad boolean", f"smtps://h/?server_name={CANARY}&skip_ssl_verify=x"),
]


def texts_of(error: BaseException) -> Iterator[str]:
    """Every text of ``error`` and of each exception in its chain (suppressed context too)."""
    for _, linked in exception_chain(error):
        yield str(linked)
        yield repr(linked)
        yield str(linked.args)
        if isinstance(linked, ConfigError):
            yield linked.field
            yield linked.message


def test_every_canary_place_is_a_mistake_to_the_parser() -> None:
    # GIVEN the table: each URI is malformed with the canary in one part
    # WHEN each is parsed, THEN each fails (else the other test would prove nothing)
    for place, raw in CANARY_PLACES:
        with pytest.raises(ConfigError):
            ConnectionUri.parse(raw)
        assert CANARY in raw, place


def test_no_error_echoes_any_part_of_the_uri() -> None:
    # GIVEN malformed URIs with a canary secret in every part: scheme, user, password, host,
    # path, query name and value, fragment, server_name
    leaks = []
    for place, raw in CANARY_PLACES:
        # WHEN each is parsed
        with pytest.raises(ConfigError) as caught:
            ConnectionUri.parse(raw)

        # THEN no text of the error or of its chain holds the canary, in any form
        forms = (CANARY, CANARY.upper(), quote(CANARY), CANARY[: len(CANARY) // 2 + 2])
        if any(form in text for text in texts_of(caught.value) for form in forms):
            leaks.append(f"{place}: {caught.value.code}: {caught.value}")
    assert leaks == []


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("http://mail.example.com/", "http://"),
        ("SMTP+TLS://mail.example.com/", "smtp+tls://"),
        ("smtp://mail.example.com:70000/", "587"),
        ("smtps://mail.example.com:x/", "465"),
        ("smtp://h/?skip_ssl_verify=yes", "skip_ssl_verify"),
        ("smtp://h/?server_name=&x=1", "server_name"),
    ],
)
def test_errors_show_only_what_courier_knows(raw: str, shown: str) -> None:
    # GIVEN a mistake next to a known scheme, a default port or a known parameter name
    # WHEN the URI is parsed
    with pytest.raises(ConfigError) as caught:
        ConnectionUri.parse(raw)

    # THEN the error may name that, since it is no secret
    assert shown in caught.value.message


@pytest.mark.parametrize(
    "raw",
    [
        "smtp://user:%FF@mail.example.com/",
        "smtp://[zz::1]/",
        f"smtp://{'é' * 70}.com/",
        "smtp://user:s3cr3t-p%zz@mail.example.com/",
    ],
)
def test_no_error_keeps_a_library_exception_in_its_chain(raw: str) -> None:
    # GIVEN a URI whose mistake a library finds (the UTF-8 decoder, ipaddress, the IDNA codec)
    # WHEN it is parsed
    with pytest.raises(ConfigError) as caught:
        ConnectionUri.parse(raw)

    # THEN the error stands alone: the library's exception, which quotes its input, is gone
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None


@pytest.mark.parametrize("mechanism", ["xoauth2", "oauthbearer", "XOAUTH2"])
def test_token_login_names_the_mailbox_and_no_password(mechanism: str) -> None:
    # GIVEN a Microsoft 365 URI with token login
    uri = ConnectionUri.parse(
        f"smtp://sender%40contoso.com@smtp.office365.com:587/?auth={mechanism}"
    )

    # THEN the user is the mailbox, there is no password login, and the mode is kept
    assert uri.auth == mechanism.lower()
    assert uri.token_user == "sender@contoso.com"
    assert uri.credentials is None
    assert uri.security == "starttls"
    assert str(uri) == (
        f"smtp://sender%40contoso.com@smtp.office365.com:587/?auth={mechanism.lower()}"
    )


@pytest.mark.parametrize(
    ("raw", "field", "code", "words"),
    [
        (
            "smtp://sender%40contoso.com:Hunter2-secret@smtp.office365.com/?auth=xoauth2",
            "connection_uri.password",
            "uri_auth_with_password",
            "the token takes the password's place",
        ),
        (
            "smtp://smtp.office365.com/?auth=xoauth2",
            "connection_uri.user",
            "uri_auth_needs_user",
            "write the mailbox as the user",
        ),
        (
            "smtp://sender%40contoso.com@smtp.office365.com/?auth=plain",
            "connection_uri.auth",
            "uri_auth_unsupported",
            "auth=xoauth2 or auth=oauthbearer",
        ),
        (
            "smtp://sender%40contoso.com@smtp.office365.com/?auth=",
            "connection_uri.auth",
            "uri_empty_parameter",
            "auth has no value",
        ),
    ],
)
def test_token_login_mistakes_say_why(raw: str, field: str, code: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        ConnectionUri.parse(raw)
    assert (caught.value.field, caught.value.code) == (field, code)
    assert words in caught.value.message
    assert "Hunter2" not in str(caught.value)
