"""The Lambda runtime of one local invoke, run as ``python -m local._runtime`` by the invoker.

It behaves as the Python runtime does for one invocation: the working directory is the code
folder (``LAMBDA_TASK_ROOT``), the handler named by ``_HANDLER`` is imported, a context counts
down from ``AWS_LAMBDA_FUNCTION_TIMEOUT`` from the moment the handler is called, and the event
comes on stdin. Whatever the function prints goes to the log (stderr), framed by ``START``,
``END`` and ``REPORT`` lines; stdout carries only the result as JSON. An unhandled exception,
an import failure or the timeout prints ``{"errorMessage", "errorType", "requestId",
"stackTrace"}`` instead and exits with status 1.

The invoker puts this repository last on ``PYTHONPATH`` so that this module can be found; it is
dropped from ``sys.path`` before the handler is imported, so the function sees only its code
folder and its layers, as in Lambda.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import signal
import sys
import time
import traceback
import uuid
from pathlib import Path
from typing import Any, TextIO

from local.lambda_context import LocalLambdaContext

__all__ = ["main"]

_ROOT = str(Path(__file__).resolve().parents[1])


def main() -> int:
    """Run one invocation; return the process's exit status."""
    started = time.monotonic()
    result_out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # print() and Powertools' stdout logger write to the log, as in Lambda
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    environ = os.environ
    task_root = environ.get("LAMBDA_TASK_ROOT", os.getcwd())
    entries = [os.path.abspath(entry or ".") for entry in sys.path]
    keep = [entry for entry in entries if entry != _ROOT or entry == os.path.abspath(task_root)]
    sys.path[:] = list(dict.fromkeys(keep))
    timeout = float(environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT", "3"))
    request_id = str(uuid.uuid4())
    payload = sys.stdin.read()

    try:
        handler = _load_handler(environ.get("_HANDLER", ""))
    except _InitError as error:
        return _fail(result_out, error.error_type, str(error), request_id, error.__cause__)
    init_ms = (time.monotonic() - started) * 1000

    print(f"START RequestId: {request_id} Version: $LATEST", file=sys.stderr, flush=True)
    memory_mb = int(environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
    _arm_timeout(timeout, result_out, request_id)
    context = LocalLambdaContext(
        environ.get("AWS_LAMBDA_FUNCTION_NAME", "function"),
        timeout_seconds=timeout,
        memory_limit_in_mb=memory_mb,
        region=environ.get("AWS_REGION", "us-east-1"),
        aws_request_id=request_id,
    )
    invoked = time.monotonic()
    status = 0
    try:
        event = json.loads(payload) if payload.strip() else {}
        result = handler(event, context)
        try:
            body = json.dumps(result)
        except (TypeError, ValueError) as exc:
            status = _fail(
                result_out, "Runtime.MarshalError", f"Unable to marshal response: {exc}", request_id
            )
        else:
            _write(result_out, body)
    except Exception as exc:
        status = _fail(result_out, type(exc).__name__, str(exc), request_id, exc)
    signal.setitimer(signal.ITIMER_REAL, 0)
    _report(request_id, started=invoked, init_ms=init_ms, memory_mb=memory_mb)
    return status


class _InitError(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def _load_handler(name: str) -> Any:
    module_name, _, function_name = name.rpartition(".")
    if not module_name:
        raise _InitError("Runtime.MalformedHandlerName", f"Bad handler '{name}': not enough values")
    module_name = module_name.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise _InitError(
            "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}"
        ) from exc
    handler = getattr(module, function_name, None)
    if not callable(handler):
        raise _InitError(
            "Runtime.HandlerNotFound",
            f"Handler '{function_name}' missing on module '{module_name}'",
        )
    return handler


def _fail(
    out: TextIO,
    error_type: str,
    message: str,
    request_id: str,
    exc: BaseException | None = None,
) -> int:
    tb = exc.__traceback__ if exc is not None else None
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next  # the runtime's own frames, as Lambda leaves its own out
    stack = [line.rstrip("\n") for line in traceback.format_list(traceback.extract_tb(tb))]
    trace = ""
    if exc is not None:
        trace = "Traceback (most recent call last):\n" + "".join(traceback.format_tb(tb))
        trace += "".join(traceback.format_exception_only(exc))
    print(f"[ERROR] {error_type}: {message}\n{trace}".rstrip(), file=sys.stderr, flush=True)
    _write(
        out,
        json.dumps(
            {
                "errorMessage": message,
                "errorType": error_type,
                "requestId": request_id,
                "stackTrace": stack,
            }
        ),
    )
    return 1


def _write(out: TextIO, body: str) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    out.write(body)
    out.flush()


def _arm_timeout(timeout: float, out: TextIO, request_id: str) -> None:
    """Stop the whole process at the timeout, as Lambda stops the sandbox."""

    def expire(signum: int, frame: object) -> None:
        message = f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds"
        print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {message}", file=sys.stderr, flush=True)
        _write(out, json.dumps({"errorType": "Sandbox.Timedout", "errorMessage": message}))
        os._exit(1)

    signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, timeout)


def _report(request_id: str, *, started: float, init_ms: float, memory_mb: int) -> None:
    duration = (time.monotonic() - started) * 1000
    used_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(
        f"END RequestId: {request_id}\n"
        f"REPORT RequestId: {request_id}\tInit Duration: {init_ms:.2f} ms\t"
        f"Duration: {duration:.2f} ms\tBilled Duration: {max(1, round(duration))} ms\t"
        f"Memory Size: {memory_mb} MB\tMax Memory Used: {used_mb} MB",
        file=sys.stderr,
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
