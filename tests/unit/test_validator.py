"""The config validator's run: the tree from the stored parameters, the patch, the result,
and what the stack itself gets wrong.

Runs :class:`ConfigValidator` on :class:`MemoryStore`, a dict with SSM's versions (the SSM store
itself is tested against moto in tests/integration). The checks of each setting have their own
files: test_validator_uri.py, test_validator_config.py; reading requests: test_validator_request.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from courier.config import parameter_names
from courier.errors import ConfigUnavailableError
from courier.stack import StackSettings
from courier.validation import ConfigValidator, ValidationResponse, Versions
from courier.validation.store import KEEP, Keep, StoredConfig

COURIER = "/services/identity/config/courier"
URI = f"{COURIER}/smtp/connection_uri"
DEFAULT_PARAMETER = "/courier/default/smtp/connection_uri"
DEFAULT_FROM = "no-reply@stack.example"
# Every stored URI carries a canary password: it must never leave the validator.
CANARY = "canary-pw-41d"
ACME_URI = f"smtp://acme-mailer:{CANARY}@192.0.32.10:587/"
ACME_CONFIG = {"smtp": {"from_address": "no-reply@acme.example", "from_name": "Acme"}}


@dataclass
class MemoryStore:
    """Parameters in a dict, each with SSM's version (1 when created, +1 per write)."""

    parameters: dict[str, tuple[str, int]] = field(default_factory=dict)
    writes: list[str] = field(default_factory=list)
    default_parameter: str | None = DEFAULT_PARAMETER

    def put(self, name: str, value: str) -> None:
        version = self.parameters[name][1] + 1 if name in self.parameters else 1
        self.parameters[name] = (value, version)

    def value(self, name: str) -> str | None:
        return self.parameters[name][0] if name in self.parameters else None

    def read(self, project_id: str) -> StoredConfig:
        names = parameter_names(project_id)
        return StoredConfig(
            connection_uri=self.value(names.connection_uri),
            config_json=self.value(names.config),
            default_connection_uri=self.value(self.default_parameter or ""),
            oauth2=self.value(names.oauth2),
            versions=self.versions(project_id),
            names=names,
        )

    def versions(self, project_id: str) -> Versions:
        names = parameter_names(project_id)
        found = {name: self.parameters[name][1] for name in names if name in self.parameters}
        return Versions(
            connection_uri=found.get(names.connection_uri), config=found.get(names.config)
        )

    def write(
        self,
        project_id: str,
        *,
        connection_uri: str | Keep | None = KEEP,
        config_json: str | Keep = KEEP,
    ) -> Versions:
        names = parameter_names(project_id)
        if isinstance(connection_uri, str):
            self.put(names.connection_uri, connection_uri)
            self.writes.append(f"put {names.connection_uri}")
        if isinstance(config_json, str):
            self.put(names.config, config_json)
            self.writes.append(f"put {names.config}")
        if connection_uri is None:
            self.parameters.pop(names.connection_uri, None)
            self.writes.append(f"delete {names.connection_uri}")
        return self.versions(project_id)


def seeded_store() -> MemoryStore:
    """Project ``acme`` with its own server; ``plain`` on the stack's default sender."""
    store = MemoryStore()
    store.put(DEFAULT_PARAMETER, f"smtp://stack:{CANARY}@192.0.32.10:587/")
    store.put("/courier/acme/smtp/connection_uri", ACME_URI)
    store.put("/courier/acme/config", json.dumps(ACME_CONFIG))
    store.put("/courier/plain/config", json.dumps({"smtp": {"headers": {"X-Tenant": "plain"}}}))
    return store


def validator_for(store: MemoryStore, **settings: Any) -> ConfigValidator:
    return ConfigValidator(
        settings=StackSettings(
            default_connection_uri_parameter=DEFAULT_PARAMETER,
            default_from_address=DEFAULT_FROM,
            **settings,
        ),
        store=store,
    )


