"""Every sample event in events/sender/ through the deployed handler (functions/sender/app.py).

The handler module is loaded by file path after moto starts, with the environment the template
gives it, as the Lambda runtime would. Each event's documented outcome sits beside it in
``<name>.expected.json``: ``response`` (the handler's result), ``delivered`` (mails that arrived)
and ``dead_lettered`` (the DLQ's error codes).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest

from local.lambda_context import LocalLambdaContext
from local.stack import StackResources
from tests.conftest import StartServer

ROOT = Path(__file__).resolve().parents[2]
EVENTS = sorted((ROOT / "events" / "sender").glob("*.json"))
EVENTS = [path for path in EVENTS if not path.name.endswith(".expected.json")]
DEFAULT_URI_PARAMETER = "/courier/default/smtp/connection_uri"


def load_handler(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("sender_app_under_test", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("event_path", EVENTS, ids=[path.stem for path in EVENTS])
def test_sample_event_gives_its_documented_outcome(
    event_path: Path,
    stack: StackResources,
    start_smtpd: StartServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN the stack's default sender on a STARTTLS server and the template's environment
    server = start_smtpd(listener="starttls")
    boto3.client("ssm").put_parameter(
        Name=DEFAULT_URI_PARAMETER,
        Value=f"smtp://user:secret@127.0.0.1:{server.port}/",
        Type="SecureString",
    )
    environment = {
        "COURIER_SSM_PREFIX": "/courier",
        "COURIER_DEFAULT_PROJECT": "default",
        "COURIER_DEFAULT_CONNECTION_URI_PARAMETER": DEFAULT_URI_PARAMETER,
        "COURIER_DEFAULT_FROM_ADDRESS": "no-reply@courier.example",
        "COURIER_ALLOW_PRIVATE_SMTP_HOSTS": "true",
        "COURIER_SMTP_TIMEOUT_SECONDS": "5",
        "COURIER_DLQ_URL": stack.dead_letter_queue_url,
        "COURIER_IDEMPOTENCY_TABLE": stack.idempotency_table,
        "COURIER_MAX_RECEIVE_COUNT": str(stack.max_receive_count),
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    handler = load_handler(ROOT / "functions" / "sender" / "app.py")
    event = json.loads(event_path.read_text())
    expected: dict[str, Any] = json.loads(
        event_path.with_name(f"{event_path.stem}.expected.json").read_text()
    )

    # WHEN the event is invoked
    response = handler.lambda_handler(event, LocalLambdaContext(timeout_seconds=60))

    # THEN the outcome is the documented one
    assert response == expected["response"]
    assert len(server.messages) == expected["delivered"]
    dead = boto3.client("sqs").receive_message(
        QueueUrl=stack.dead_letter_queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )
    codes = sorted(
        message["MessageAttributes"]["courier.error_code"]["StringValue"]
        for message in dead.get("Messages", [])
    )
    assert codes == expected["dead_lettered"]
