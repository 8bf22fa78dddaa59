"""The local invoker resolves a function of template.yaml as ``sam local invoke`` does."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from local.template import (
    TemplateError,
    default_template,
    function_ids,
    load_env_vars,
    parse_parameter_overrides,
    resolve_function,
    sqs_event_source,
)

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
DLQ_URL = "http://127.0.0.1:5000/123456789012/CourierDeadLetterQueue"
RESOURCES = {
    "CourierDeadLetterQueue": {"Ref": DLQ_URL, "Arn": "arn:aws:sqs:us-east-1:1:dlq"},
    "IdempotencyTable": {"Ref": "IdempotencyTable"},
}


def test_the_sender_resolves_to_its_handler_code_and_source_layer() -> None:
    # GIVEN the source template (no `sam build`)
    # WHEN the sender is resolved
    spec = resolve_function(TEMPLATE, "SenderFunction", resource_values=RESOURCES)

    # THEN it is the template's function, with the layer's ContentUri on the path as it is
    assert spec.handler == "app.lambda_handler"
    assert spec.runtime == "python3.13"
    assert spec.architecture == "arm64"
    assert spec.code_dir == ROOT / "functions" / "sender"
    assert spec.layer_dirs == (ROOT / "layers" / "courier",)
    assert (spec.timeout_seconds, spec.memory_mb) == (60, 256)
    # ... and Ref to a resource gives the local resource's value, Ref to a parameter its default
    assert spec.environment["COURIER_DLQ_URL"] == DLQ_URL
    assert spec.environment["COURIER_IDEMPOTENCY_TABLE"] == "IdempotencyTable"
    assert spec.environment["COURIER_ALLOW_PRIVATE_SMTP_HOSTS"] == "false"
    assert spec.environment["COURIER_SMTP_TIMEOUT_SECONDS"] == "10"


def test_parameter_overrides_reach_the_environment() -> None:
    # GIVEN overrides in SAM's two syntaxes
    overrides = parse_parameter_overrides(
        [
            "AllowPrivateSmtpHosts=true SmtpTimeoutSeconds=5",
            "ParameterKey=SsmPrefix,ParameterValue=/mail",
        ]
    )

    # WHEN the sender is resolved with them
    spec = resolve_function(TEMPLATE, "SenderFunction", parameter_overrides=overrides)

    # THEN the variables that Ref those parameters have the new values
    assert overrides == {
        "AllowPrivateSmtpHosts": "true",
        "SmtpTimeoutSeconds": "5",
        "SsmPrefix": "/mail",
    }
    assert spec.environment["COURIER_ALLOW_PRIVATE_SMTP_HOSTS"] == "true"
    assert spec.environment["COURIER_SMTP_TIMEOUT_SECONDS"] == "5"
    assert spec.environment["COURIER_SSM_PREFIX"] == "/mail"


def test_env_vars_follow_sams_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a declared variable in the shell, and an --env-vars file with a global and a
    # function entry, plus a variable the template does not declare
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "from-the-shell")
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "WARNING")
    monkeypatch.setenv("COURIER_DEFAULT_PROJECT", "from-the-shell")
    env_vars = {
        "Parameters": {"POWERTOOLS_LOG_LEVEL": "DEBUG", "COURIER_DEFAULT_PROJECT": "global"},
        "SenderFunction": {"COURIER_DEFAULT_PROJECT": "acme", "NOT_DECLARED": "x"},
    }

    # WHEN the sender is resolved
    spec = resolve_function(TEMPLATE, "SenderFunction", env_vars=env_vars)

    # THEN the function's entry beats the global one, which beats the shell, which beats the
    # template; an undeclared name is ignored (and reported), as SAM does
    assert spec.environment["COURIER_DEFAULT_PROJECT"] == "acme"
    assert spec.environment["POWERTOOLS_LOG_LEVEL"] == "DEBUG"
    assert spec.environment["POWERTOOLS_SERVICE_NAME"] == "from-the-shell"
    assert "NOT_DECLARED" not in spec.environment
    assert spec.ignored_overrides == ("NOT_DECLARED",)


def test_the_function_never_gets_the_callers_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN real-looking credentials in the caller's environment
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAREALKEYOFTHEUSER")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "a-real-secret")

    # WHEN a function is resolved
    spec = resolve_function(TEMPLATE, "SenderFunction", region="eu-west-1")

    # THEN it gets fake keys for the local endpoint and the region asked for
    assert spec.environment["AWS_ACCESS_KEY_ID"] == "testing"
    assert spec.environment["AWS_SECRET_ACCESS_KEY"] == "testing"
    assert spec.environment["AWS_REGION"] == "eu-west-1"


def test_a_built_template_puts_the_built_layers_python_folder_on_the_path(tmp_path: Path) -> None:
    # GIVEN what `sam build` leaves: a template whose layer folder holds python/
    build = tmp_path / ".aws-sam" / "build"
    (build / "SenderFunction").mkdir(parents=True)
    (build / "CourierLayer" / "python" / "courier").mkdir(parents=True)
    template = TEMPLATE.read_text().replace("functions/sender/", "SenderFunction")
    template = template.replace("layers/courier/", "CourierLayer")
    (build / "template.yaml").write_text(template)
    shutil.copy(ROOT / "functions" / "sender" / "app.py", build / "SenderFunction")

    # WHEN the default template is picked and the sender resolved from it
    picked = default_template(tmp_path)
    spec = resolve_function(picked, "SenderFunction")

    # THEN the built template wins, as with `sam local invoke`, and its layer is python/
    assert picked == build / "template.yaml"
    assert spec.code_dir == build / "SenderFunction"
    assert spec.layer_dirs == (build / "CourierLayer" / "python",)


def test_without_a_build_the_source_template_is_picked(tmp_path: Path) -> None:
    assert default_template(tmp_path) == tmp_path / "template.yaml"


def test_an_unknown_function_is_an_error_that_lists_the_known_ones() -> None:
    # GIVEN the template WHEN a function it does not have is resolved THEN the error says so
    with pytest.raises(TemplateError, match=r"NoSuchFunction not found.*SenderFunction"):
        resolve_function(TEMPLATE, "NoSuchFunction")
    assert "SenderFunction" in function_ids(TEMPLATE)


@pytest.mark.parametrize(
    "content", ["not json", '["a", "list"]', '{"SenderFunction": "not an object"}']
)
def test_a_malformed_env_vars_file_is_an_error(tmp_path: Path, content: str) -> None:
    # GIVEN an --env-vars file that is not SAM's format WHEN it is loaded THEN it is refused
    path = tmp_path / "env.json"
    path.write_text(content)
    with pytest.raises(TemplateError, match="env-vars"):
        load_env_vars(path)


def test_an_env_vars_file_in_sams_format_is_read(tmp_path: Path) -> None:
    path = tmp_path / "env.json"
    path.write_text(json.dumps({"Parameters": {"A": "1"}, "SenderFunction": {"B": "2"}}))
    assert load_env_vars(path) == {"Parameters": {"A": "1"}, "SenderFunction": {"B": "2"}}


def test_the_senders_sqs_event_source_comes_from_the_template() -> None:
    # GIVEN the template, once with a BatchSize override
    # WHEN the sender's SQS event is read
    source = sqs_event_source(TEMPLATE, "SenderFunction")
    smaller = sqs_event_source(TEMPLATE, "SenderFunction", parameter_overrides={"BatchSize": "3"})

    # THEN it names the queue and the mapping's settings
    assert source is not None
    assert source.queue == "CourierQueue"
    assert (source.batch_size, source.batching_window_seconds) == (10, 0)
    assert source.report_batch_item_failures
    assert source.maximum_concurrency == 5
    assert smaller is not None
    assert smaller.batch_size == 3
