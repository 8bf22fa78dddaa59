"""Properties of the validator's request parser: any request in, a PatchRequest and findings out
(parse_request raises nothing: every mistake is a finding), fast, and never a password in a
finding."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from courier.validation.paths import COURIER_POINTER, URI_POINTER, courier_parts
from courier.validation.request import OPERATIONS, PatchRequest, parse_request
from courier.validation.types import Finding
from tests.conftest import CredentialGuard
from tests.property.support import (
    ANY_TEXT,
    DEPTHS,
    JSON,
    TRICKY_TEXT,
    SecretUri,
    guarded,
    json_text,
    nested_json,
    secret_uris,
    shown_in_texts,
)

CODES = frozenset(
    {
        "request_invalid",
        "project_id_invalid",
        "patch_op_invalid",
        "cli_value_missing",
        "value_not_json",
        "path_outside_courier",
    }
)
"""The codes parse_request documents."""

PARTS = st.one_of(
    st.sampled_from(["smtp", "connection_uri", "from_address", "headers", "X-Tag", "templates"]),
    st.sampled_from(["message_retries", "courier", "config", "a~0b", "a~1b", "~2", "-", "0"]),
    st.text(max_size=6),
)
POINTERS = st.one_of(
    st.lists(PARTS, max_size=4).map(
        lambda parts: COURIER_POINTER + "".join(f"/{p}" for p in parts)
    ),
    st.lists(PARTS, min_size=1, max_size=4).map(lambda parts: "".join(f"/{p}" for p in parts)),
    st.sampled_from([URI_POINTER, "", "/", "smtp/from_name", "/services/identity/config"]),
    TRICKY_TEXT,
)
CLI_VALUES = st.one_of(
    JSON.map(json_text),
    st.sampled_from(['"unterminated', "bare", "'single'", "NaN", "Infinity", "", "1 2", "{"]),
    TRICKY_TEXT,
)
CLI_ENTRIES = st.one_of(
    st.builds(lambda path, value: f"{path}={value}", POINTERS, CLI_VALUES),
    POINTERS,
    JSON,
)
OPS = st.one_of(
    st.fixed_dictionaries(
        {"op": st.one_of(st.sampled_from(OPERATIONS), JSON)},
        optional={
            "path": st.one_of(POINTERS, JSON),
            "from": st.one_of(POINTERS, JSON),
            "value": JSON,
        },
    ),
    JSON,
)
EXPECTED_VERSIONS = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {
            "connection_uri": st.one_of(st.none(), st.integers(-1, 3), JSON),
            "config": st.one_of(st.none(), st.integers(-1, 3), st.booleans()),
        }
    ),
    JSON,
)


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    """A request near the documented shape: each field present or not, right or wrong."""
    fields: dict[str, st.SearchStrategy[Any]] = {
        "project_id": st.one_of(
            st.from_regex(r"[a-zA-Z0-9_.-]{1,64}", fullmatch=True), ANY_TEXT, JSON
        ),
        "patch": st.one_of(st.lists(OPS, max_size=4), JSON),
        "add": st.one_of(st.lists(CLI_ENTRIES, max_size=3), JSON),
        "replace": st.one_of(st.lists(CLI_ENTRIES, max_size=3), JSON),
        "remove": st.one_of(st.lists(st.one_of(POINTERS, JSON), max_size=3), JSON),
        "dry_run": st.one_of(st.booleans(), JSON),
        "check_connection": st.one_of(st.booleans(), JSON),
        "expected_versions": EXPECTED_VERSIONS,
    }
    request = {name: draw(values) for name, values in fields.items() if draw(st.booleans())}
    if draw(st.integers(0, 9)) == 0:
        request[draw(st.text(max_size=8))] = draw(JSON)
    return request


def read(data: object, dry_run: bool | None = None) -> tuple[PatchRequest, list[Finding]]:
    """parse_request's answer, checked for its shape; any exception fails the test."""
    request, findings = parse_request(data, dry_run=dry_run)
    assert isinstance(request, PatchRequest)
    for finding in findings:
        assert isinstance(finding, Finding)
        assert finding.is_error, finding
        assert finding.code in CODES, finding
        assert finding.message, finding
    return request, findings


