"""The config validator: a patch in; every finding, the resulting config and, on request, the
connection check and the write, out.

:class:`ConfigValidator` reads the project's parameters (with their versions), applies the patch
to the courier tree, runs every check on the result, optionally opens a session with the server
(:mod:`.probe`) and sends a test mail over it (:mod:`.mail_check`), and, when asked to apply and
nothing is wrong, writes the parameters back if their versions have not moved since they were
read.

Example
-------
>>> validator = ConfigValidator(settings=StackSettings.from_environment(),
...                             store=SsmConfigStore())  # doctest: +SKIP
>>> validator.handle({"project_id": "acme", "replace": [
...     '/services/identity/config/courier/smtp/connection_uri="smtp://u:p@smtp.example.com:25/"'
... ]})["errors"][0]["code"]  # doctest: +SKIP
'smtp_port_blocked'
"""

from __future__ import annotations

import json
from typing import Any

from courier.config import (
    DEFAULT_LOCAL_NAME,
    is_known_project,
    parameter_names,
    project_context,
    project_unknown,
)
from courier.config_rules import ConfigContext, canonical_tree, client_certificate, oauth_settings
from courier.deadline import Deadline
from courier.errors import ConfigUnavailableError
from courier.oauth import Tokens
from courier.oauth.refusals import host_of
from courier.stack import StackSettings
from courier.uri import ConnectionUri
from courier.validation.checks import check_tree
from courier.validation.document import (
    apply_patch,
    parsed_uri,
    redacted_tree,
    replaces_whole_tree,
    secret_copies,
    split_tree,
    stored_tree,
)
from courier.validation.mail_check import send_test_mail
from courier.validation.paths import COURIER_POINTER, URI_POINTER, pointer
from courier.validation.probe import probe
from courier.validation.request import PatchRequest, parse_request
from courier.validation.settings import check_stack
from courier.validation.store import KEEP, ConfigStore, ConfigWriteError, StoredConfig
from courier.validation.types import (
    ConnectionReport,
    Finding,
    Severity,
    ValidationResponse,
    Versions,
)
from courier.validation.uri_checks import check_uri

__all__ = ["ConfigValidator", "StackSettings", "make_response"]

# A connection check runs up to five socket operations (connect, EHLO, TLS, EHLO, AUTH); a test
# send four more (MAIL, RCPT, DATA, the message and its reply).
_PROBE_OPERATIONS = 5
_TEST_SEND_OPERATIONS = 9
_PROBE_MARGIN_SECONDS = 2.0


