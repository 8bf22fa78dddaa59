"""The config validator: catch a broken courier setting when it is written, not when mail fails.

A request patches a project's courier tree (RFC 6902 operations, or ``ory patch project``'s
``--add``/``--replace``/``--remove`` forms); the validator applies the patch to the configuration
read from SSM, reports every error, warning and note on the path a user patched, optionally runs
an SMTP session up to AUTH, and writes the result back when asked to and nothing is wrong.

Modules, by idea: :mod:`.request` (reading the request), :mod:`.document` (the tree and the
patch), :mod:`.uri_checks` and :mod:`.checks` (what is wrong), :mod:`.mail_check` (a test send),
:mod:`.probe` (the connection check), :mod:`.store` (SSM with versions), :mod:`.settings`
(what is wrong with the stack itself), :mod:`.validator` (the whole run) and :mod:`.api` (direct
and HTTP invocation). The stack's settings are :class:`courier.stack.StackSettings`, shared with
the sender.

Example
-------
>>> settings = StackSettings.from_environment()  # doctest: +SKIP
>>> api = ValidatorApi(ConfigValidator(settings=settings,
...                                    store=SsmConfigStore(settings=settings)))  # doctest: +SKIP
>>> api.handle({"project_id": "acme", "remove": [
...     "/services/identity/config/courier/smtp/from_name"]}, context)["valid"]  # doctest: +SKIP
True
"""

from courier.validation.api import ValidatorApi
from courier.validation.store import SsmConfigStore
from courier.validation.types import Finding, Severity, ValidationResponse, Versions
from courier.validation.validator import ConfigValidator

__all__ = [
    "ConfigValidator",
    "Finding",
    "Severity",
    "SsmConfigStore",
    "ValidationResponse",
    "ValidatorApi",
    "Versions",
]
