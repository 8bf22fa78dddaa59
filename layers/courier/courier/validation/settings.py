"""What the validator says about the stack itself, whatever the project and the patch.

The validator judges a configuration with the sender's own settings: both functions read one
:class:`~courier.stack.StackSettings` from the same ``COURIER_*`` variables (``template.yaml``
gives both the same), so the prefix, default sender, SSRF guard and timeout are the sender's.
The validator is also told the sender function's own timeout (``COURIER_SENDER_TIMEOUT_SECONDS``),
so that :func:`check_stack` can warn when no message could ever start
(:func:`courier.deadline.fits`): a stack-wide problem, reported with every response.

Example
-------
>>> [f.code for f in check_stack(StackSettings(smtp_timeout=58, sender_timeout=60))]
['smtp_timeout_exceeds_function_timeout']
"""

from __future__ import annotations

from courier.deadline import RESERVE_SECONDS, fits, seconds_needed
from courier.stack import StackSettings
from courier.validation.types import Finding

__all__ = ["STACK_POINTER", "StackSettings", "check_stack"]

STACK_POINTER = ""
"""Where a stack-wide finding points: the whole request (no place in it, nor in the config, is
at fault), as for ``config_unavailable``."""


def check_stack(settings: StackSettings) -> list[Finding]:
    """What is wrong with the stack itself, whatever the project and the patch.

    Parameters
    ----------
    settings:
        The stack's settings.

    Returns
    -------
    list[Finding]
        The warning ``smtp_timeout_exceeds_function_timeout`` (on :data:`STACK_POINTER`) when
        the sender function's timeout cannot :func:`~courier.deadline.fits` one message: then
        the sender starts none, and every message ends in the dead-letter queue.
    """
    sender_timeout, smtp_timeout = settings.sender_timeout, settings.smtp_timeout
    if sender_timeout is None or fits(remaining_seconds=sender_timeout, smtp_timeout=smtp_timeout):
        return []
    return [
        Finding.warning(
            STACK_POINTER,
            "smtp_timeout_exceeds_function_timeout",
            "the stack cannot send any mail: a message starts only while the sender's "
            f"invocation has {seconds_needed(smtp_timeout):g}s left (SmtpTimeoutSeconds, "
            f"{smtp_timeout:g}s, plus {RESERVE_SECONDS:g}s kept to record outcomes), more than "
            f"the sender function's whole Timeout ({sender_timeout:g}s). Every message of every "
            "project is handed back and finally dead-lettered with out_of_time: lower the stack "
            "parameter SmtpTimeoutSeconds or raise the sender function's Timeout",
        )
    ]