def run(request: dict[str, Any], store: MemoryStore | None = None, **kw: Any) -> ValidationResponse:
    """Validate ``request`` against ``store`` (the seeded one by default); no password leaks."""
    response = validator_for(store or seeded_store(), **kw).handle(request)
    assert CANARY not in json.dumps(response)
    return response


def codes(response: ValidationResponse, kind: str = "errors") -> list[tuple[str, str]]:
    entries: list[dict[str, str]] = response[kind]  # type: ignore[literal-required]
    return [(entry["path"], entry["code"]) for entry in entries]


# --- the tree and the patch ----------------------------------------------------------------


def test_valid_patch_shows_the_resulting_config_with_the_password_redacted() -> None:
    # GIVEN acme's stored settings, and a patch of its sender name
    # WHEN it is validated
    response = run({"project_id": "acme", "replace": [f'{COURIER}/smtp/from_name="Acme Support"']})

    # THEN it is valid, nothing is written, and the result shows the redacted URI
    assert response["valid"] is True
    assert (response["dry_run"], response["applied"]) == (True, False)
    assert response["errors"] == []
    assert response["config"] == {
        "smtp": {
            "connection_uri": "smtp://acme-mailer:***@192.0.32.10:587/",
            "from_address": "no-reply@acme.example",
            "from_name": "Acme Support",
        }
    }
    assert response["versions"] == {"connection_uri": 1, "config": 1}


def test_every_rfc6902_operation_applies_in_order() -> None:
    # GIVEN a patch with each of the six operations
    patch = [
        {"op": "test", "path": f"{COURIER}/smtp/from_name", "value": "Acme"},
        {"op": "add", "path": f"{COURIER}/smtp/headers", "value": {"X-Tenant": "acme"}},
        {"op": "copy", "from": f"{COURIER}/smtp/headers", "path": f"{COURIER}/smtp/headers2"},
        {"op": "remove", "path": f"{COURIER}/smtp/headers2"},
        {"op": "move", "from": f"{COURIER}/smtp/from_name", "path": f"{COURIER}/smtp/local_name"},
        {"op": "replace", "path": f"{COURIER}/smtp/local_name", "value": "mail.acme.example"},
    ]

    # WHEN it is validated
    response = run({"project_id": "acme", "patch": patch})

    # THEN the result is the operations' effect, in order
    assert response["errors"] == []
    assert response["config"] is not None
    assert response["config"]["smtp"] == {
        "connection_uri": "smtp://acme-mailer:***@192.0.32.10:587/",
        "from_address": "no-reply@acme.example",
        "headers": {"X-Tenant": "acme"},
        "local_name": "mail.acme.example",
    }


def test_cli_forms_run_add_then_replace_then_remove() -> None:
    # GIVEN ory-style forms whose order matters: add the header, replace it, remove the name
    request = {
        "project_id": "acme",
        "remove": [f"{COURIER}/smtp/from_name"],
        "replace": [f'{COURIER}/smtp/headers/X-Tenant="acme-2"'],
        "add": [f'{COURIER}/smtp/headers={{"X-Tenant": "acme"}}'],
    }

    # WHEN it is validated: THEN add ran first, then replace, then remove
    response = run(request)
    assert response["errors"] == []
    assert response["config"] is not None
    assert response["config"]["smtp"]["headers"] == {"X-Tenant": "acme-2"}
    assert "from_name" not in response["config"]["smtp"]


def test_new_project_accepts_add_of_its_first_settings() -> None:
    # GIVEN a project with nothing stored, and the settings of its own server
    request = {
        "project_id": "newco",
        "add": [
            f'{URI}="smtps://newco:s3cret@192.0.32.10:465/"',
            f'{COURIER}/smtp/from_address="hello@newco.example"',
        ],
    }

    # WHEN it is validated: THEN add works without any smtp object stored before
    response = run(request)
    assert response["valid"] is True, response["errors"]
    assert response["versions"] == {"connection_uri": None, "config": None}


