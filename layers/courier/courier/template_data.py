"""Kratos's template types, and the data Kratos sends with each: the one list of both.

:data:`TEMPLATE_FIELDS` maps each template type to the ``template_data`` keys Kratos's model of
that type has (the JSON tags of its Go struct). Everything else is derived from it: the types
(:data:`TEMPLATE_TYPES`), the representative data the config validator renders a project's
overrides with (:data:`SAMPLE_DATA`) and the README's table (:func:`template_fields_markdown`,
checked by a test); the message and config schemas are checked against it by tests.

Example
-------
>>> TEMPLATE_FIELDS["login_code_valid"][:3]
('to', 'login_code', 'identity')
>>> SAMPLE_DATA["login_code_valid"]["login_code"]
'246810'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "GO_FIELD_NAMES",
    "SAMPLE_DATA",
    "TEMPLATE_FIELDS",
    "TEMPLATE_TYPES",
    "config_key",
    "template_fields_markdown",
]

_FLOW = ("request_url", "transient_payload")
_VALID = ("identity", "expires_in_minutes", *_FLOW)

TEMPLATE_FIELDS: Mapping[str, tuple[str, ...]] = {
    "recovery_valid": ("to", "recovery_url", *_VALID),
    "recovery_invalid": ("to", *_FLOW),
    "recovery_code_valid": ("to", "recovery_code", *_VALID),
    "recovery_code_invalid": ("to", *_FLOW),
    "verification_valid": ("to", "verification_url", *_VALID, "oauth2_login_request"),
    "verification_invalid": ("to", *_FLOW),
    "verification_code_valid": (
        "to",
        "verification_code",
        "verification_url",
        *_VALID,
        "oauth2_login_request",
    ),
    "verification_code_invalid": ("to", *_FLOW),
    "login_code_valid": ("to", "login_code", *_VALID, "oauth2_login_request"),
    "registration_code_valid": (
        "to",
        "registration_code",
        "traits",
        "expires_in_minutes",
        *_FLOW,
        "oauth2_login_request",
    ),
    "verifiable_address_changed": ("to", "identity", "changed_at"),
    "authenticator_key_added": ("to", "identity", "added_at"),
}
"""Each template type (in Kratos's order) and the ``template_data`` keys Kratos sends with it."""

TEMPLATE_TYPES: tuple[str, ...] = tuple(TEMPLATE_FIELDS)
"""Kratos's twelve template types."""

GO_FIELD_NAMES: Mapping[str, str] = {
    "to": "To",
    "recovery_url": "RecoveryURL",
    "recovery_code": "RecoveryCode",
    "verification_url": "VerificationURL",
    "verification_code": "VerificationCode",
    "login_code": "LoginCode",
    "registration_code": "RegistrationCode",
    "identity": "Identity",
    "traits": "Traits",
    "request_url": "RequestURL",
    "transient_payload": "TransientPayload",
    "expires_in_minutes": "ExpiresInMinutes",
    "changed_at": "ChangedAt",
    "added_at": "AddedAt",
    "oauth2_login_request": "OAuth2LoginRequest",
}
"""The Go field name (``{{ .RecoveryCode }}`` in a Kratos template) of each ``template_data``
key; inside a map such as ``.Identity`` the keys are the JSON keys themselves."""

_LEVELS = ("valid", "invalid")


def config_key(template_type: str) -> tuple[str, ...]:
    """Where ``template_type``'s templates sit below ``templates`` in Kratos's config tree.

    Kratos nests the flows that have a valid and an invalid mail (``recovery_code`` then
    ``valid``); the notices have one level.

    Example
    -------
    >>> config_key("recovery_code_valid"), config_key("verifiable_address_changed")
    (('recovery_code', 'valid'), ('verifiable_address_changed',))
    """
    flow, _, level = template_type.rpartition("_")
    return (flow, level) if level in _LEVELS and flow else (template_type,)


_TRAITS = {"email": "ada@example.org", "name": {"first": "Ada", "last": "Lovelace"}}
_SAMPLES: Mapping[str, Any] = {
    "to": "ada@example.org",
    "recovery_url": "https://auth.example.com/self-service/recovery?flow=7f3a&token=Zx9q",
    "recovery_code": "482913",
    "verification_url": "https://auth.example.com/self-service/verification?flow=91c2&token=Kp4w",
    "verification_code": "654321",
    "login_code": "246810",
    "registration_code": "135790",
    "identity": {
        "id": "5f1c0b6e-0e7d-4c2b-9d61-1f0e6a3c8a11",
        "traits": _TRAITS,
        "metadata_public": {"lang": "en"},
    },
    "traits": _TRAITS,
    "request_url": "https://auth.example.com/self-service/recovery/browser",
    "transient_payload": {},
    "expires_in_minutes": 15,
    "changed_at": "2026-12-01T09:30:00Z",
    "added_at": "2026-12-01T09:30:00Z",
    "oauth2_login_request": {
        "challenge": "8c1d2f",
        "client": {
            "client_id": "app",
            "client_name": "Example App",
            "client_uri": "https://app.example.com",
            "logo_uri": "https://app.example.com/logo.png",
            "metadata": {},
        },
    },
}

SAMPLE_DATA: Mapping[str, Mapping[str, Any]] = {
    template_type: {field: _SAMPLES[field] for field in fields}
    for template_type, fields in TEMPLATE_FIELDS.items()
}
"""Representative data of each template type, as Kratos sends it: what the config validator
renders a project's overrides with."""


def template_fields_markdown() -> str:
    """The README's table of template types and their ``template_data`` keys."""
    lines = ["| `template_type` | `template_data` keys |", "|---|---|"]
    for template_type, fields in TEMPLATE_FIELDS.items():
        lines.append(f"| `{template_type}` | {', '.join(f'`{field}`' for field in fields)} |")
    return "\n".join(lines) + "\n"
