"""The boto3 session of courier's functions, whose botocore knows only the calls courier makes.

botocore's own data makes a session's first clients slow: it lists all ~400 service directories
to learn which services exist, and parses a 1.2 MB ``endpoints.json`` and each client's whole
service model (SSM's is 800 KB, for the three operations courier calls): a session with a
DynamoDB and an SSM client costs a cold start about 70 ms, and 15 ms from :func:`session`
(python3.13). Its botocore reads ``courier/aws_data/`` and nothing else: botocore's files,
trimmed at build time to :data:`OPERATIONS` (each service's listed operations, the shapes they
reach, every modelled error; no documentation), ``endpoints.json`` to those services.
Endpoints, credentials, regions, retries, ``AWS_ENDPOINT_URL`` and
``AWS_ENDPOINT_URL_<SERVICE>`` behave as with ``boto3.session.Session()``.

What :data:`OPERATIONS` does not list does not exist on these clients, nor do paginators,
waiters, resources, other services, or credentials that need an AWS call (a profile's role
assumed through STS, SSO): add the call there, then write the data anew from the installed
botocore with ``make aws-data`` (``cd layers/courier && ../../.venv/bin/python -m
courier.aws_session``); a unit test checks that the shipped files are what that writes.
``AWS_DATA_PATH`` and ``~/.aws/models`` are not read.

Example
-------
>>> aws = session()
>>> aws.get_available_services()
['dynamodb', 'sqs', 'ssm']
>>> ssm = aws.client("ssm", region_name="eu-west-1")
>>> hasattr(ssm, "get_parameters"), hasattr(ssm, "get_parameter")
(True, False)
"""

from __future__ import annotations

import json
import shutil
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, TypeVar

import boto3.session
import botocore.session
from botocore import xform_name
from botocore.loaders import Loader

from courier.lazy import Lazy

__all__ = ["AWS_DATA", "OPERATIONS", "Clients", "generate", "session", "write"]

_Client = TypeVar("_Client")

AWS_DATA: Final = str(Path(__file__).with_name("aws_data"))
"""The directory of botocore data shipped in the layer, made by :func:`write`."""

OPERATIONS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        # courier.delivery_log, .status_table, .status_api; and Powertools'
        # DynamoDBPersistenceLayer, the idempotency records (get, put, update, delete).
        "dynamodb": (
            "batch_get_item",
            "batch_write_item",
            "delete_item",
            "get_item",
            "put_item",
            "query",
            "update_item",
        ),
        "sqs": ("change_message_visibility_batch", "send_message"),  # courier.settlement
        "ssm": ("delete_parameter", "get_parameters", "put_parameter"),  # courier.ssm
    }
)
"""The client methods courier's functions call, by service: all that :func:`session`'s clients
have."""

SHARED_DATA: Final = ("_retry", "endpoints", "partitions", "sdk-default-configuration")
"""What botocore loads besides a service's own files, when it makes a client."""
SERVICE_DATA: Final = ("endpoint-rule-set-1", "service-2")
"""The files of each service that making its client and calling it load."""


class _ShippedLoader(Loader):
    # aws_data is botocore's own data. An endpoints.json from outside BUILTIN_DATA_PATH counts
    # as a customer's: clients would give the endpoint rule sets the legacy endpoint as a custom
    # one, and DynamoDB would lose its account-ID endpoints, for one.
    BUILTIN_DATA_PATH = AWS_DATA


def session() -> boto3.session.Session:
    """A new boto3 session whose clients know :data:`OPERATIONS` from ``aws_data``.

    Like ``boto3.session.Session()``, it is not for sharing across threads while clients are
    made; its clients are. A function makes one and creates all its clients from it.
    """
    core = botocore.session.Session()
    # A list of its own: boto3 appends its own data directory (resources) to it.
    core.register_component(
        "data_loader",
        _ShippedLoader(extra_search_paths=[AWS_DATA], include_default_search_paths=False),
    )
    return boto3.session.Session(botocore_session=core)


class Clients:
    """A function's AWS clients, each made on first use from one :func:`session`.

    The clients are made one at a time, under one lock, whichever thread asks first (a boto3
    session is not thread-safe while it makes clients); the session itself is made with the
    first client. Nothing is made at construction: a cold start's import makes no client, and
    the sender's DynamoDB client is made by the first idempotency claim or status write, while
    the batch's SMTP sessions open.

    Example
    -------
    >>> clients = Clients()
    >>> sqs = clients.on_first_use(lambda aws: aws.client("sqs", region_name="eu-west-1"))
    >>> sqs().meta.endpoint_url
    'https://sqs.eu-west-1.amazonaws.com'
    >>> sqs() is sqs()
    True
    """

    def __init__(self, make_session: Callable[[], boto3.session.Session] = session) -> None:
        self._make_session = make_session
        self._session: boto3.session.Session | None = None
        self._lock = threading.Lock()

    def on_first_use(self, make: Callable[[boto3.session.Session], _Client]) -> Lazy[_Client]:
        """What ``make(session)`` returns, made by the first call of the result."""
        return Lazy(lambda: self._made(make))

    def _made(self, make: Callable[[boto3.session.Session], _Client]) -> _Client:
        with self._lock:
            if self._session is None:
                self._session = self._make_session()
            return make(self._session)