def test_a_project_left_without_any_setting_is_warned_it_does_not_exist() -> None:
    # GIVEN a project nobody created, validated without settings of its own
    response = run({"project_id": "acmee"})

    # THEN the sender's rule applies: its messages would not go through the default sender
    assert codes(response, "warnings") == [(COURIER, "project_unknown")]
    message = response["warnings"][0]["message"]
    assert "/courier/acmee/smtp/connection_uri" in message
    assert "dead-lettered as project_unknown" in message


@pytest.mark.parametrize(
    "request_",
    [
        {"project_id": "newco", "add": [f"{COURIER}/message_retries=3"]},
        {"project_id": "default"},
        {"project_id": "plain"},
    ],
    ids=["a first setting", "the default project", "stored settings"],
)
def test_a_project_with_any_setting_exists(request_: dict[str, Any]) -> None:
    response = run(request_)

    assert "project_unknown" not in [code for _, code in codes(response, "warnings")]


def test_replace_of_an_unset_value_sets_it_as_ory_patch_users_expect() -> None:
    # GIVEN a replace of a setting acme does not have
    response = run(
        {"project_id": "acme", "replace": [f'{COURIER}/smtp/local_name="mx.acme.example"']}
    )

    # THEN it is set, with a note that says so
    assert response["valid"] is True, response["errors"]
    assert response["config"] is not None
    assert response["config"]["smtp"]["local_name"] == "mx.acme.example"
    assert (f"{COURIER}/smtp/local_name", "replace_added") in codes(response, "notes")


def test_add_below_settings_not_set_yet_creates_them() -> None:
    response = run({"project_id": "acme", "add": [f'{COURIER}/smtp/headers/X-Tenant="acme"']})

    assert response["valid"] is True, response["errors"]
    assert response["config"] is not None
    assert response["config"]["smtp"]["headers"] == {"X-Tenant": "acme"}


def test_remove_of_an_unset_value_names_the_path() -> None:
    response = run({"project_id": "acme", "remove": [f"{COURIER}/smtp/local_name"]})

    assert codes(response) == [(f"{COURIER}/smtp/local_name", "patch_path_not_found")]
    assert response["config"] is None


def test_failed_test_operation_does_not_echo_the_value() -> None:
    # GIVEN a test of the URI against a wrong guess that holds a password
    patch = [{"op": "test", "path": URI, "value": f"smtp://acme-mailer:{CANARY}-x@h/"}]

    # WHEN it is validated
    response = run({"project_id": "acme", "patch": patch})

    # THEN the test failed, and neither the guess nor the stored URI is shown (run() checks)
    assert codes(response) == [(URI, "patch_test_failed")]


def test_removing_the_uri_means_the_stacks_default_sender() -> None:
    # GIVEN acme without from_address and from_name, and its URI removed
    request = {
        "project_id": "acme",
        "remove": [URI, f"{COURIER}/smtp/from_address", f"{COURIER}/smtp/from_name"],
    }

    # WHEN it is validated: THEN it is valid and says where mail now goes
    response = run(request)
    assert response["valid"] is True, response["errors"]
    assert response["config"] == {}
    assert codes(response, "notes") == [(URI, "uses_default_sender")]
    assert DEFAULT_PARAMETER in response["notes"][0]["message"]


def test_removing_the_uri_without_a_default_sender_is_an_error() -> None:
    # GIVEN a stack without a default sender
    store = seeded_store()
    del store.parameters[DEFAULT_PARAMETER]

    # WHEN plain (without its own URI) is validated
    response = run({"project_id": "plain"}, store)

    # THEN the missing URI is an error that says which to set
    assert codes(response) == [(URI, "connection_uri_missing")]
    assert "set smtp.connection_uri" in response["errors"][0]["message"]
    assert DEFAULT_PARAMETER in response["errors"][0]["message"]


