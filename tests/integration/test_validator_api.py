"""The deployed handler (functions/config_validator/app.py) behind the HTTP API, on moto's SSM.

Events are API Gateway HTTP API payloads (2.0) as an IAM-authorized request produces them; the
handler module is loaded by file path after moto starts, with the template's environment.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest

from courier.validation.api import logger
from local.lambda_context import LocalLambdaContext
from tests.conftest import StartServer

ROOT = Path(__file__).resolve().parents[2]
COURIER = "/services/identity/config/courier"
DEFAULT_PARAMETER = "/courier/default/smtp/connection_uri"
CANARY = "canary-pw-a61e"
CALLER = "arn:aws:iam::123456789012:user/ops-alice"


@pytest.fixture
def handler(aws: None, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    for name, value in {
        "COURIER_SSM_PREFIX": "/courier",
        "COURIER_DEFAULT_PROJECT": "default",
        "COURIER_DEFAULT_CONNECTION_URI_PARAMETER": DEFAULT_PARAMETER,
        "COURIER_DEFAULT_FROM_ADDRESS": "no-reply@courier.example",
        "COURIER_ALLOW_PRIVATE_SMTP_HOSTS": "false",
        "COURIER_SMTP_TIMEOUT_SECONDS": "5",
        "COURIER_SENDER_TIMEOUT_SECONDS": "60",
        "POWERTOOLS_SERVICE_NAME": "courier-config-validator",
    }.items():
        monkeypatch.setenv(name, value)
    ssm = boto3.client("ssm")
    ssm.put_parameter(
        Name="/courier/acme/smtp/connection_uri",
        Value=f"smtp://acme:{CANARY}@192.0.32.10:587/",
        Type="SecureString",
    )
    ssm.put_parameter(Name="/courier/acme/config", Value='{"smtp": {}}', Type="String")
    return load_app()


def load_app() -> ModuleType:
    """The handler module, loaded by file path as the Lambda runtime loads it."""
    path = ROOT / "functions" / "config_validator" / "app.py"
    spec = importlib.util.spec_from_file_location("config_validator_app_under_test", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def http_event(route: str, body: str | None, *, project: str = "acme", b64: bool = False) -> Any:
    path = f"/projects/{project}/courier/{route}"
    return {
        "version": "2.0",
        "routeKey": f"POST /projects/{{project_id}}/courier/{route}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "authorizer": {"iam": {"accountId": "123456789012", "userArn": CALLER}},
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "1.2.3.4"},
            "requestId": "req-1",
            "routeKey": f"POST /projects/{{project_id}}/courier/{route}",
            "stage": "$default",
        },
        "pathParameters": {"project_id": project},
        "body": base64.b64encode(body.encode()).decode() if b64 and body else body,
        "isBase64Encoded": b64,
    }


def invoke(handler: ModuleType, event: Any) -> tuple[int, dict[str, Any]]:
    response = handler.lambda_handler(event, LocalLambdaContext("ConfigValidatorFunction"))
    assert response["headers"]["Content-Type"] == "application/json"
    body: dict[str, Any] = json.loads(response["body"])
    return response["statusCode"], body


def test_validate_route_answers_200_with_the_result(handler: ModuleType) -> None:
    body = json.dumps({"remove": [f"{COURIER}/smtp/local_name"]})

    status, result = invoke(handler, http_event("validate", json.dumps({"add": []})))
    assert (status, result["valid"]) == (200, True)

    status, result = invoke(handler, http_event("validate", body))
    assert status == 422
    assert result["errors"][0]["code"] == "patch_path_not_found"


def test_invalid_patch_answers_422_with_codes_and_paths(handler: ModuleType) -> None:
    body = json.dumps(
        {"add": [f'{COURIER}/smtp/connection_uri="smtp://u:{CANARY}@192.0.32.10:25/"']}
    )

    status, result = invoke(handler, http_event("validate", body))

    assert status == 422
    assert result["valid"] is False
    assert [(e["path"], e["code"]) for e in result["errors"]] == [
        (f"{COURIER}/smtp/connection_uri", "smtp_port_blocked")
    ]
    assert CANARY not in json.dumps(result)


def test_validate_route_never_writes_even_when_the_body_asks(handler: ModuleType) -> None:
    body = json.dumps({"add": [f'{COURIER}/smtp/from_name="Acme"'], "dry_run": False})

    status, result = invoke(handler, http_event("validate", body))

    assert status == 200
    assert (result["dry_run"], result["applied"]) == (True, False)
    config = boto3.client("ssm").get_parameter(Name="/courier/acme/config")["Parameter"]
    assert config["Version"] == 1


def test_apply_route_writes(handler: ModuleType) -> None:
    body = json.dumps({"add": [f'{COURIER}/smtp/from_name="Acme"']})

    status, result = invoke(handler, http_event("apply", body, b64=True))

    assert status == 200
    assert (result["dry_run"], result["applied"]) == (False, True)
    config = boto3.client("ssm").get_parameter(Name="/courier/acme/config")["Parameter"]
    assert json.loads(config["Value"]) == {"smtp": {"from_name": "Acme"}}


@pytest.mark.parametrize("body", ["{not json", "[]", '"text"', None])
def test_body_that_is_not_a_json_object_is_400(handler: ModuleType, body: str | None) -> None:
    status, result = invoke(handler, http_event("validate", body))

    assert status == 400
    assert [error["code"] for error in result["errors"]] == ["body_not_json"]
    assert result["project_id"] == "acme"


def test_project_comes_from_the_path(handler: ModuleType) -> None:
    status, result = invoke(handler, http_event("validate", "{}", project="a" * 65))

    assert status == 422
    assert [error["code"] for error in result["errors"]] == ["project_id_invalid"]


def test_unknown_route_is_404(handler: ModuleType) -> None:
    event = http_event("validate", "{}")
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/projects/acme/courier/delete"

    response = handler.lambda_handler(event, LocalLambdaContext("ConfigValidatorFunction"))

    assert response["statusCode"] == 404


def test_one_log_line_per_request_names_the_caller_not_the_password(
    handler: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the function's JSON log, captured
    stream = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", stream)
    body = json.dumps(
        {"add": [f'{COURIER}/smtp/connection_uri="smtp://u:{CANARY}@192.0.32.10:25/"']}
    )

    # WHEN a request fails
    invoke(handler, http_event("apply", body))

    # THEN one line says who asked what, with the codes, and no line has the password
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line]
    [line] = [line for line in lines if line.get("message", "").startswith("config ")]
    assert line["message"] == "config invalid"
    assert (line["route"], line["caller"], line["project_id"]) == ("apply", CALLER, "acme")
    assert line["errors"] == ["smtp_port_blocked"]
    assert line["service"] == "courier-config-validator"
    assert all(CANARY not in json.dumps(entry) for entry in lines)


def test_direct_invocation_returns_the_result(handler: ModuleType) -> None:
    event = {"project_id": "acme", "add": [f'{COURIER}/smtp/from_name="Acme"']}

    result = handler.lambda_handler(event, LocalLambdaContext("ConfigValidatorFunction"))

    assert (result["valid"], result["dry_run"], result["applied"]) == (True, True, False)


def test_direct_invocation_of_something_else_than_an_object(handler: ModuleType) -> None:
    result = handler.lambda_handler(["not", "a", "request"], LocalLambdaContext("X"))

    assert result["valid"] is False
    assert [error["code"] for error in result["errors"]] == ["request_invalid"]


def test_the_event_is_never_logged(handler: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the Powertools switch that logs every incoming event, on when the handler loads
    monkeypatch.setenv("POWERTOOLS_LOGGER_LOG_EVENT", "true")
    handler = load_app()
    stream = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", stream)
    event = {"project_id": "acme", "add": [f'{COURIER}/smtp/connection_uri="smtp://u:{CANARY}@h/"']}

    # WHEN an event with a password is invoked: THEN no log line has the password
    handler.lambda_handler(event, LocalLambdaContext("ConfigValidatorFunction"))
    assert stream.getvalue()
    assert CANARY not in stream.getvalue()


@pytest.mark.parametrize(
    ("event", "status"),
    [
        (http_event("validate", json.dumps({"add": [f'{COURIER}/smtp/from_name="Acme"']})), 200),
        (http_event("apply", "{not json"), 400),
    ],
    ids=["valid-patch", "body-not-json"],
)
def test_a_stack_whose_smtp_timeout_the_sender_cannot_fit_warns_on_every_route(
    handler: ModuleType, monkeypatch: pytest.MonkeyPatch, event: Any, status: int
) -> None:
    # GIVEN the function deployed with SmtpTimeoutSeconds 58 and the sender's Timeout, 60 s
    monkeypatch.setenv("COURIER_SMTP_TIMEOUT_SECONDS", "58")
    handler = load_app()
    stream = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", stream)

    # WHEN a request comes in, sound or not
    answered, result = invoke(handler, event)

    # THEN its status is unchanged, and the body warns that the stack cannot send any mail
    assert answered == status
    assert result["warnings"] == [
        {
            "path": "",
            "code": "smtp_timeout_exceeds_function_timeout",
            "message": "the stack cannot send any mail: a message starts only while the "
            "sender's invocation has 61s left (SmtpTimeoutSeconds, 58s, plus 3s kept to record "
            "outcomes), more than the sender function's whole Timeout (60s). Every message of "
            "every project is handed back and finally dead-lettered with out_of_time: lower the "
            "stack parameter SmtpTimeoutSeconds or raise the sender function's Timeout",
        }
    ]
    # ... and the request's log line names the warning
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line]
    [line] = [line for line in lines if line.get("message", "").startswith("config ")]
    assert line["warnings"] == ["smtp_timeout_exceeds_function_timeout"]


def test_an_smtp_timeout_that_fits_gives_no_stack_warning(handler: ModuleType) -> None:
    # GIVEN the function with SmtpTimeoutSeconds 5 and the sender's Timeout, 60 s
    # WHEN a sound patch is validated: THEN nothing is warned about
    body = json.dumps({"add": [f'{COURIER}/smtp/from_name="Acme"']})
    status, result = invoke(handler, http_event("validate", body))
    assert (status, result["warnings"]) == (200, [])


def test_the_validate_route_sends_a_test_mail(
    aws: None, monkeypatch: pytest.MonkeyPatch, start_smtpd: StartServer
) -> None:
    # GIVEN the deployed handler, with acme's own STARTTLS server on loopback
    server = start_smtpd(listener="starttls", password=CANARY)
    for name, value in {
        "COURIER_ALLOW_PRIVATE_SMTP_HOSTS": "true",
        "COURIER_SMTP_TIMEOUT_SECONDS": "5",
        "POWERTOOLS_SERVICE_NAME": "courier-config-validator",
    }.items():
        monkeypatch.setenv(name, value)
    boto3.client("ssm").put_parameter(
        Name="/courier/acme/smtp/connection_uri",
        Value=f"smtp://user:{CANARY}@127.0.0.1:{server.port}/",
        Type="SecureString",
    )
    body = json.dumps(
        {
            "add": [f'{COURIER}/smtp/from_address="hello@acme.example"'],
            "send_test_to": "ops@acme.example",
        }
    )

    # WHEN the HTTP API's validate route is asked for a test send
    status, result = invoke(load_app(), http_event("validate", body))

    # THEN the test mail went through DATA and reached the server, and nothing was written
    assert (status, result["valid"], result["applied"]) == (200, True, False), result["errors"]
    assert result["connection"]["test_mail"]["accepted"] is True
    assert [step["step"] for step in result["connection"]["steps"]][-3:] == [
        "MAIL",
        "RCPT",
        "DATA",
    ]
    [received] = server.messages
    assert (received.mail_from, received.rcpt_tos) == ("hello@acme.example", ("ops@acme.example",))
    assert received.message["X-Courier-Test"] == "true"
    assert CANARY not in json.dumps(result)
