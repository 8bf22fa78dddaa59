"""Every sample event in ``events/<function>/`` gives the outcome documented beside it.

Each event is invoked through the local invoker (``local.invoke``: the function resolved from
``template.yaml`` as ``sam local invoke`` resolves it, run in a child process) against the local
stack: moto with the template's resources and the demo projects in SSM, and a real SMTP server
per security mode (the stack's default sender is mode 1's). ``events/<dir>/`` belongs to the
function whose ``CodeUri`` is ``functions/<dir>/``.

Beside ``<name>.json``, ``<name>.expected.json`` documents the outcome; every key is optional:

``response``
    A subset of the handler's result (objects: the keys given; lists: element by element; a
    JSON text, such as an HTTP body, as the JSON it holds).
``delivered``
    How many mails the SMTP servers accepted.
``dead_lettered``
    The DLQ messages' ``courier.error_code`` attributes, sorted.
``ssm``
    SSM parameters after the invocation, by name (``null``: the parameter does not exist), as
    ``response``.

``events/<dir>/ssm.seed.json``, when there is one, holds SSM parameters the folder's events
expect; they are written (over the demo projects') before each of its events.
``events/<dir>/status.seed.json`` likewise holds message status items (the status table's, as
plain JSON) for the ``messages-*`` events.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.sandbox import LocalStack
from local.template import function_ids

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
EVENTS = sorted(
    path
    for path in (ROOT / "events").glob("*/*.json")
    if not path.name.endswith((".expected.json", ".seed.json"))
)


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(workdir=tmp_path_factory.mktemp("local"), template=TEMPLATE) as stack:
        yield stack


@pytest.fixture
def fresh_stack(local_stack: LocalStack) -> LocalStack:
    local_stack.reset()
    return local_stack


def function_of(events_dir: str, stack: LocalStack) -> str:
    """The function whose code folder is named like the events folder."""
    by_code_dir = {stack.function(name).code_dir.name: name for name in function_ids(TEMPLATE)}
    assert events_dir in by_code_dir, f"no function has CodeUri functions/{events_dir}/"
    return by_code_dir[events_dir]


def is_subset(expected: Any, actual: Any) -> bool:
    if isinstance(expected, dict | list) and isinstance(actual, str):
        try:
            actual = json.loads(actual)
        except ValueError:
            return False
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and is_subset(value, actual[key]) for key, value in expected.items()
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(expected) == len(actual)
            and all(is_subset(e, a) for e, a in zip(expected, actual, strict=True))
        )
    return bool(expected == actual)


def ssm_value(stack: LocalStack, name: str) -> Any:
    ssm = stack.aws.client("ssm")
    try:
        value = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        return None
    return str(value)


def test_every_events_folder_has_documented_events() -> None:
    # GIVEN the sample events WHEN their sidecars are looked up THEN each event has one
    assert EVENTS, "no sample events found"
    undocumented = [
        path.name for path in EVENTS if not path.with_name(f"{path.stem}.expected.json").is_file()
    ]
    assert undocumented == []


@pytest.mark.parametrize(
    "event_path", EVENTS, ids=[f"{path.parent.name}/{path.stem}" for path in EVENTS]
)
def test_sample_event_gives_its_documented_outcome(
    event_path: Path, fresh_stack: LocalStack
) -> None:
    # GIVEN a sample event, its documented outcome and the function it belongs to
    expected: dict[str, Any] = json.loads(
        event_path.with_name(f"{event_path.stem}.expected.json").read_text()
    )
    function = function_of(event_path.parent.name, fresh_stack)
    seed = event_path.with_name("ssm.seed.json")
    if seed.is_file():
        fresh_stack.seed_parameters(seed)
    status_seed = event_path.with_name("status.seed.json")
    if status_seed.is_file():
        fresh_stack.seed_status(status_seed)

    # WHEN it is invoked as `sam local invoke FUNCTION -e EVENT` would invoke it
    result = fresh_stack.invoke(function, event_path.read_text())

    # THEN the result and the side effects are the documented ones
    assert "response" not in expected or is_subset(expected["response"], result.payload), (
        result.output,
        result.logs[-3000:],
    )
    if "delivered" in expected:
        delivered = sum(len(server.messages) for server in fresh_stack.fleet.servers.values())
        assert delivered == expected["delivered"], result.logs[-3000:]
    if "dead_lettered" in expected:
        codes = sorted(dead.get("courier.error_code", "") for dead in fresh_stack.dead_letters())
        assert codes == expected["dead_lettered"]
    for name, value in expected.get("ssm", {}).items():
        assert is_subset(value, ssm_value(fresh_stack, name)), name
