"""A moto server in server mode on a free port, reached through aioboto3 with endpoint_url."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from tests.support.servers import free_port

REGION = "us-east-1"


@contextmanager
def moto_server() -> Iterator[str]:
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    class DynamoDbSerializingServer(ThreadedMotoServer):
        """moto's threaded server, with DynamoDB requests handled one at a time."""

        def _server_entry(self) -> None:
            app = serialize_dynamodb(DomainDispatcherApplication(create_backend_app))
            self._server = make_server(self._ip_address, self._port, app, True, request_handler=MotoRequestHandler)
            self._server_ready_event.set()
            self._server.serve_forever()

    port = free_port()
    server = DynamoDbSerializingServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def serialize_dynamodb(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """DynamoDB evaluates a condition and applies its write atomically; moto does not across its request
    threads (two conditional updates of one item can both pass their condition), so the lease and
    version races the contract tests provoke could pass or fail by chance. Other services stay concurrent:
    SQS long polls must not hold up the rest."""
    lock = threading.Lock()

    def serialized(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return app(environ, start_response)
        with lock:
            return list(app(environ, start_response))

    return serialized


def aws_test_environment() -> dict[str, str]:
    """Credentials moto accepts; set before any aioboto3 session is created."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }


def apply_aws_test_environment() -> None:
    os.environ.update(aws_test_environment())