def generate() -> dict[str, bytes]:
    """``aws_data``'s files (path relative to it → content), from the installed botocore.

    Deterministic: each file keeps the order of botocore's, which botocore reads into ordered
    dicts (a structure's member order is the order of a parsed response's keys).

    Raises
    ------
    ValueError
        :data:`OPERATIONS` names a method that a service's model does not have.
    """
    botocore_data = Loader(
        extra_search_paths=[Loader.BUILTIN_DATA_PATH], include_default_search_paths=False
    )
    files: dict[str, Any] = {}
    prefixes: set[str] = set()
    for service, methods in OPERATIONS.items():
        for type_name in SERVICE_DATA:
            version = botocore_data.determine_latest_version(service, type_name)
            data = botocore_data.load_service_model(service, type_name, version)
            if type_name == "service-2":
                prefixes |= {service, data["metadata"]["endpointPrefix"]}
                data = _service_model(service, data, methods)
            else:
                data = _rule_set(data)
            files[f"{service}/{version}/{type_name}.json"] = data
    for name in SHARED_DATA:
        data = botocore_data.load_data(name)
        if name == "endpoints":
            data = _endpoints(data, prefixes)
        files[f"{name}.json"] = _undocumented(data)
    return {
        path: json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
        for path, data in sorted(files.items())
    }


def write(directory: str = AWS_DATA) -> dict[str, bytes]:
    """Replace ``directory``'s contents with :func:`generate`'s files; return them."""
    files = generate()
    shutil.rmtree(directory, ignore_errors=True)
    for name, content in files.items():
        path = Path(directory, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return files


def _service_model(service: str, model: Any, methods: tuple[str, ...]) -> Any:
    operations = model["operations"]
    by_method = {xform_name(name): name for name in operations}
    if unknown := sorted(set(methods) - set(by_method)):
        raise ValueError(f"{service} has no operation {', '.join(unknown)}")
    # With endpoint discovery enabled, botocore calls the discovery operation itself.
    wanted = {by_method[method] for method in methods} | {
        name for name, operation in operations.items() if operation.get("endpointoperation")
    }
    kept = {name: _undocumented(op) for name, op in operations.items() if name in wanted}
    shapes = model["shapes"]
    # Every modelled error: ``client.exceptions`` stays whole, so any ``except`` clause works.
    roots = [name for name, shape in shapes.items() if shape.get("exception")]
    for operation in kept.values():
        roots += [operation[key]["shape"] for key in ("input", "output") if key in operation]
        roots += [error["shape"] for error in operation.get("errors", ())]
    reached = set(_reached(shapes, roots))
    return {
        **_undocumented(model),
        "operations": kept,
        "shapes": {name: _shape(shape) for name, shape in shapes.items() if name in reached},
    }


def _reached(shapes: Mapping[str, Any], roots: list[str]) -> Iterator[str]:
    seen: set[str] = set()
    while roots:
        name = roots.pop()
        if name in seen:
            continue
        seen.add(name)
        yield name
        shape = shapes[name]
        roots += [shape[key]["shape"] for key in ("member", "key", "value") if key in shape]
        roots += [member["shape"] for member in shape.get("members", {}).values()]


def _shape(shape: Mapping[str, Any]) -> Any:
    if "members" not in shape:
        return _undocumented(shape)
    members = {name: _undocumented(member) for name, member in shape["members"].items()}
    return {**_undocumented(shape), "members": members}


def _rule_set(rule_set: Mapping[str, Any]) -> Any:
    parameters = {name: _undocumented(spec) for name, spec in rule_set["parameters"].items()}
    return {**_undocumented(rule_set), "parameters": parameters, "rules": _rules(rule_set["rules"])}


def _rules(rules: list[Any]) -> list[Any]:
    return [
        {**_undocumented(rule), **({"rules": _rules(rule["rules"])} if "rules" in rule else {})}
        for rule in rules
    ]


def _endpoints(endpoints: Mapping[str, Any], prefixes: set[str]) -> Any:
    partitions = [
        {**partition, "services": {k: v for k, v in partition["services"].items() if k in prefixes}}
        for partition in endpoints["partitions"]
    ]
    return {**endpoints, "partitions": partitions}


def _undocumented(node: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in node.items() if key != "documentation"}


if __name__ == "__main__":  # python -m courier.aws_session (from layers/courier)
    written = write()
    for name, content in written.items():
        sys.stdout.write(f"{len(content):>8} {name}\n")
