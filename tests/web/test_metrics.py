"""/metrics reports the database exactly, in a format Prometheus's own parser reads; /healthz watches
the scheduler's heartbeat.

Expected values are computed here with plain SQL on the same database, and the exposition is read
with prometheus_client's parser, so neither side repeats the endpoint's formatting.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from collectors.base import FetchResult
from scheduler.heartbeat import HEARTBEAT, Heartbeat
from scheduler.pipeline import run_source
from storage import sources as source_repo
from tests.factories import Clock, ScriptedCollector, components, mention
from tests.web.conftest import build_app, signed_in
from tests.web.factories import NOW
from web.config import AuthConfig

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
# A moment whose Unix time needs all ten digits and a fraction: "{:g}" would print 1.79568e+09.
LAST_SUCCESS = datetime(2026, 11, 26, 9, 41, 17, 250000, tzinfo=UTC)


def scrape(client: TestClient) -> tuple[Samples, set[str]]:
    """Every sample, keyed by name and sorted labels, and the names of every family."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    names: set[str] = set()
    for family in text_string_to_metric_families(response.text):
        names.add(family.name)
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples, names


def expected_from_sql(sessions: sessionmaker[Session]) -> Samples:
    """What /metrics must say, read with hand-written SQL."""
    out: Samples = {}
    with sessions() as s:
        for source, n in s.execute(text("SELECT source, COUNT(*) FROM mentions GROUP BY source")):
            out[("earshot_mentions_total", (("source", source),))] = n
        for status, n in s.execute(text("SELECT status, COUNT(*) FROM alerts GROUP BY status")):
            out[("earshot_alerts", (("status", status),))] = n
        for status, n in s.execute(text("SELECT status, COUNT(*) FROM deliveries GROUP BY status")):
            out[("earshot_deliveries", (("status", status),))] = n
        health = "SELECT source, kind, consecutive_failures, last_success_at FROM source_health"
        rows = s.execute(text(health))
        for source, kind, failures, last_success in rows:
            labels = (("kind", kind), ("source", source))
            out[("earshot_source_consecutive_failures", labels)] = failures
            if last_success is not None:
                # SQLite hands back text or naive datetimes, PostgreSQL aware ones; all are UTC.
                if not isinstance(last_success, datetime):
                    last_success = datetime.fromisoformat(last_success)
                stamp = last_success
                stamp = stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp
                out[("earshot_source_last_success_timestamp_seconds", labels)] = stamp.timestamp()
    return out


def test_metrics_match_the_database(client: TestClient, sessions: sessionmaker[Session]) -> None:
    clock = Clock(NOW - timedelta(minutes=10))
    batch = [mention("1", "lumora is down, 500 errors, sync stuck"), mention("2", "love lumora")]
    collector = ScriptedCollector("fake", [FetchResult(mentions=batch, cursor={})])
    run_source(components(sessions, {"fake": collector}, clock=clock), "fake")
    with sessions() as s, s.begin():
        source_repo.record_failure(s, source="rss", kind="rss", error="HTTP 503", now=NOW)
        source_repo.record_success(s, source="precise", kind="rss", items=3, now=LAST_SUCCESS)
    samples, names = scrape(client)
    expected = expected_from_sql(sessions)
    assert expected, "the pipeline stored nothing"
    for key, value in expected.items():
        assert samples.get(key) == value, (key, samples.get(key), value)
    precise_labels = (("kind", "rss"), ("source", "precise"))
    precise = samples[("earshot_source_last_success_timestamp_seconds", precise_labels)]
    assert precise == LAST_SUCCESS.timestamp()  # to the quarter second, not rounded to 6 digits
    assert samples[("earshot_mentions_last_hour", ())] == 2
    assert samples[("earshot_deliveries_overdue", ())] == 1  # due 10 minutes ago, never sent
    assert samples[("earshot_scheduler_healthy", ())] == 1  # this app runs no scheduler
    # Process metrics come from prometheus_client's own collectors.
    assert {"process_resident_memory_bytes", "process_cpu_seconds", "python_info"} <= names
    assert samples[("process_resident_memory_bytes", ())] > 0


def test_large_counts_keep_every_digit(client: TestClient, sessions: sessionmaker[Session]) -> None:
    # {:g} kept six significant digits: 1234567 became 1.23457e+06.
    with sessions() as s, s.begin():
        source_repo.record_failure(s, source="flaky", kind="rss", error="HTTP 503", now=NOW)
        s.execute(text("UPDATE source_health SET consecutive_failures = 1234567 WHERE source = 'flaky'"))
    samples, _ = scrape(client)
    labels = (("kind", "rss"), ("source", "flaky"))
    assert samples[("earshot_source_consecutive_failures", labels)] == 1234567


@pytest.fixture
def heartbeat() -> Iterator[Heartbeat]:
    """A heartbeat of this test's own, so the process-wide one is never touched."""
    beat = Heartbeat()
    yield beat
    beat.stop()


def test_healthz_fails_when_the_scheduler_stops_ticking(
    sessions: sessionmaker[Session], heartbeat: Heartbeat
) -> None:
    app = build_app(sessions, heartbeat=heartbeat)
    with signed_in(app, sessions) as client:
        assert client.get("/healthz").status_code == 200  # no scheduler in this process
        heartbeat.start(interval_seconds=60)
        assert client.get("/healthz").status_code == 200
        heartbeat.beat(datetime.now(UTC) - timedelta(seconds=3 * 60 + 30))
        stalled = client.get("/healthz")
        assert stalled.status_code == 503
        assert stalled.json()["status"] == "unavailable" and "last tick" in stalled.json()["scheduler"]
        samples, _ = scrape(client)
        assert samples[("earshot_scheduler_healthy", ())] == 0
        heartbeat.beat()
        assert client.get("/healthz").status_code == 200
        heartbeat.beat(datetime.now(UTC) - timedelta(seconds=3 * 60 + 30))
        heartbeat.stop()  # a scheduler shut down on purpose is not a failure of the web process
        assert client.get("/healthz").status_code == 200


def test_healthz_reads_the_process_heartbeat_by_default(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The app built without a heartbeat (as `earshot run` builds it) asks the scheduler's own.
    monkeypatch.setattr(HEARTBEAT, "status", lambda now=None: (False, "last tick 400s ago (interval 60s)"))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "scheduler": "last tick 400s ago (interval 60s)"}


def test_metrics_is_503_when_the_database_is_gone(tmp_path: Path) -> None:
    # A SQLite file in a directory that does not exist cannot be opened.
    engine = create_engine(f"sqlite:///{tmp_path / 'missing' / 'earshot.db'}")
    # Scraped from the loopback address with the loopback left open: no token needs the database.
    auth = AuthConfig(metrics_loopback_open=True)
    app = build_app(sessionmaker(engine), heartbeat=Heartbeat(), auth=auth)
    with TestClient(app, client=("127.0.0.1", 50000)) as client:
        response = client.get("/metrics")
    assert response.status_code == 503 and response.text == "database unreachable\n"
    engine.dispose()
