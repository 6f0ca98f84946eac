"""GET /api/sources and /healthz."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker

from storage.sources import record_failure, record_partial, record_success
from tests.web.conftest import build_app
from tests.web.factories import NOW


def test_source_health(client: TestClient, sessions: sessionmaker[Session]) -> None:
    assert client.get("/api/sources").json() == []
    with sessions.begin() as session:
        record_success(session, source="reddit-main", kind="reddit", items=7, now=NOW - timedelta(minutes=5))
        record_success(session, source="feeds", kind="rss", items=3, now=NOW - timedelta(minutes=9))
        record_failure(session, source="feeds", kind="rss", error="HTTP 503 from upstream", now=NOW)
    body = {s["source"]: s for s in client.get("/api/sources").json()}
    assert list(body) == ["feeds", "reddit-main"]
    assert body["feeds"]["status"] == "failing"
    assert body["feeds"]["last_error"] == "HTTP 503 from upstream"
    assert body["feeds"]["consecutive_failures"] == 1 and body["feeds"]["total_runs"] == 2
    assert body["reddit-main"]["status"] == "ok" and body["reddit-main"]["items_last_run"] == 7


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_healthz_when_the_database_is_gone(tmp_path: Path) -> None:
    # A SQLite file in a directory that does not exist cannot be opened.
    engine = create_engine(f"sqlite:///{tmp_path / 'missing' / 'earshot.db'}")
    app = build_app(sessionmaker(engine))
    with TestClient(app) as client:
        response = client.get("/healthz")
    assert response.status_code == 503 and response.json() == {"status": "unavailable"}
    engine.dispose()


def test_failing_parts_are_shown_and_redacted(client: TestClient, sessions: sessionmaker[Session]) -> None:
    failures = [
        f"https://feeds.example.com/{i}?api_key=SECRET: TemporarilyUnavailable: HTTP 503" for i in range(6)
    ]
    with sessions.begin() as session:
        record_partial(session, source="feeds", kind="rss", items=4, failures=failures, now=NOW)
        # A row written before redaction existed still leaks nothing through the API.
        record_failure(
            session, source="old", kind="rss", error="https://u:SECRET@old.example.com/f?k=SECRET: x", now=NOW
        )
    body = {s["source"]: s for s in client.get("/api/sources").json()}
    feeds = body["feeds"]
    assert feeds["status"] == "degraded"  # 6 of 10 feeds failing is not "ok"
    assert feeds["items_last_run"] == 4 and feeds["consecutive_failures"] == 1
    assert feeds["failing_parts"] == [
        f"https://feeds.example.com/{i}?api_key=REDACTED: TemporarilyUnavailable: HTTP 503" for i in range(6)
    ]
    assert feeds["last_error"].startswith("6 parts failed: https://feeds.example.com/0?api_key=REDACTED")
    assert body["old"]["status"] == "failing" and body["old"]["failing_parts"] == []
    assert body["old"]["last_error"] == "https://REDACTED@old.example.com/f?k=REDACTED: x"
    assert "SECRET" not in client.get("/api/sources").text
