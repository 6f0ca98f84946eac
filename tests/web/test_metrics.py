"""/metrics reports volumes, alerts, the outbox and source health from the database."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from collectors.base import FetchResult
from scheduler.pipeline import run_source
from storage import sources as source_repo
from tests.factories import Clock, ScriptedCollector, components, mention
from tests.web.factories import NOW


def test_metrics_reflect_the_pipeline(client: TestClient, sessions: sessionmaker[Session]) -> None:
    clock = Clock(NOW - timedelta(minutes=10))
    batch = [mention("1", "lumora is down, 500 errors, sync stuck"), mention("2", "love lumora")]
    collector = ScriptedCollector("fake", [FetchResult(mentions=batch, cursor={})])
    run_source(components(sessions, {"fake": collector}, clock=clock), "fake")
    with sessions() as s, s.begin():
        source_repo.record_failure(s, source="rss", kind="rss", error="HTTP 503", now=NOW)
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    body = response.text
    assert 'earshot_mentions_total{source="fake"} 2' in body
    assert "earshot_mentions_last_hour 2" in body
    assert 'earshot_alerts{status="firing"} 1' in body
    assert 'earshot_deliveries{status="pending"} 1' in body
    assert "earshot_deliveries_overdue 1" in body  # due 10 minutes ago, never sent
    assert 'earshot_source_consecutive_failures{kind="rss",source="rss"} 1' in body
    assert (
        f'earshot_source_last_success_timestamp_seconds{{kind="fake",source="fake"}} {clock().timestamp():g}'
        in body
    )
    assert body.count("# TYPE ") == 7
