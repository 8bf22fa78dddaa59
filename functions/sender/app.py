"""SQS handler of the courier sender.

The delivery path is being built (it will read each project's SMTP connection URI from SSM,
render and deliver the message, and retry or dead-letter the rest). Until it lands, the handler
hands every record back to SQS, so a deployed stack keeps messages instead of dropping them.
"""

from __future__ import annotations

from typing import Any


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Handle one batch of SQS records.

    Parameters
    ----------
    event
        The SQS event (``{"Records": [...]}``).
    context
        The Lambda context.

    Returns
    -------
    dict[str, Any]
        The partial batch response, ``{"batchItemFailures": [...]}``.

    Example
    -------
    >>> lambda_handler({"Records": [{"messageId": "m1"}]}, None)
    {'batchItemFailures': [{'itemIdentifier': 'm1'}]}
    """
    return {
        "batchItemFailures": [
            {"itemIdentifier": record["messageId"]} for record in event.get("Records", [])
        ]
    }