def test_token_settings_are_checked_by_the_same_rules() -> None:
    # GIVEN acme with a token login URI and token settings whose endpoint is plain http://
    store = seeded_store()
    store.put(
        "/courier/acme/smtp/oauth2",
        json.dumps(
            {
                "grant": "client_credentials",
                "token_url": "http://login.acme.example/token",
                "client_id": "courier",
                "client_secret": CANARY,
                "scope": "smtp",
            }
        ),
    )
    token_uri = "smtps://sender%40acme.example@192.0.32.10:465/?auth=xoauth2"

    # WHEN a patch that sets that URI is validated
    response = run({"project_id": "acme", "replace": [f'{URI}="{token_uri}"']}, store)

    # THEN the parameter's mistake is an error on its key, and the secret is nowhere
    assert codes(response) == [(f"{COURIER}/smtp/oauth2/token_url", "oauth2_token_url_insecure")]
    assert "/courier/acme/smtp/oauth2" in response["errors"][0]["message"]


def test_empty_patch_validates_the_stored_configuration() -> None:
    # GIVEN a stored URI on port 25 (written before the validator existed)
    store = seeded_store()
    store.put("/courier/acme/smtp/connection_uri", f"smtp://u:{CANARY}@192.0.32.10:25/")

    # WHEN acme is validated without a patch: THEN the stored problem is reported
    assert codes(run({"project_id": "acme"}, store)) == [(URI, "smtp_port_blocked")]


@pytest.mark.parametrize("stored", ["{not json", "[]", '{"smtp": ["from_name"]}'])
def test_unreadable_stored_config_is_reported_and_repaired_by_a_whole_tree(stored: str) -> None:
    # GIVEN a stored config that is not a courier tree
    store = seeded_store()
    store.put("/courier/acme/config", stored)

    # WHEN it is validated as it is: THEN the error says how to repair it
    response = run({"project_id": "acme"}, store)
    assert codes(response) == [(COURIER, "stored_config_invalid")]
    assert "/courier/acme/config" in response["errors"][0]["message"]

    # WHEN the whole tree is replaced: THEN the repair is valid
    whole = {"smtp": {"connection_uri": ACME_URI, "from_name": "Acme"}}
    response = run(
        {"project_id": "acme", "patch": [{"op": "replace", "path": COURIER, "value": whole}]}
    )
    assert response["valid"] is True, response["errors"]


def test_uri_in_the_plain_config_is_flagged_and_moved_on_apply() -> None:
    # GIVEN a project whose String parameter holds its URI (and no SecureString)
    store = MemoryStore()
    store.put(DEFAULT_PARAMETER, "smtp://stack@192.0.32.10:587/")
    store.put("/courier/leaky/config", json.dumps({"smtp": {"connection_uri": ACME_URI}}))

    # WHEN any patch is applied
    response = run({"project_id": "leaky", "dry_run": False}, store)

    # THEN the leak is a warning, and the URI moves to its SecureString
    assert codes(response, "warnings") == [(URI, "connection_uri_in_plain_config")]
    assert response["applied"] is True
    assert store.value("/courier/leaky/smtp/connection_uri") == ACME_URI
    assert store.value("/courier/leaky/config") == "{}"


def test_copying_the_password_into_plain_settings_is_refused_and_masked() -> None:
    # GIVEN a patch that copies the URI into a header (stored in plaintext)
    patch = [{"op": "copy", "from": URI, "path": f"{COURIER}/smtp/local_name"}]

    # WHEN it is validated
    response = run({"project_id": "acme", "patch": patch})

    # THEN it is refused, and the copy is masked in the result
    assert (f"{COURIER}/smtp/local_name", "password_outside_secure_string") in codes(response)
    assert response["config"] is not None
    assert response["config"]["smtp"]["local_name"] == "***"


# --- apply ---------------------------------------------------------------------------------


def test_apply_writes_the_uri_as_secure_string_and_the_rest_as_json() -> None:
    # GIVEN a patch of both the URI and the sender name, to apply
    store = seeded_store()
    new_uri = f"smtps://acme-mailer:{CANARY}-2@192.0.32.10:465/"
    request = {
        "project_id": "acme",
        "replace": [f'{URI}="{new_uri}"', f'{COURIER}/smtp/from_name="Acme Support"'],
        "dry_run": False,
    }

    # WHEN it is applied
    response = run(request, store)

    # THEN both parameters are written, the URI first, and the versions moved
    assert (response["valid"], response["applied"]) == (True, True)
    assert store.writes == ["put /courier/acme/smtp/connection_uri", "put /courier/acme/config"]
    assert store.value("/courier/acme/smtp/connection_uri") == new_uri
    assert json.loads(store.value("/courier/acme/config") or "") == {
        "smtp": {"from_address": "no-reply@acme.example", "from_name": "Acme Support"}
    }
    assert response["versions"] == {"connection_uri": 2, "config": 2}
    assert codes(response, "notes") == [(COURIER, "applied")]