@given(data=st.one_of(JSON, ANY_TEXT), dry_run=st.one_of(st.none(), st.booleans()))
def test_any_json_is_read_into_findings(
    credential_guard: CredentialGuard, data: object, dry_run: bool | None
) -> None:
    with guarded(credential_guard):
        read(data, dry_run)


@given(data=requests(), dry_run=st.one_of(st.none(), st.booleans()))
def test_near_valid_requests_are_read_into_findings(
    credential_guard: CredentialGuard, data: dict[str, Any], dry_run: bool | None
) -> None:
    with guarded(credential_guard):
        request, findings = read(data, dry_run)
    if dry_run is not None:
        assert request.dry_run is dry_run
    if findings:
        return
    # No finding: the request is what the documentation says a valid one is.
    assert request.project_id == data["project_id"]
    assert set(data) <= {"project_id", "patch", "add", "replace", "remove", "dry_run"} | {
        "check_connection",
        "expected_versions",
    }
    for operation in request.operations:
        op = operation.op
        assert op["op"] in OPERATIONS
        courier_parts(op["path"])
        if op["op"] in ("move", "copy"):
            courier_parts(op["from"])
        if op["op"] in ("add", "replace", "test"):
            assert "value" in op
    expected = len(data.get("patch", [])) + sum(
        len(data.get(form, [])) for form in ("add", "replace", "remove")
    )
    assert len(request.operations) == expected


def _slots(uri: str) -> dict[str, dict[str, Any]]:
    """Requests that hold ``uri`` in each place a user may put a connection URI."""
    quoted = json.dumps(uri)
    return {
        "cli-json": {"replace": [f"{URI_POINTER}={quoted}"]},
        "cli-unquoted": {"replace": [f"{URI_POINTER}={uri}"]},
        "cli-open-quote": {"add": [f'{URI_POINTER}="{uri}']},
        "cli-single-quotes": {"replace": [f"{URI_POINTER}='{uri}'"]},
        "cli-no-equals": {"replace": [f"{URI_POINTER}{quoted}"]},
        "cli-uri-alone": {"add": [uri]},
        "cli-uri-as-path": {"replace": [f"{uri}={quoted}"]},
        "cli-short-path": {"replace": [f"/smtp/connection_uri={uri}"]},
        "cli-path-after": {"replace": [f"{COURIER_POINTER}/smtp/{uri}=1"]},
        "remove": {"remove": [uri, f"/smtp/{uri}", f"{COURIER_POINTER}/{uri}"]},
        "patch-value": {"patch": [{"op": "replace", "path": URI_POINTER, "value": uri}]},
        "patch-path": {"patch": [{"op": "replace", "path": uri, "value": 1}]},
        "patch-short-path": {"patch": [{"op": "add", "path": f"/smtp/{uri}", "value": 1}]},
        "patch-from": {"patch": [{"op": "copy", "from": uri, "path": URI_POINTER}]},
        "patch-op": {"patch": [{"op": uri, "path": URI_POINTER}]},
        "patch-entry": {"patch": [uri]},
        "patch-not-a-list": {"patch": uri},
        "project_id": {"project_id": uri},
        "dry_run": {"dry_run": uri},
        "expected_versions": {"expected_versions": {"connection_uri": uri, "config": 1}},
        "unknown-field-value": {"connection_uri": uri},
    }


SLOTS = sorted(_slots("smtp://u:p@h/"))


@given(uri=secret_uris(), slot=st.sampled_from(SLOTS))
def test_no_finding_shows_the_password(
    credential_guard: CredentialGuard, uri: SecretUri, slot: str
) -> None:
    data = {"project_id": "acme", **_slots(uri.text)[slot]}
    with guarded(credential_guard, inputs=[uri.text]):
        _, findings = read(data)
    texts = [text for finding in findings for text in (finding.path, finding.message)]
    shown = shown_in_texts(texts, uri.secrets())
    assert not shown, f"{slot} ({uri.layout}) shows {shown}"


@given(depth=DEPTHS, kind=st.sampled_from(["[", "{"]), form=st.sampled_from(["add", "replace"]))
@example(depth=100_000, kind="[", form="replace")
def test_deeply_nested_cli_values_are_findings(
    credential_guard: CredentialGuard, depth: int, kind: str, form: str
) -> None:
    entry = f"{COURIER_POINTER}/smtp/from_name={nested_json(depth, kind=kind)}"
    with guarded(credential_guard):
        read({"project_id": "acme", form: [entry]})
