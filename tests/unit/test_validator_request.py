"""Reading a validation request: JSON values of the CLI forms, operations, paths, options."""

from __future__ import annotations

from typing import Any

import pytest

from courier.validation.request import parse_request
from courier.validation.types import Versions
from tests.unit.test_validator import CANARY, COURIER, URI, codes, run

FROM_ADDRESS = f"{COURIER}/smtp/from_address"


def errors_of(data: Any) -> list[tuple[str, str]]:
    _, findings = parse_request(data)
    assert all(finding.is_error for finding in findings)
    return [(finding.path, finding.code) for finding in findings]


def test_unterminated_quote_names_the_field_and_the_fix() -> None:
    # GIVEN the example: --replace '/…/from_address="hello@example.org' (no closing ")
    request = {"project_id": "acme", "replace": [f'{FROM_ADDRESS}="hello@example.org']}

    # WHEN it is validated
    response = run(request)

    # THEN the error is on from_address, says what JSON wants, and nothing was applied
    assert codes(response) == [(FROM_ADDRESS, "value_not_json")]
    message = response["errors"][0]["message"]
    assert "Unterminated string starting at character 0" in message
    assert "double quote at each end" in message
    assert f'{FROM_ADDRESS}="..."' in message
    assert response["config"] is None


@pytest.mark.parametrize(
    "raw",
    [
        "hello@example.org",  # a string without quotes
        "'hello@example.org'",  # single quotes
        "",  # nothing after "="
        "NaN",  # not JSON, though Python's json reads it
        '{"X-A": "v",}',  # a trailing comma
    ],
)
def test_values_that_are_not_json(raw: str) -> None:
    assert errors_of({"project_id": "acme", "add": [f"{FROM_ADDRESS}={raw}"]}) == [
        (FROM_ADDRESS, "value_not_json")
    ]


def test_value_not_json_never_repeats_the_value() -> None:
    # GIVEN an unterminated connection URI (with its password)
    request = {"project_id": "acme", "replace": [f'{URI}="smtp://u:{CANARY}@mx.example/']}

    # WHEN it is validated: THEN the URI's path is named and the password is not (run checks)
    assert codes(run(request)) == [(URI, "value_not_json")]


def test_value_is_everything_after_the_first_equals_sign() -> None:
    request, findings = parse_request(
        {"project_id": "acme", "add": [f'{COURIER}/smtp/headers/X-Sig="a=b=c"']}
    )

    assert findings == []
    assert request.operations[0].op["value"] == "a=b=c"


def test_cli_entry_without_equals_is_refused_without_echo() -> None:
    # GIVEN an entry with ':' where '=' belongs, holding a password
    entry = f"{URI}:smtp://u:{CANARY}@mx.example/"
    _, findings = parse_request({"project_id": "acme", "replace": [entry]})

    # THEN the entry is named by its place in the request, not by its text
    assert [(f.path, f.code) for f in findings] == [("/replace/0", "cli_value_missing")]
    assert CANARY not in findings[0].message


def test_ory_patch_identity_config_paths_are_the_same_settings() -> None:
    # GIVEN `ory patch identity-config`'s form of a path (below the identity config)
    request, findings = parse_request(
        {"project_id": "acme", "add": ['/courier/smtp/from_address="a@acme.example"']}
    )

    # THEN it is read as the project configuration's path
    assert findings == []
    assert request.operations[0].op["path"] == f"{COURIER}/smtp/from_address"


@pytest.mark.parametrize(
    ("path", "suggestion"),
    [
        ("/smtp/from_address", f"{COURIER}/smtp/from_address"),
        ("/services/identity/config/selfservice/methods", None),
        ("/services/identity/config", None),
    ],
)
def test_paths_outside_the_courier_tree_are_refused(path: str, suggestion: str | None) -> None:
    # GIVEN a patch of a path outside /services/identity/config/courier
    _, findings = parse_request({"project_id": "acme", "remove": [path]})

    # THEN it is refused, with the full path when it looks like a courier setting
    assert [(f.path, f.code) for f in findings] == [("/remove/0", "path_outside_courier")]
    assert f"paths start with {COURIER}/" in findings[0].message
    if suggestion:
        assert f"did you mean {suggestion}?" in findings[0].message