def test_apply_of_an_invalid_patch_writes_nothing() -> None:
    store = seeded_store()
    request = {"project_id": "acme", "replace": [f'{URI}="smtp://u:p@192.0.32.10:25/"']}

    response = run({**request, "dry_run": False}, store)

    assert (response["valid"], response["applied"]) == (False, False)
    assert store.writes == []


def test_apply_that_removes_the_uri_deletes_it_last() -> None:
    store = seeded_store()
    request = {
        "project_id": "acme",
        "remove": [URI, f"{COURIER}/smtp/from_address", f"{COURIER}/smtp/from_name"],
        "dry_run": False,
    }

    response = run(request, store)

    assert response["applied"] is True
    assert store.writes == ["put /courier/acme/config", "delete /courier/acme/smtp/connection_uri"]
    assert response["versions"] == {"connection_uri": None, "config": 2}


def test_apply_without_changes_writes_nothing() -> None:
    store = seeded_store()
    request = {
        "project_id": "acme",
        "replace": [f'{COURIER}/smtp/from_name="Acme"'],
        "dry_run": False,
    }

    response = run(request, store)

    assert response["applied"] is True
    assert store.writes == []
    assert codes(response, "notes") == [(COURIER, "no_change")]


@pytest.mark.parametrize(
    "expected",
    [
        {"connection_uri": 1, "config": 7},
        {"connection_uri": None, "config": 1},
    ],
)
def test_apply_refuses_when_expected_versions_differ(expected: dict[str, int | None]) -> None:
    # GIVEN versions from an earlier response that no longer hold
    store = seeded_store()
    request = {
        "project_id": "acme",
        "replace": [f'{COURIER}/smtp/from_name="Acme Support"'],
        "dry_run": False,
        "expected_versions": expected,
    }

    # WHEN it is applied: THEN nothing is written, and the error says why
    response = run(request, store)
    assert codes(response) == [(COURIER, "config_changed")]
    assert response["applied"] is False
    assert store.writes == []


def test_apply_refuses_when_the_parameters_change_while_it_runs() -> None:
    # GIVEN a store where someone else writes acme's config right after the validator read it
    class RacingStore(MemoryStore):
        def read(self, project_id: str) -> StoredConfig:
            stored = super().read(project_id)
            self.put("/courier/acme/config", json.dumps(ACME_CONFIG))
            return stored

    store = RacingStore(parameters=seeded_store().parameters)

    # WHEN a patch is applied
    request = {"project_id": "acme", "replace": [f'{COURIER}/smtp/from_name="X"'], "dry_run": False}
    response = run(request, store)

    # THEN it is refused, nothing is written, and the current versions are given
    assert codes(response) == [(COURIER, "config_changed")]
    assert "while this request ran" in response["errors"][0]["message"]
    assert response["applied"] is False
    assert store.writes == []
    assert response["versions"] == {"connection_uri": 1, "config": 2}


# --- the stack itself ----------------------------------------------------------------------

SMTP_TIMEOUT_TOO_LONG = (
    "the stack cannot send any mail: a message starts only while the sender's invocation has "
    "61s left (SmtpTimeoutSeconds, 58s, plus 3s kept to record outcomes), more than the sender "
    "function's whole Timeout (60s). Every message of every project is handed back and finally "
    "dead-lettered with out_of_time: lower the stack parameter SmtpTimeoutSeconds or raise the "
    "sender function's Timeout"
)


class UnreadableStore(MemoryStore):
    """SSM refuses to be read."""

    def read(self, project_id: str) -> StoredConfig:
        raise ConfigUnavailableError("could not read /courier/acme/config: AccessDenied")


