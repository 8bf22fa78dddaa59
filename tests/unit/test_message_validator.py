"""The message schema's validator is generated from the schema and checked in: the file is the
schema's, and it judges bodies as fastjsonschema's compiled schema does."""

from __future__ import annotations

from typing import Any

import fastjsonschema
import pytest

from courier import message_validator
from courier.message import VALIDATOR_FILE, message_schema, validator_source

REWRITE = (
    "PYTHONPATH=layers/courier .venv/bin/python -c 'from courier.message import VALIDATOR_FILE, "
    'validator_source; VALIDATOR_FILE.write_text(validator_source(), encoding="utf-8")\''
)


def test_the_checked_in_validator_is_generated_from_the_schema() -> None:
    # GIVEN the schema file and the fastjsonschema installed WHEN generating its validator
    # THEN it is the checked-in module, byte for byte
    assert VALIDATOR_FILE.read_text(encoding="utf-8") == validator_source(), (
        f"{VALIDATOR_FILE.name} is not the validator of the schema: write it anew with {REWRITE}"
    )


@pytest.mark.parametrize(
    "body",
    [
        {"recipient": "ada@example.org", "template_type": "login_code_valid"},
        {"recipient": "ada@example.org", "subject": "Hi", "body": {"plaintext": "Hi"}},
        {"recipient": 42, "template_type": "login_code_valid"},
        {"recipient": "ada@example.org"},
        {"recipient": "ada@example.org", "template_type": "password_reset"},
        {"recipient": "ada@example.org", "template_type": "login_code_valid", "sender": "x"},
        {"recipient": "ada@example.org", "template_type": "login_code_valid", "id": "a b"},
        {"recipient": "ada@example.org", "subject": "Hi"},
        [],
    ],
)
def test_the_checked_in_validator_judges_as_the_compiled_schema(body: Any) -> None:
    # GIVEN the schema compiled at run time, as fastjsonschema.compile() does
    compiled = fastjsonschema.compile(message_schema(), use_default=False)
    # WHEN both check the body THEN they accept it alike, or refuse it with the same error
    assert _outcome(message_validator.validate, body) == _outcome(compiled, body)


def _outcome(validate: Any, body: Any) -> Any:
    try:
        return validate(body)
    except fastjsonschema.JsonSchemaValueException as exc:
        return (exc.message, exc.path, exc.rule, exc.rule_definition, exc.definition)
