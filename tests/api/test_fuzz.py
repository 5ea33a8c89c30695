"""The whole API fuzzed by schemathesis from its own OpenAPI schema, through the WSGI
application: no 500, every answer's status, content type and body as the schema says,
bad input refused, and no operation that answers without a token. Each operation is
tried with random names and with the name of a real resource of team A (so PUT, the
actions and DELETE reach a row), positive and negative data, EXAMPLES each: bounded so
the run takes well under a minute."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.test_endpoints import NAMES

EXAMPLES = 3
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection, ignored_auth]


@pytest.fixture(autouse=True)
def _in_the_test_transaction(settings: Any) -> Iterator[None]:
    """As django.test.Client does: the requests run in the test's transaction, so the
    handler must not close the connection at the end of each request."""
    settings.API_MAX_WAIT = 0  # ?wait=N answers at once here (tests/api/test_actions.py waits for real)
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def fuzz(operation: Any, mode: GenerationMode, headers: dict[str, str], path_parameters: dict[str, str] | None) -> None:
    @given(case=operation.as_strategy(mode, path_parameters=path_parameters))
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()


def test_the_whole_api_keeps_its_schema(world: dict[str, Any]) -> None:
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema", get_wsgi_application())
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"the schema has an invalid operation: {result}"
        operations.append(result.ok())
    operations.sort(key=lambda op: op.method.upper() == "DELETE")  # the rows stay until the end
    assert len(operations) > 40
    headers = {"Authorization": f"Bearer {world['tokens']['rw']}"}
    for operation in operations:
        real = {"name": NAMES[operation.path.split("/")[3]]} if "{name}" in operation.path else None
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            for path_parameters in ([None, real] if real else [None]):
                try:
                    fuzz(operation, mode, headers, path_parameters)
                except Exception as e:
                    raise AssertionError(f"{operation.method.upper()} {operation.path} ({mode.value}, {path_parameters})") from e