class ConfigValidator:
    """Validates (and applies) patches of projects' courier configuration.

    Parameters
    ----------
    settings:
        The stack's settings.
    store:
        The projects' parameters (:class:`~courier.validation.store.SsmConfigStore`).
    """

    def __init__(self, *, settings: StackSettings, store: ConfigStore) -> None:
        self.settings = settings
        self.store = store

    def handle(
        self,
        data: object,
        *,
        dry_run: bool | None = None,
        remaining_seconds: float | None = None,
    ) -> ValidationResponse:
        """Validate the request ``data``; apply it when it asks to and nothing is wrong.

        Parameters
        ----------
        data:
            The request (:func:`~courier.validation.request.parse_request`).
        dry_run:
            Set by the caller (the HTTP route) instead of by ``data``.
        remaining_seconds:
            The Lambda's time left; a connection check ends before it does.

        Returns
        -------
        ValidationResponse
            ``valid`` (no error), the findings, the resulting ``config`` (password redacted),
            ``applied``, the parameters' ``versions`` and the ``connection`` check. Every
            response also carries what is wrong with the stack itself (:meth:`stack_findings`).
        """
        stack = self.stack_findings()
        request, findings = parse_request(data, dry_run=dry_run)
        findings = [*stack, *findings]
        if any(finding.is_error for finding in findings):
            return make_response(request, findings)
        try:
            stored = self.store.read(request.project_id)
        except ConfigUnavailableError as exc:
            unavailable = Finding.error("", "config_unavailable", str(exc))
            return make_response(request, [*stack, unavailable])

        tree, stored_findings = stored_tree(
            config_json=stored.config_json,
            connection_uri=stored.connection_uri,
            config_parameter=stored.names.config,
        )
        if replaces_whole_tree(request.operations):
            stored_findings = [f for f in stored_findings if f.code != "stored_config_invalid"]
        findings.extend(stored_findings)
        expected = request.expected_versions
        if expected is not None and expected != stored.versions:
            findings.append(_changed(expected, stored.versions, "since the versions you sent"))
        new_tree, patch_findings = apply_patch(tree, request.operations)
        findings.extend(patch_findings)
        if new_tree is None:
            return make_response(request, findings, versions=stored.versions)

        config, uri = split_tree(new_tree)
        checked, context = self._check(request.project_id, config, uri, stored)
        findings.extend(checked)  # on the paths the patch used
        config = canonical_tree(config)  # stored with Kratos's nested template names
        connection = None
        if request.check_connection:
            connection = self._check_connection(
                request, config, findings, remaining_seconds, context
            )
        versions, applied = stored.versions, False
        if not request.dry_run and not any(finding.is_error for finding in findings):
            versions, applied = self._apply(request.project_id, stored, config, uri, findings)
        converted = None
        if request.show_converted:
            converted = {pointer(*parts): jinja for parts, jinja in context.converted.items()}
        return make_response(
            request,
            findings,
            config=redacted_tree(config, uri),
            versions=versions,
            applied=applied,
            connection=connection,
            converted_templates=converted,
        )

    def stack_findings(self) -> list[Finding]:
        """What is wrong with the stack, whatever the request: part of every response.

        Returns
        -------
        list[Finding]
            :func:`~courier.validation.settings.check_stack` of the settings.
        """
        return check_stack(self.settings)

    def _check(
        self, project_id: str, config: dict[str, Any], uri: object, stored: StoredConfig
    ) -> tuple[list[Finding], ConfigContext]:
        findings: list[Finding] = []
        target: ConnectionUri | None = None
        if uri is not None:
            target, uri_findings = check_uri(
                uri, allow_private_hosts=self.settings.allow_private_hosts
            )
            findings.extend(uri_findings)
        else:
            target = parsed_uri(stored.default_connection_uri)
        names = parameter_names(project_id, prefix=self.settings.prefix)
        context = project_context(
            names,
            has_own_uri=uri is not None,
            default_sender_exists=stored.default_connection_uri is not None,
            default_connection_uri_parameter=self.settings.default_connection_uri_parameter,
            client_cert_pem=stored.client_cert,
            client_key_pem=stored.client_key,
            oauth2_json=stored.oauth2,
            connection_uri=target,
            allow_private_hosts=self.settings.allow_private_hosts,
        )
        findings.extend(
            check_tree(
                config,
                context=context,
                default_sender=(
                    f"{context.default_sender_parameter}, from {self.settings.default_from_address}"
                ),
            )
        )
        # The sender's rule: a project without parameters of its own does not exist. An empty
        # tree is not written, so it would not make the project exist either.
        if not is_known_project(
            project_id,
            has_config=stored.config_json is not None or bool(config),
            has_connection_uri=uri is not None,
            default_project=self.settings.default_project,
        ):
            unknown = project_unknown(project_id, names)
            findings.append(
                Finding.warning(
                    pointer(),
                    unknown.code,
                    f"{unknown.message}: with these settings it still would not, and its "
                    "messages would be retried and then dead-lettered as project_unknown; set "
                    "its connection_uri, or any setting (e.g. message_retries) to send through "
                    "the stack's default sender",
                )
            )
        findings.extend(
            Finding.error(
                path,
                "password_outside_secure_string",
                "holds the connection URI's password, which would be stored in plaintext: "
                "keep it only in connection_uri",
            )
            for path in secret_copies(config, uri)
        )
        return findings, context

    def _check_connection(
        self,
        request: PatchRequest,
        config: dict[str, Any],
        findings: list[Finding],
        remaining_seconds: float | None,
        context: ConfigContext,
    ) -> ConnectionReport | None:
        if any(finding.is_error for finding in findings):
            findings.append(
                Finding.note(
                    URI_POINTER,
                    "connection_not_checked",
                    "the connection was not checked: fix the errors first",
                )
            )
            return None
        target = context.connection_uri  # parsed by _check: the project's, or the default
        if target is None:  # no URI at all is an error already reported
            return None
        timeout, deadline = self.settings.smtp_timeout, None
        if remaining_seconds is not None:
            left = remaining_seconds - _PROBE_MARGIN_SECONDS
            operations = (
                _PROBE_OPERATIONS if request.send_test_to is None else _TEST_SEND_OPERATIONS
            )
            timeout = min(timeout, max(1.0, left / operations))
            deadline = Deadline.after(max(1.0, left))
        smtp = config.get("smtp", {})
        session: dict[str, Any] = {
            "timeout": timeout,
            "local_hostname": smtp.get("local_name", DEFAULT_LOCAL_NAME),
            "allow_private_hosts": self.settings.allow_private_hosts,
            "client_certificate": client_certificate(smtp, context),  # checked: no error above
            "deadline": deadline,
        }
        oauth = oauth_settings(context)  # checked: no error above
        mailbox = target.token_user
        if oauth is not None and mailbox is not None:
            # A token of its own, not the sender's cached one: the check proves the settings now.
            tokens = Tokens(timeout=timeout, allow_private_hosts=self.settings.allow_private_hosts)
            session["token_source"] = tokens.source(oauth, mailbox=mailbox)
            session["token_endpoint"] = host_of(oauth.token_url)
        if request.send_test_to is None:
            report, error = probe(target, **session)
        else:
            report, error = send_test_mail(
                target,
                to=request.send_test_to,
                project_id=request.project_id,
                smtp=smtp,
                default_from_address=self.settings.default_from_address,
                **session,
            )
        if error is not None:
            findings.append(error)
        return report

    def _apply(
        self,
        project_id: str,
        stored: StoredConfig,
        config: dict[str, Any],
        uri: object,
        findings: list[Finding],
    ) -> tuple[Versions, bool]:
        assert uri is None or isinstance(uri, str)  # anything else failed the checks
        new_uri = KEEP if uri == stored.connection_uri else uri
        new_config = KEEP if _same_config(stored.config_json, config) else _dumps(config)
        if new_uri is KEEP and new_config is KEEP:
            findings.append(Finding.note(COURIER_POINTER, "no_change", "the patch changes nothing"))
            return stored.versions, True
        try:
            current = self.store.versions(project_id)
            if current != stored.versions:
                findings.append(_changed(stored.versions, current, "while this request ran"))
                return current, False
            versions = self.store.write(project_id, connection_uri=new_uri, config_json=new_config)
        except (ConfigUnavailableError, ConfigWriteError) as exc:
            findings.append(Finding.error(COURIER_POINTER, "ssm_write_failed", str(exc)))
            return stored.versions, False
        findings.append(
            Finding.note(
                COURIER_POINTER,
                "applied",
                "written; the sender uses the new settings within a minute (it caches each "
                "project's configuration for POWERTOOLS_PARAMETERS_MAX_AGE seconds)",
            )
        )
        return versions, True


