"""A Lambda context for running handlers outside Lambda, with a real remaining-time clock."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from aws_lambda_powertools.utilities.typing import LambdaContext

__all__ = ["LocalLambdaContext"]


class LocalLambdaContext(LambdaContext):
    """What the Lambda runtime passes as ``context``: names, memory, and the time left.

    Parameters
    ----------
    function_name:
        The function's logical name.
    timeout_seconds:
        The function's timeout; ``get_remaining_time_in_millis()`` counts down from it.
    memory_limit_in_mb, region:
        The function's memory and region (``invoked_function_arn`` names the region).
    aws_request_id:
        The invocation's id (a new UUID when ``None``).
    clock:
        Monotonic seconds (tests may pass a fake).
    """

    def __init__(
        self,
        function_name: str = "SenderFunction",
        *,
        timeout_seconds: float = 60,
        memory_limit_in_mb: int = 256,
        region: str = "us-east-1",
        aws_request_id: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._function_name = function_name
        self._function_version = "$LATEST"
        self._memory_limit_in_mb = memory_limit_in_mb
        self._aws_request_id = aws_request_id or str(uuid.uuid4())
        self._invoked_function_arn = (
            f"arn:aws:lambda:{region}:123456789012:function:{function_name}"
        )
        self._log_group_name = f"/aws/lambda/{function_name}"
        self._log_stream_name = "local"
        self._clock = clock
        self._deadline = clock() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:  # type: ignore[override]
        return max(0, int((self._deadline - self._clock()) * 1000))
