"""The local invoker runs a handler as the Lambda runtime would, in a child process.

A small template of its own (written per test) keeps these fast: its handler imports nothing
heavy, so each invocation is a fresh interpreter and little more.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local.invoke import invoke
from local.template import FunctionSpec, resolve_function

ROOT = Path(__file__).resolve().parents[2]

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Greeting:
    Type: String
    Default: hello
Globals:
  Function:
    Runtime: python3.13
    MemorySize: 192
Resources:
  EchoFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: echo/
      Handler: app.handler
      Timeout: 7
      Environment:
        Variables:
          GREETING: !Ref Greeting
  SlowFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: echo/
      Handler: app.handler
      Timeout: 1
"""

LAYERED = """\
  LayeredFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: echo/
      Handler: app.handler
      Layers: [!Ref SourceLayer, !Ref BuiltLayer]
  SourceLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: source_layer/
  BuiltLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: built_layer/
"""

HANDLER = """\
import os
import sys


def handler(event, context):
    print("a line for the log")
    if event.get("raise"):
        raise ValueError("the event asked for it")
    if event.get("spin"):
        while True:
            pass
    if event.get("unserializable"):
        return {"value": object()}
    return {
        "event": event,
        "environment": dict(os.environ),
        "sys_path": sys.path,
        "cwd": os.getcwd(),
        "remaining_ms": context.get_remaining_time_in_millis(),
        "function_name": context.function_name,
        "memory": context.memory_limit_in_mb,
    }
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "echo").mkdir()
    (tmp_path / "echo" / "app.py").write_text(HANDLER)
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    return tmp_path


@pytest.fixture
def echo(project: Path) -> FunctionSpec:
    return resolve_function(project / "template.yaml", "EchoFunction")


def test_the_result_is_the_output_and_prints_go_to_the_log(echo: FunctionSpec) -> None:
    # GIVEN a handler that prints and returns its event
    # WHEN it is invoked
    result = invoke(echo, '{"hello": "world"}')

    # THEN stdout is the JSON result alone and the print is in the log, inside START/END
    assert result.exit_code == 0
    assert result.payload["event"] == {"hello": "world"}
    assert "a line for the log" not in result.output
    log = result.logs.splitlines()
    assert log[0].startswith("START RequestId: ")
    assert "a line for the log" in log
    assert log[-2].startswith("END RequestId: ")
    assert log[-1].startswith("REPORT RequestId: ")
    assert "Memory Size: 192 MB" in log[-1]


def test_the_function_gets_the_runtime_environment_and_nothing_of_the_callers(
    echo: FunctionSpec, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a variable in the caller's environment that the template does not declare
    monkeypatch.setenv("CALLERS_OWN_SECRET", "do-not-pass")

    # WHEN the function is invoked with an extra variable
    result = invoke(echo, "{}", extra_env={"AWS_ENDPOINT_URL": "http://127.0.0.1:1"})

    # THEN it sees the template's and the runtime's variables, the extra one, and no other
    environment = result.payload["environment"]
    assert environment["GREETING"] == "hello"
    assert environment["AWS_LAMBDA_FUNCTION_NAME"] == "EchoFunction"
    assert environment["AWS_LAMBDA_FUNCTION_TIMEOUT"] == "7"
    assert environment["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "192"
    assert environment["_HANDLER"] == "app.handler"
    assert environment["LAMBDA_TASK_ROOT"] == str(project / "echo")
    assert environment["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.13"
    assert environment["AWS_ENDPOINT_URL"] == "http://127.0.0.1:1"
    assert "CALLERS_OWN_SECRET" not in environment
    # ... it runs in its code folder, which is first on the path, and this repository is not
    assert result.payload["cwd"] == str(project / "echo")
    assert result.payload["sys_path"][0] == str(project / "echo")
    assert str(ROOT) not in result.payload["sys_path"]


def test_the_context_counts_down_from_the_templates_timeout(echo: FunctionSpec) -> None:
    # GIVEN a function with Timeout 7 WHEN it is invoked
    result = invoke(echo, "{}")

    # THEN its context has the function's name, memory and at most 7 s left
    assert result.payload["function_name"] == "EchoFunction"
    assert result.payload["memory"] == 192
    assert 6000 < result.payload["remaining_ms"] <= 7000


def test_an_unhandled_exception_gives_the_error_document_and_status_1(
    echo: FunctionSpec,
) -> None:
    # GIVEN a handler that raises WHEN it is invoked
    result = invoke(echo, '{"raise": true}')

    # THEN stdout has Lambda's error document, the log the traceback, and the status is 1
    assert result.exit_code == 1
    assert result.error_type == "ValueError"
    assert result.payload["errorMessage"] == "the event asked for it"
    assert result.payload["requestId"]
    assert "app.py" in result.payload["stackTrace"][0]
    assert all("_runtime.py" not in line for line in result.payload["stackTrace"])
    assert "[ERROR] ValueError: the event asked for it" in result.logs


def test_a_handler_that_cannot_be_imported_is_an_import_error(project: Path) -> None:
    # GIVEN a handler module that fails at import
    (project / "echo" / "app.py").write_text("import a_module_that_does_not_exist\n")
    spec = resolve_function(project / "template.yaml", "EchoFunction")

    # WHEN it is invoked
    result = invoke(spec, "{}")

    # THEN the error is Lambda's Runtime.ImportModuleError
    assert result.exit_code == 1
    assert result.error_type == "Runtime.ImportModuleError"
    assert "a_module_that_does_not_exist" in result.payload["errorMessage"]


def test_a_result_that_is_not_json_is_a_marshal_error(echo: FunctionSpec) -> None:
    # GIVEN a handler returning an object JSON cannot hold WHEN it is invoked
    result = invoke(echo, '{"unserializable": true}')

    # THEN the invocation fails as Lambda's does
    assert result.exit_code == 1
    assert result.error_type == "Runtime.MarshalError"


def test_a_handler_past_its_timeout_is_stopped(project: Path) -> None:
    # GIVEN a function with Timeout 1 whose handler never returns
    spec = resolve_function(project / "template.yaml", "SlowFunction")

    # WHEN it is invoked
    result = invoke(spec, json.dumps({"spin": True}))

    # THEN it is stopped at its timeout with Lambda's timeout error
    assert result.exit_code == 1
    assert result.error_type == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in result.payload["errorMessage"]


def test_layers_come_after_the_code_folder_on_the_path(project: Path) -> None:
    # GIVEN a function with a source layer (package at its top) and a built one (in python/)
    for layer, folder in (("source_layer", "source_layer"), ("built_layer", "built_layer/python")):
        (project / folder / layer).mkdir(parents=True)
        (project / folder / layer / "__init__.py").write_text(f"NAME = {layer!r}\n")
    (project / "template.yaml").write_text(TEMPLATE + LAYERED)

    # WHEN the function is resolved and invoked
    spec = resolve_function(project / "template.yaml", "LayeredFunction")
    path = invoke(spec, "{}").payload["sys_path"]

    # THEN each layer is on the path where its package is, after the code folder
    assert spec.layer_dirs == (project / "source_layer", project / "built_layer" / "python")
    assert path.index(str(project / "echo")) < path.index(str(project / "source_layer"))
    assert str(project / "built_layer" / "python") in path
