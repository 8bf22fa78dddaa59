"""What the sender's cold start does not import: Go template support until a Go template comes
(docs: courier.go_template), in a fresh interpreter, since this one has imported everything."""

from __future__ import annotations

from tests.conftest import modules_loaded_by


def _go_modules_after(code: str) -> list[str]:
    return sorted(m for m in modules_loaded_by(code) if m.startswith("courier.go_template"))


def test_rendering_a_builtin_template_imports_no_go_template_support() -> None:
    # GIVEN a fresh interpreter WHEN it imports the templates and renders a built-in one
    render = "courier.templates.render('login_code_valid', {'to': 'a@b.org', 'login_code': '1'})"
    # THEN the Go converter and runtime were never imported
    assert _go_modules_after(f"import courier.templates; {render}") == ["courier.go_template"]


def test_a_go_template_imports_what_it_needs_when_it_comes() -> None:
    # GIVEN a fresh interpreter WHEN it compiles a Go template override
    check = "courier.templates.check_template_source('Hi {{ .To }}', field='f')"
    loaded = _go_modules_after(f"import courier.templates; {check}")
    # THEN the converter and the Go sandbox came in then
    assert {"courier.go_template.converter", "courier.go_template.runtime"} <= set(loaded)


# The sender's import in Lambda: tracing on (LAMBDA_TASK_ROOT with AWS_XRAY_* is how Powertools
# tells it runs there), the stack's settings, fake credentials; no AWS is reached.
_LAMBDA = {
    "LAMBDA_TASK_ROOT": "/var/task",
    "AWS_LAMBDA_FUNCTION_NAME": "SenderFunction",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
    "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
    "AWS_REGION": "eu-west-1",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "COURIER_IDEMPOTENCY_TABLE": "IdempotencyTable",
    "COURIER_STATUS_TABLE": "MessageStatusTable",
    "COURIER_DLQ_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/courier-dlq",
}
_FIRST_INVOCATION_ONLY = (
    "jinja2",  # the first template rendered (courier.templates)
    "email_validator",  # the first address checked (courier.message)
    "aws_xray_sdk",  # the tracer, made by the first invocation (courier.observability.traced)
    "asyncio",  # the X-Ray SDK's
    "aws_lambda_powertools.utilities.data_classes",  # never (courier.sqs_record)
)


def test_the_senders_import_leaves_templates_addresses_and_tracing_to_the_first_invocation() -> (
    None
):
    # GIVEN a fresh interpreter, as Lambda starts one WHEN it imports the sender's handler
    loaded = modules_loaded_by("import app", function="sender", environment=_LAMBDA)
    # THEN none of what only an invocation needs came with it
    early = sorted(name for name in _FIRST_INVOCATION_ONLY if name in loaded)
    assert early == []
    assert {"app", "courier.sender"} <= loaded


def test_the_senders_import_makes_no_aws_client() -> None:
    # GIVEN a fresh interpreter WHEN it imports the sender's handler, its boto3 clients watched
    code = (
        "import botocore.client\n"
        "made = []\n"
        "create = botocore.client.ClientCreator.create_client\n"
        "botocore.client.ClientCreator.create_client = "
        "lambda self, *a, **k: made.append(k['service_name']) or create(self, *a, **k)\n"
        "import app\n"
        "assert made == [], made\n"
        "app.clients.on_first_use(lambda aws: aws.client('sqs'))()\n"
        "assert made == ['sqs'], made\n"
    )
    # THEN none was made until one was asked for (the script's asserts; it fails otherwise)
    assert "app" in modules_loaded_by(code, function="sender", environment=_LAMBDA)
