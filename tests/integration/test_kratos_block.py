"""A Kratos user's whole `courier` block, unchanged: validated and applied by the config
validator, then read by the sender, which delivers the mail Kratos would render.

The block has Kratos's nested template keys, base64 Go-template overrides (an i18n layout of
`define`/`template` chosen on `.Identity.metadata_public.lang`) and a client certificate (the
SecureStrings beside the URI), and the server requires that certificate (real aiosmtpd, trustme
CAs, STARTTLS); SSM, SQS and DynamoDB are moto.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import boto3
import pytest
import trustme

from courier.stack import StackSettings
from courier.validation.store import SsmConfigStore
from courier.validation.validator import ConfigValidator
from tests.conftest import StartMtlsServer
from tests.integration.test_sender import PASSWORD, Courier
from tests.integration.test_sender import courier as courier  # the fixture

PROJECT = "acme"
SUBJECT = (
    '{{ if eq .Identity.metadata_public.lang "de" }}Zugang wiederherstellen'
    '{{ else }}Recover access to {{ .Identity.traits.app | default "Acme" }}{{ end }}'
)
PLAINTEXT = """\
{{ define "en" }}Hi {{ .Identity.traits.name.first }},

your recovery code is {{ .RecoveryCode }}. It expires in {{ .ExpiresInMinutes }} minutes.
{{ end }}
{{- define "de" }}Hallo {{ .Identity.traits.name.first }},

dein Code lautet {{ .RecoveryCode }}. Er gilt {{ .ExpiresInMinutes }} Minuten.
{{ end }}
{{- if eq .Identity.metadata_public.lang "de" }}{{ template "de" . }}
{{- else }}{{ template "en" . }}{{ end -}}
"""
HTML = """\
{{ define "body" }}<p>{{ if eq .Identity.metadata_public.lang "de" }}Dein Code
{{- else }}Your code{{ end }}: <b>{{ .RecoveryCode }}</b></p>{{ end }}
<html><body>{{ template "body" . }}</body></html>
"""


def b64(source: str) -> str:
    return "base64://" + base64.b64encode(source.encode("utf-8")).decode("ascii")


def kratos_block(uri: str) -> dict[str, Any]:
    """The `courier` block of a Kratos config (KRATOS.md §1), as Kratos writes it."""
    return {
        "smtp": {
            "connection_uri": uri,
            "from_address": "security@acme.example",
            "from_name": "Acme Security",
            "headers": {"X-Acme-Flow": "identity"},
            "local_name": "mailer.acme.example",
        },
        "templates": {
            "recovery_code": {
                "valid": {
                    "email": {
                        "subject": b64(SUBJECT),
                        "body": {"plaintext": b64(PLAINTEXT), "html": b64(HTML)},
                    }
                }
            },
        },
        "message_retries": 3,
    }


def recovery_message(lang: str | None) -> dict[str, Any]:
    identity: dict[str, Any] = {"traits": {"name": {"first": "Ada"}}, "metadata_public": {}}
    if lang is not None:
        identity["metadata_public"]["lang"] = lang
    return {
        "recipient": f"ada-{lang or 'none'}@example.org",
        "project_id": PROJECT,
        "template_type": "recovery_code_valid",
        "template_data": {
            "recovery_code": "482913",
            "expires_in_minutes": 15,
            "identity": identity,
        },
    }


@pytest.fixture
def client_identity(client_ca: trustme.CA) -> trustme.LeafCert:
    return client_ca.issue_cert("mailer.acme.example", common_name="acme-mailer")


def test_a_kratos_courier_block_validates_and_delivers_what_kratos_would_render(
    courier: Courier, start_mtls_smtpd: StartMtlsServer, client_identity: trustme.LeafCert
) -> None:
    # GIVEN a server that requires a client certificate, and the project's certificate and key
    # as the SecureStrings beside its connection URI
    mtls = start_mtls_smtpd(password=PASSWORD)
    ssm = boto3.client("ssm")
    chain = "".join(pem.bytes().decode("ascii") for pem in client_identity.cert_chain_pems)
    for name, value in (
        ("client_cert", chain),
        ("client_key", client_identity.private_key_pem.bytes().decode("ascii")),
    ):
        ssm.put_parameter(Name=f"/courier/{PROJECT}/smtp/{name}", Value=value, Type="SecureString")
    uri = f"smtp://user:{PASSWORD}@127.0.0.1:{mtls.server.port}/"

    # WHEN the Kratos block is applied through the validator, as `ory patch identity-config`
    # would set it
    settings = StackSettings(allow_private_hosts=True, smtp_timeout=5)
    validator = ConfigValidator(
        settings=settings, store=SsmConfigStore(settings=settings, boto3_client=ssm)
    )
    response = validator.handle(
        {
            "project_id": PROJECT,
            "add": [f"/courier={json.dumps(kratos_block(uri))}"],
            "dry_run": False,
            "check_connection": True,
        }
    )

    # THEN it is valid and applied, the connection check presented the certificate, and the
    # stored tree is Kratos's
    assert response["errors"] == [], response["errors"]
    assert response["applied"] is True
    assert response["connection"] is not None
    assert response["connection"]["ok"] is True
    stored = json.loads(ssm.get_parameter(Name=f"/courier/{PROJECT}/config")["Parameter"]["Value"])
    assert stored["templates"]["recovery_code"]["valid"]["email"]["subject"] == b64(SUBJECT)
    assert "connection_uri" not in stored["smtp"]

    # WHEN the sender handles a German and an English recovery mail
    courier.push(recovery_message("de"), recovery_message(None))
    outcome = courier.run(courier.receive())

    # THEN both arrived over TLS with the client certificate, rendered as Kratos would
    assert outcome == {"batchItemFailures": []}
    assert courier.dead_letters() == []
    by_recipient = {m.rcpt_tos[0]: m for m in mtls.server.messages}
    assert set(by_recipient) == {"ada-de@example.org", "ada-none@example.org"}
    assert [subject["commonName"] for subject in mtls.client_subjects] == ["acme-mailer"] * 2

    def text(mail: Any, kind: str) -> str:
        content: str = mail.get_body((kind,)).get_content()
        return content.replace("\r\n", "\n")  # the wire's line ends

    german = by_recipient["ada-de@example.org"].message
    assert german["Subject"] == "Zugang wiederherstellen"
    assert german["From"] == "Acme Security <security@acme.example>"
    assert german["X-Acme-Flow"] == "identity"
    assert text(german, "plain") == ("Hallo Ada,\n\ndein Code lautet 482913. Er gilt 15 Minuten.\n")
    assert text(german, "html") == ("\n<html><body><p>Dein Code: <b>482913</b></p></body></html>\n")

    english = by_recipient["ada-none@example.org"].message
    assert english["Subject"] == "Recover access to Acme"
    assert text(english, "plain") == (
        "Hi Ada,\n\nyour recovery code is 482913. It expires in 15 minutes.\n"
    )