def test_move_from_outside_the_courier_tree_is_refused() -> None:
    patch = [{"op": "move", "from": "/services/identity/config/secrets", "path": URI}]

    assert errors_of({"project_id": "acme", "patch": patch}) == [
        ("/patch/0", "path_outside_courier")
    ]


def test_path_that_is_not_a_pointer() -> None:
    _, findings = parse_request({"project_id": "acme", "remove": ["services/identity"]})

    assert [(f.path, f.code) for f in findings] == [("/remove/0", "path_outside_courier")]
    assert "must start with '/'" in findings[0].message


@pytest.mark.parametrize(
    ("operation", "detail"),
    [
        ({"op": "upsert", "path": URI, "value": 1}, "'op' must be one of"),
        ({"path": URI, "value": 1}, "'op' must be one of"),
        ({"op": "add", "path": URI}, "add needs a 'value'"),
        ({"op": "test", "path": URI}, "test needs a 'value'"),
        ({"op": "copy", "path": URI}, "copy needs a 'from' path"),
        ({"op": "remove"}, "needs a 'path'"),
        ({"op": "remove", "path": 7}, "must be a JSON pointer string"),
        ("remove", "must be an operation"),
    ],
)
def test_malformed_operations(operation: Any, detail: str) -> None:
    _, findings = parse_request({"project_id": "acme", "patch": [operation]})

    assert [(f.path, f.code) for f in findings] == [("/patch/0", "patch_op_invalid")]
    assert detail in findings[0].message


def test_every_mistake_is_reported_not_only_the_first() -> None:
    # GIVEN a request with four independent mistakes
    data = {
        "project_id": "acme/../other",
        "replace": [f'{FROM_ADDRESS}="x', "/smtp/from_name=1"],
        "patch": [{"op": "nope"}],
        "dry_run": "no",
    }

    # THEN each is reported, on its own path
    assert sorted(errors_of(data)) == [
        ("/dry_run", "request_invalid"),
        ("/patch/0", "patch_op_invalid"),
        ("/project_id", "project_id_invalid"),
        ("/replace/1", "path_outside_courier"),
        (FROM_ADDRESS, "value_not_json"),
    ]


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ([], ""),
        ({"project_id": "acme", "replace": f"{FROM_ADDRESS}=1"}, "/replace"),
        ({"project_id": "acme", "replace": [1]}, "/replace/0"),
        ({"project_id": "acme", "patch": {"op": "add"}}, "/patch"),
        ({"project_id": "acme", "check_connection": 1}, "/check_connection"),
        ({"project_id": "acme", "dryrun": False}, "/dryrun"),
        ({"project_id": "acme", "expected_versions": {"config": 1}}, "/expected_versions"),
        (
            {"project_id": "acme", "expected_versions": {"connection_uri": 0, "config": 1}},
            "/expected_versions",
        ),
    ],
)
def test_malformed_requests(data: Any, path: str) -> None:
    assert errors_of(data) == [(path, "request_invalid")]


def test_project_id_is_required() -> None:
    assert errors_of({"replace": []}) == [("/project_id", "project_id_invalid")]


def test_options_and_their_defaults() -> None:
    # GIVEN a request with only a project: THEN it is a dry run without a connection check
    request, _ = parse_request({"project_id": "acme"})
    assert (request.dry_run, request.check_connection, request.expected_versions) == (
        True,
        False,
        None,
    )

    # GIVEN every option set
    request, findings = parse_request(
        {
            "project_id": "acme",
            "dry_run": False,
            "check_connection": True,
            "expected_versions": {"connection_uri": None, "config": 3},
        }
    )
    assert findings == []
    assert (request.dry_run, request.check_connection) == (False, True)
    assert request.expected_versions == Versions(connection_uri=None, config=3)


def test_the_caller_decides_dry_run_over_the_body() -> None:
    # GIVEN the HTTP validate route, and a body that asks to apply
    request, _ = parse_request({"project_id": "acme", "dry_run": False}, dry_run=True)

    # THEN the route wins: a validate route never writes
    assert request.dry_run is True