def _changed(expected: Versions, current: Versions, when: str) -> Finding:
    return Finding.error(
        COURIER_POINTER,
        "config_changed",
        f"the stored configuration changed {when} (versions {current.as_dict()}, expected "
        f"{expected.as_dict()}): nothing was written; validate the patch again against the "
        "current configuration",
    )


def _same_config(stored_json: str | None, config: dict[str, Any]) -> bool:
    if stored_json is None:
        return config == {}
    try:
        return bool(json.loads(stored_json) == config)
    except ValueError:
        return False


def _dumps(config: dict[str, Any]) -> str:
    return json.dumps(config, ensure_ascii=False, separators=(",", ":"))


def make_response(
    request: PatchRequest,
    findings: list[Finding],
    *,
    config: dict[str, Any] | None = None,
    versions: Versions | None = None,
    applied: bool = False,
    connection: ConnectionReport | None = None,
    converted_templates: dict[str, str] | None = None,
) -> ValidationResponse:
    """The response to ``request``: ``valid`` when no finding is an error."""

    def of(severity: Severity) -> list[Any]:
        # By path, so that what concerns one setting reads together.
        chosen = sorted((f for f in findings if f.severity is severity), key=lambda f: f.path)
        return [finding.as_dict() for finding in chosen]

    errors = of(Severity.ERROR)
    return {
        "project_id": request.project_id,
        "valid": not errors,
        "dry_run": request.dry_run,
        "applied": applied,
        "errors": errors,
        "warnings": of(Severity.WARNING),
        "notes": of(Severity.NOTE),
        "config": config,
        "versions": versions.as_dict() if versions is not None else None,
        "connection": connection,
        "converted_templates": converted_templates,
    }
