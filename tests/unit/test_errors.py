"""The error tree: what a failure says (facts only; courier.outcomes decides)."""

from __future__ import annotations

import pytest

from courier.errors import (
    ConfigError,
    CourierError,
    SmtpAuthError,
    SmtpConnectError,
    SmtpDisconnectedError,
    SmtpError,
    SmtpTimeoutError,
    SmtpTlsError,
    Step,
    step_error,
)

ENDPOINT = "smtp://user:***@mail.example.com:587/"


@pytest.mark.parametrize("code", [421, 450, 454, 535, 550])
def test_a_reply_error_carries_its_step_and_code_but_no_verdict(code: int) -> None:
    for step in Step:
        error = step_error(step, code, "reply", endpoint=ENDPOINT)
        assert (error.step, error.code, error.maybe_accepted) == (step, code, False)
        # Whether it is retried is courier.outcomes.decide's to say, not the error's.
        assert not hasattr(error, "transient")
        assert "transient" not in str(error)
        assert "permanent" not in str(error)


@pytest.mark.parametrize(
    "error",
    [
        SmtpConnectError("refused", endpoint=ENDPOINT),
        SmtpTimeoutError("no answer", endpoint=ENDPOINT, step=Step.DATA),
        SmtpDisconnectedError("lost", endpoint=ENDPOINT, step=Step.MAIL),
        SmtpTlsError("not trusted", endpoint=ENDPOINT),
        SmtpAuthError("no AUTH offered", endpoint=ENDPOINT),
    ],
)
def test_without_a_reply_an_error_has_no_code(error: SmtpError) -> None:
    assert error.code is None
    assert not error.maybe_accepted


def test_a_lost_connection_after_the_final_dot_says_the_server_may_have_kept_it() -> None:
    error = SmtpDisconnectedError("lost", endpoint=ENDPOINT, step=Step.DATA, maybe_accepted=True)

    assert error.maybe_accepted
    assert error.step is Step.DATA


def test_a_reply_error_names_step_code_status_and_endpoint() -> None:
    error = step_error(
        Step.AUTH, 535, b"5.7.8 Authentication\r\n credentials invalid", endpoint=ENDPOINT
    )

    assert isinstance(error, SmtpAuthError)
    assert (error.step, error.code, error.enhanced_status) == (Step.AUTH, 535, "5.7.8")
    assert str(error) == (
        "SMTP AUTH failed at smtp://user:***@mail.example.com:587/: "
        "535 5.7.8 Authentication credentials invalid"
    )


def test_hints_follow_the_message() -> None:
    error = SmtpTlsError("handshake failed", endpoint=ENDPOINT, hint="Use smtp://")

    assert str(error).endswith("handshake failed. Use smtp://")


def test_builtin_categories_are_kept() -> None:
    assert isinstance(SmtpConnectError("x", endpoint=ENDPOINT), ConnectionError)
    assert isinstance(SmtpTimeoutError("x", endpoint=ENDPOINT, step=Step.EHLO), TimeoutError)
    assert isinstance(ConfigError("f", "c", "m"), ValueError)
    assert issubclass(SmtpError, CourierError)
    assert issubclass(ConfigError, CourierError)
