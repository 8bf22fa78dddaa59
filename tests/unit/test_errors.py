"""The error tree: what a failure says, and whether it is worth retrying."""

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


@pytest.mark.parametrize(
    ("code", "transient"), [(421, True), (450, True), (454, True), (535, False), (550, False)]
)
def test_4xx_replies_are_transient_and_5xx_permanent(code: int, transient: bool) -> None:
    for step in Step:
        assert step_error(step, code, "reply", endpoint=ENDPOINT).transient is transient


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (SmtpConnectError("refused", endpoint=ENDPOINT), True),
        (SmtpTimeoutError("no answer", endpoint=ENDPOINT, step=Step.DATA), True),
        (SmtpDisconnectedError("lost", endpoint=ENDPOINT, step=Step.MAIL), True),
        (SmtpTlsError("not trusted", endpoint=ENDPOINT), False),
        (SmtpAuthError("no AUTH offered", endpoint=ENDPOINT), False),
    ],
)
def test_without_a_reply_network_faults_are_transient_and_mismatches_permanent(
    error: SmtpError, transient: bool
) -> None:
    assert error.code is None
    assert error.transient is transient


def test_a_reply_error_names_step_code_status_and_endpoint() -> None:
    error = step_error(
        Step.AUTH, 535, b"5.7.8 Authentication\r\n credentials invalid", endpoint=ENDPOINT
    )

    assert isinstance(error, SmtpAuthError)
    assert (error.step, error.code, error.enhanced_status) == (Step.AUTH, 535, "5.7.8")
    assert str(error) == (
        "SMTP AUTH failed (permanent) at smtp://user:***@mail.example.com:587/: "
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
