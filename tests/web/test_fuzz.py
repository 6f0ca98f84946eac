"""Property-based fuzzing of the whole REST API from its own /openapi.json: no input gives a 5xx.

Schemathesis generates requests for every operation the schema describes, both valid ones
(positive) and ones that break the schema (negative: wrong types, out-of-range numbers, missing
fields), and sends them in-process on SQLite and on PostgreSQL, which is stricter about what it
stores. The budget is fixed and the generation derandomised, so every run sends the same requests:
CI stays deterministic and fast, and a failure reproduces.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.strategies import SearchStrategy
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.core.result import Ok
from schemathesis.python import asgi
from sqlalchemy.orm import Session, sessionmaker

from storage.alerts import mark_dead
from storage.models import DeliveryRow
from tests.web.conftest import BRANDS, COMPETITORS, add_account, build_app
from tests.web.factories import NOW, alert, classification, mention, store

# Examples per operation and generation mode; with about 20 operations, two modes and two
# databases this is a little over 1,000 requests per run.
EXAMPLES = 14


def seed(sessions: sessionmaker[Session]) -> None:
    """Rows for the fuzzer to find: mentions, alerts (one with a dead delivery), so ids 1-3 exist."""
    ids = store(
        sessions,
        [
            (mention("m1", text="Acme is down"), classification("negative", "high", ["outage"])),
            (mention("m2", brands=("Rival",)), classification("positive")),
            (mention("m3"), None),
        ],
    )
    with sessions.begin() as session:
        first = alert(session, mention_id=ids[0], channels=("slack", "pager"))
        alert(session, title="Billing", team="finance")
        alert(session, title="PR", brand="Rival", channels=())
        delivery = session.query(DeliveryRow).filter_by(alert_id=first).first()
        assert delivery is not None
        mark_dead(session, delivery.id, error="HTTP 500", now=NOW)


def test_no_request_gives_a_server_error(
    sessions: sessionmaker[Session],
    record_property: Callable[[str, object], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    seed(sessions)
    # Signed in as an administrator, so every operation gets past authentication to its handler.
    _, token = add_account(sessions, name="fuzzer", role="admin")
    app = build_app(sessions, brands=BRANDS, competitors=COMPETITORS)
    schema = schemathesis.openapi.from_asgi(
        "/openapi.json", app, headers={"Authorization": f"Bearer {token}"}
    )
    results = list(schema.get_all_operations())
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) == len(results), "the API's own schema has invalid operations"
    assert len(operations) >= 15, [op.label for op in operations]
    sent: list[str] = []
    # One in-process client for the whole run; case.call() alone would start one per request.
    with asgi.get_client(cast(asgi.ASGIApp, app)) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        for operation in operations:
            for mode in _modes(operation):
                _fuzz(operation.as_strategy(generation_mode=mode), client, sent)
    record_property("fuzz_requests", len(sent))
    with capsys.disabled():
        print(f"\nfuzz: {len(sent)} requests over {len(operations)} operations, no 5xx")
    # Every operation was exercised, so a schema that lost its parameters cannot pass by sending nothing.
    assert {op.label for op in operations} <= set(sent)


def _modes(operation: APIOperation[Any, Any, Any, Any]) -> list[GenerationMode]:
    # An operation that takes nothing has nothing to break: only positive cases exist for it.
    if operation.query or operation.path_parameters or operation.body or operation.headers:
        return [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    return [GenerationMode.POSITIVE]


def _fuzz(strategy: SearchStrategy[Case[Any]], client: asgi.ASGIClient, sent: list[str]) -> None:
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def fuzz(case: Case[Any]) -> None:
        response = case.call(session=client)
        sent.append(case.operation.label)
        assert response.status_code < 500, (
            f"{response.status_code} from {case.as_curl_command()}\n{response.text[:500]}"
        )

    fuzz()
