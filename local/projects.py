"""The demo projects' configuration in (embedded) SSM: one project per security mode, one per
token login.

docs/design.md §3's layout: project ``P`` keeps its connection URI in the SecureString
``{prefix}/P/smtp/connection_uri`` and the rest in the String ``{prefix}/P/config``. Each mode of
:data:`local.mailservers.MODES` gets a project named after it, sending through that mode's
server; the stack's default sender (``DefaultConnectionUriParameter``) is mode 1's server, so
messages without a ``project_id`` (the ``default`` project) are delivered too. Each token login
of :data:`local.mailservers.TOKEN_LOGINS` gets a project named after its mechanism, whose URI
logs in as its mailbox (``?auth=xoauth2``, no password) and whose SecureString
``{prefix}/P/smtp/oauth2`` says where its token comes from: the fleet's token endpoint.

Example
-------
>>> seed_projects(ssm, fleet, prefix="/courier",
...               default_parameter="/courier/default/smtp/connection_uri")  # doctest: +SKIP
{'default': 'smtp://courier:***@127.0.0.1:40111/', 'starttls': ..., ...,
 'xoauth2': 'smtp://no-reply%40xoauth2.courier.example@127.0.0.1:40117/?auth=xoauth2', ...}
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from local.mailservers import MODES, TOKEN_LOGINS, SmtpFleet

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient

__all__ = ["DEFAULT_SENDER_MODE", "MESSAGE_RETRIES", "project_config", "seed_projects"]

DEFAULT_SENDER_MODE = "starttls"
"""The mode of the stack's own sender (the ``default`` project)."""

MESSAGE_RETRIES = 3
"""The demo projects' ``message_retries``: 4 attempts, then the DLQ."""


def project_config(mode_name: str, number: int, *, login: str | None = None) -> dict[str, object]:
    """The courier config tree of the demo project of a mode (without the URI); ``login``:
    a token-login project's name (it sends from its mailbox, through mode ``number``)."""
    project = login or mode_name
    what = f"token login {login}, mode {number}" if login else f"mode {number}"
    return {
        "smtp": {
            "from_address": f"no-reply@{project}.courier.example",
            "from_name": f"courier demo ({what})",
            "headers": {"X-Courier-Demo-Mode": mode_name},
        },
        "message_retries": MESSAGE_RETRIES,
    }


def seed_projects(
    ssm: SSMClient, fleet: SmtpFleet, *, prefix: str, default_parameter: str | None
) -> dict[str, str]:
    """Write the demo projects' parameters; return each project's redacted URI.

    Parameters
    ----------
    ssm:
        A client of the (embedded) SSM.
    fleet:
        The running servers.
    prefix:
        The stack's ``SsmPrefix``.
    default_parameter:
        The stack's ``DefaultConnectionUriParameter`` (``None``: no default sender).
    """
    uris: dict[str, str] = {}
    if default_parameter:
        _put(ssm, default_parameter, fleet.uri(DEFAULT_SENDER_MODE), secure=True)
        uris["default"] = fleet.uri(DEFAULT_SENDER_MODE, with_password=False)
    for mode in MODES:
        base = f"{prefix.rstrip('/')}/{mode.name}"
        _put(ssm, f"{base}/smtp/connection_uri", fleet.uri(mode.name), secure=True)
        _put(ssm, f"{base}/config", json.dumps(project_config(mode.name, mode.number)))
        uris[mode.name] = fleet.uri(mode.name, with_password=False)
    for login in TOKEN_LOGINS:
        base = f"{prefix.rstrip('/')}/{login.project}"
        _put(ssm, f"{base}/smtp/connection_uri", fleet.uri(login.project), secure=True)
        settings = json.dumps(fleet.oauth2_settings(login.project))
        _put(ssm, f"{base}/smtp/oauth2", settings, secure=True)
        config = project_config(login.mode.name, login.mode.number, login=login.project)
        _put(ssm, f"{base}/config", json.dumps(config))
        uris[login.project] = fleet.uri(login.project)
    return uris


def _put(ssm: SSMClient, name: str, value: str, *, secure: bool = False) -> None:
    ssm.put_parameter(
        Name=name, Value=value, Type="SecureString" if secure else "String", Overwrite=True
    )
