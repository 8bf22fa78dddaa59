"""The SASL messages of a token login (courier.sasl): what is sent, and what is never shown."""

from __future__ import annotations

import base64
import json

import pytest

from courier.errors import TokenUnavailableError
from courier.sasl import TokenLogin, check_token
from courier.uri import AuthMechanism

TOKEN = "ya29.a0AfB_byC-secret~token+part/with=="


def login(mechanism: AuthMechanism, mailbox: str = "sender@example.com") -> TokenLogin:
    return TokenLogin(
        mechanism=mechanism, mailbox=mailbox, host="smtp.example.com", port=587, token=TOKEN
    )


def test_xoauth2_sends_the_user_and_the_bearer_token() -> None:
    assert login(AuthMechanism.XOAUTH2).initial_response() == (
        f"user=sender@example.com\x01auth=Bearer {TOKEN}\x01\x01"
    )


def test_oauthbearer_sends_a_gs2_header_host_port_and_token() -> None:
    # RFC 7628 §3.1, with the authzid escaped as RFC 5801 §4 says ("=" first, then ",").
    sent = login(AuthMechanism.OAUTHBEARER, mailbox="a=b,c@example.com").initial_response()
    assert sent == (
        "n,a=a=3Db=2Cc@example.com,\x01host=smtp.example.com\x01port=587\x01"
        f"auth=Bearer {TOKEN}\x01\x01"
    )


@pytest.mark.parametrize(
    ("mechanism", "answer"), [(AuthMechanism.XOAUTH2, ""), (AuthMechanism.OAUTHBEARER, "\x01")]
)
def test_an_error_challenge_is_answered_as_the_mechanism_says_and_kept(
    mechanism: AuthMechanism, answer: str
) -> None:
    exchange = login(mechanism)
    challenge = json.dumps({"status": "401", "schemes": "bearer"}).encode()

    assert exchange() == exchange.initial_response()
    assert exchange(challenge) == answer
    assert exchange.challenges == [challenge]
    assert exchange.refusal() == "status 401, schemes bearer"


@pytest.mark.parametrize(
    "challenge",
    [b"not json", b"[1, 2]", json.dumps({"status": TOKEN}).encode(), b'{"status": "a\\nb"}'],
    ids=["not-json", "not-an-object", "a-token", "a-line-break"],
)
def test_a_challenge_shows_only_plain_known_fields(challenge: bytes) -> None:
    exchange = login(AuthMechanism.XOAUTH2)
    exchange(challenge)
    assert exchange.refusal() is None


def test_the_repr_shows_no_token() -> None:
    exchange = login(AuthMechanism.OAUTHBEARER)
    exchange(b"{}")
    assert TOKEN not in repr(exchange)
    assert "challenges" not in repr(exchange)


@pytest.mark.parametrize("offset", [0, 1, 2])
@pytest.mark.parametrize("mechanism", list(AuthMechanism))
def test_scrub_hides_the_token_in_base64_at_any_alignment(
    mechanism: AuthMechanism, offset: int
) -> None:
    exchange = login(mechanism)
    command = base64.b64encode(exchange.initial_response().encode()).decode()
    shifted = base64.b64encode(b"x" * offset + TOKEN.encode()).decode()
    for echoed in (command, shifted, shifted[5:40], TOKEN, f"'{TOKEN[:20]}'"):
        reply = f"535 5.7.8 Bad: AUTH {mechanism.upper()} {echoed} (try again)".encode()
        assert exchange.scrub(reply) == (
            f"535 5.7.8 Bad: AUTH {mechanism.upper()} *** (try again)".encode()
            if echoed != f"'{TOKEN[:20]}'"
            else f"535 5.7.8 Bad: AUTH {mechanism.upper()} '***' (try again)".encode()
        )


def test_scrub_leaves_a_reply_without_the_token_as_it_is() -> None:
    reply = (
        b"535-5.7.8 Username and Password not accepted. For more information, go to\n"
        b"535 5.7.8  https://support.google.com/mail/?p=BadCredentials d9443c01a7336-2"
    )
    assert login(AuthMechanism.XOAUTH2).scrub(reply) == reply


@pytest.mark.parametrize(("code", "challenged"), [(535, False), (535, True), (534, True)])
def test_a_5xx_verdict_on_the_token_asks_for_a_new_one(code: int, challenged: bool) -> None:
    exchange = login(AuthMechanism.XOAUTH2)
    if challenged:
        exchange(b"{}")
    assert exchange.refused_token(code)


@pytest.mark.parametrize(("code", "challenged"), [(454, True), (534, False), (501, False)])
def test_a_temporary_or_unrelated_refusal_does_not(code: int, challenged: bool) -> None:
    exchange = login(AuthMechanism.XOAUTH2)
    if challenged:
        exchange(b"{}")
    assert not exchange.refused_token(code)


def test_a_bearer_token_passes_the_check() -> None:
    assert check_token(TOKEN, AuthMechanism.XOAUTH2) == TOKEN


@pytest.mark.parametrize(
    "token",
    ["", "two words", "tok\r\nen", "tok\x01en", "tök-en", "a=b", None, b"bytes-token"],
)
def test_anything_else_is_unavailable_and_not_quoted(token: object) -> None:
    with pytest.raises(TokenUnavailableError) as caught:
        check_token(token, AuthMechanism.OAUTHBEARER)
    assert "auth=oauthbearer" in str(caught.value)
    if isinstance(token, str) and token:
        assert token not in str(caught.value)