@pytest.mark.parametrize(
    ("request_", "store", "errors"),
    [
        ({"project_id": "acme", "replace": [f'{COURIER}/smtp/from_name="Acme"']}, None, []),
        (
            {"project_id": "acme", "replace": [f"{COURIER}/smtp/from_name=Acme"]},
            None,
            [(f"{COURIER}/smtp/from_name", "value_not_json")],
        ),
        (
            {"project_id": "acme", "remove": [f"{COURIER}/nope/x"]},
            None,
            [(f"{COURIER}/nope/x", "patch_path_not_found")],
        ),
        ({"project_id": "acme"}, UnreadableStore(), [("", "config_unavailable")]),
    ],
    ids=["valid", "malformed-request", "patch-does-not-apply", "ssm-unreadable"],
)
def test_smtp_timeout_the_sender_cannot_fit_is_warned_about_in_every_response(
    request_: dict[str, Any], store: MemoryStore | None, errors: list[tuple[str, str]]
) -> None:
    # GIVEN a stack whose SmtpTimeoutSeconds (58 s) plus the 3 s reserve exceeds the sender
    # function's 60 s timeout, and requests that succeed or stop at each stage
    # WHEN each is validated
    response = run(request_, store, smtp_timeout=58, sender_timeout=60)

    # THEN each response has its own errors and the one stack warning, on the whole request,
    # saying what happens to every message and which setting to change
    assert codes(response) == errors
    assert response["warnings"] == [
        {
            "path": "",
            "code": "smtp_timeout_exceeds_function_timeout",
            "message": SMTP_TIMEOUT_TOO_LONG,
        }
    ]


def test_the_stack_warning_does_not_block_apply() -> None:
    # GIVEN the stack whose SmtpTimeoutSeconds the sender cannot fit
    store = seeded_store()
    request = {"project_id": "acme", "replace": [f'{COURIER}/smtp/from_name="X"'], "dry_run": False}

    # WHEN a sound patch is applied
    response = run(request, store, smtp_timeout=58, sender_timeout=60)

    # THEN it is written (a warning is not an error), and the warning is still there
    assert (response["valid"], response["applied"]) == (True, True)
    assert codes(response, "warnings") == [("", "smtp_timeout_exceeds_function_timeout")]


@pytest.mark.parametrize(
    ("smtp_timeout", "sender_timeout"),
    [(10, 60), (50, 60), (57, 60), (58, None)],
    ids=["template-default", "template-maximum", "exactly-fits", "sender-timeout-unknown"],
)
def test_no_stack_warning_when_a_message_fits_or_the_timeout_is_unknown(
    smtp_timeout: float, sender_timeout: float | None
) -> None:
    # GIVEN SmtpTimeoutSeconds that fits the sender's timeout with the 3 s reserve (57 + 3 =
    # 60 is enough), or a validator not told the sender's timeout
    request = {"project_id": "acme", "replace": [f'{COURIER}/smtp/from_name="Acme"']}

    # WHEN a patch is validated: THEN there is no warning at all
    response = run(request, smtp_timeout=smtp_timeout, sender_timeout=sender_timeout)
    assert response["warnings"] == []


@pytest.mark.parametrize(
    ("environ", "sender_timeout"),
    [
        ({"COURIER_SENDER_TIMEOUT_SECONDS": "60"}, 60.0),
        ({"COURIER_SENDER_TIMEOUT_SECONDS": "12.5"}, 12.5),
        ({"COURIER_SENDER_TIMEOUT_SECONDS": ""}, None),
        ({}, None),
    ],
)
def test_the_senders_timeout_comes_from_the_environment(
    environ: dict[str, str], sender_timeout: float | None
) -> None:
    # GIVEN COURIER_SENDER_TIMEOUT_SECONDS set, empty or unset
    # WHEN the settings are read: THEN it is the sender's timeout, or unknown
    assert StackSettings.from_environment(environ).sender_timeout == sender_timeout
