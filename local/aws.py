"""An embedded AWS: moto's server on a free loopback port, reached through ``AWS_ENDPOINT_URL``.

The server runs in a thread of this process; functions invoked in child processes reach it with
the endpoint, fake keys and a region (:meth:`EmbeddedAws.child_environment`).

Example
-------
>>> with EmbeddedAws() as aws:  # doctest: +SKIP
...     aws.client("sqs").list_queues()
"""

from __future__ import annotations

import logging
import urllib.request
from typing import Any, Self

import boto3
from botocore.config import Config

__all__ = ["ACCOUNT_ID", "EmbeddedAws", "endpoint_client"]

ACCOUNT_ID = "123456789012"
"""The account moto plays."""

_KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


class EmbeddedAws:
    """moto's server on ``127.0.0.1`` (a free port unless ``port`` is given).

    Parameters
    ----------
    region:
        The region clients and functions use.
    port:
        The port to listen on; 0 picks a free one.
    """

    def __init__(self, *, region: str = "us-east-1", port: int = 0) -> None:
        self.region = region
        self._port = port
        self._server: Any = None
        self.endpoint_url = ""

    def start(self) -> Self:
        from moto.server import ThreadedMotoServer

        # werkzeug would log every request of every function to this process's stderr.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self._port, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def reset(self) -> None:
        """Wipe every resource (moto's ``/moto-api/reset``)."""
        url = f"{self.endpoint_url}/moto-api/reset"
        request = urllib.request.Request(url, method="POST")  # noqa: S310 (our http endpoint)
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            response.read()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def client(self, service: str) -> Any:
        """A boto3 client of ``service`` on the embedded endpoint, with fake keys."""
        return endpoint_client(service, endpoint_url=self.endpoint_url, region=self.region)

    def child_environment(self) -> dict[str, str]:
        """What a child process needs to use this endpoint (and nothing else)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": _KEYS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": _KEYS["aws_secret_access_key"],
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
        }


def endpoint_client(service: str, *, endpoint_url: str, region: str) -> Any:
    """A boto3 client of ``service`` on a local endpoint, with fake keys."""
    return boto3.client(  # type: ignore[call-overload]
        service,
        endpoint_url=endpoint_url,
        region_name=region,
        config=Config(retries={"mode": "standard", "max_attempts": 2}),
        **_KEYS,
    )
