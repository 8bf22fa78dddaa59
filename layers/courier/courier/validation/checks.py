"""Checks of a whole courier tree: the rules of :mod:`courier.config_rules`, as findings.

:func:`~courier.config_rules.check_config` is the only definition of a valid configuration, the
one the sender reads configurations with: it returns every problem in one pass, and this module
turns each into a finding on the path a patch uses. What only the validator asks (the SSM size
of what it would write) is added here.

Example
-------
>>> findings = check_tree({"message_retries": 21}, context=ConfigContext(has_own_uri=True))
>>> [(finding.path, finding.code) for finding in findings]
[('/services/identity/config/courier/message_retries', 'message_retries_out_of_range')]
"""

from __future__ import annotations

import json
from typing import Any

from courier.config_rules import ConfigContext, check_config
from courier.validation.paths import URI_POINTER, pointer
from courier.validation.types import Finding, Severity

__all__ = ["SSM_ADVANCED_LIMIT", "SSM_STANDARD_LIMIT", "check_tree"]

SSM_STANDARD_LIMIT = 4096
SSM_ADVANCED_LIMIT = 8192


def check_tree(
    config: dict[str, Any], *, context: ConfigContext, default_sender: str = "none"
) -> list[Finding]:
    """Every finding about ``config`` (the tree without its connection URI).

    Parameters
    ----------
    config:
        The courier tree as it would be stored in ``{prefix}/P/config``.
    context:
        The project's URI and certificates, and the stack's default sender.
    default_sender:
        The stack's default sender (its parameter and address), for the note on a project
        without a URI of its own.

    Returns
    -------
    list[Finding]
        The problems of :func:`~courier.config_rules.check_config` (errors and warnings),
        ``config_too_large``; notes ``uses_default_sender`` and ``advanced_parameter``.
    """
    findings = [
        Finding(
            severity=Severity(problem.severity),
            path=pointer(*problem.parts),
            code=problem.code,
            message=problem.message,
        )
        for problem in check_config(config, context)
    ]
    findings.extend(_size_findings(config))
    if not context.has_own_uri:
        findings.append(
            Finding.note(
                URI_POINTER,
                "uses_default_sender",
                "the project has no connection URI of its own: its mail goes through the "
                f"stack's default sender ({default_sender})",
            )
        )
    return findings


def _size_findings(config: dict[str, Any]) -> list[Finding]:
    size = len(json.dumps(config, ensure_ascii=False).encode("utf-8"))
    if size > SSM_ADVANCED_LIMIT:
        return [
            Finding.error(
                pointer(),
                "config_too_large",
                f"the configuration takes {size} bytes, more than the {SSM_ADVANCED_LIMIT} an "
                "SSM parameter can hold: shorten the template overrides (or use the built-in "
                "templates)",
            )
        ]
    if size > SSM_STANDARD_LIMIT:
        return [
            Finding.note(
                pointer(),
                "advanced_parameter",
                f"the configuration takes {size} bytes, more than the {SSM_STANDARD_LIMIT} of "
                "a standard SSM parameter: it is stored as an advanced parameter, which AWS "
                "charges for",
            )
        ]
    return []
