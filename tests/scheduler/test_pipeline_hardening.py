"""Issue 10 on the pipeline: run deadlines, per-part failures, NUL bytes, redaction, crashes mid-store.

Every test runs on SQLite and on PostgreSQL (the ``sessions`` fixture).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session, sessionmaker

from alerting import health
from alerting.config import HealthConfig, RouteConfig, TeamConfig
from collectors.base import FetchResult
from collectors.errors import TemporarilyUnavailable
from collectors.rss import RssCollector, RssOptions
from scheduler.pipeline import run_source
from storage import mentions as mention_repo
from storage import sources as source_repo
from storage.models import AlertRow, AuthorRow, DeliveryRow, MentionRow
from tests.collectors.conftest import make_context
from tests.factories import ScriptedCollector, components, mention
from tests.slowfeed import dripping_server

OUTAGE = "lumora is down again, sync stuck and 500 errors everywhere"


def _count(sessions: sessionmaker[Session], model: type, *where: Any) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _feed(*titles: str) -> bytes:
    items = "".join(
        f"<item><title>{t}</title><link>https://news.example.com/{i}</link><guid>g{i}</guid></item>"
        for i, t in enumerate(titles)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>N</title>{items}</channel></rss>'.encode()
    )


@pytest.fixture
def drip_server() -> Iterator[HTTPServer]:
    with dripping_server() as server:
        yield server


def _rss(feeds: list[str]) -> RssCollector:
    return RssCollector(
        name="feeds",
        options=RssOptions(feeds=feeds, allow_private=True),
        context=make_context("lumora", timeout=5.0),
    )


def test_slow_feed_hits_the_run_deadline_and_is_recorded(
    sessions: sessionmaker[Session], httpserver: HTTPServer, drip_server: HTTPServer
) -> None:
    httpserver.expect_request("/ok").respond_with_data(
        _feed(f"{OUTAGE} #1"), content_type="application/rss+xml"
    )
    drip, ok = drip_server.url_for("/drip") + "?token=SECRET", httpserver.url_for("/ok")
    comps = components(sessions, {"feeds": _rss([drip, ok])})
    report = run_source(comps, "feeds", timeout_seconds=3.0)
    assert report.ok and report.new == 1  # the good feed is stored...
    assert len(report.failures) == 1 and "DeadlineExceeded" in report.failures[0]  # ...the slow one fails
    with sessions() as s:
        (row,) = source_repo.list_health(s)
        assert row.consecutive_failures == 1 and row.total_failures == 1 and row.total_items == 1
        parts = source_repo.failing_parts(row)
        assert len(parts) == 1 and "deadline of 3 s exceeded" in parts[0]
        assert "SECRET" not in (row.last_error or "") and "token=REDACTED" in (row.last_error or "")
        cursor = source_repo.get_cursor(s, "feeds") or {}
        assert cursor["feeds"][ok]["seen"] and cursor["feeds"][drip]["seen"] == []
    only_drip = components(sessions, {"drip": _rss([drip])})
    failed = run_source(only_drip, "drip", timeout_seconds=2.0)
    assert failed.error and failed.error.startswith("DeadlineExceeded: ")
    with sessions() as s:
        row = {h.source: h for h in source_repo.list_health(s)}["drip"]
        assert row.consecutive_failures == 1 and row.last_success_at is None


def test_partial_failures_count_towards_the_health_alert(sessions: sessionmaker[Session]) -> None:
    def partial(n: int) -> FetchResult:
        return FetchResult(
            mentions=[mention(f"p{n}", f"{OUTAGE} #{n}")],
            cursor={"n": n},
            failures=[
                f"https://feeds.example.com/{i}?key=SECRET: TemporarilyUnavailable: HTTP 503"
                for i in range(6)
            ],
        )

    collector = ScriptedCollector("fake", [partial(n) for n in range(3)])
    comps = components(sessions, {"fake": collector})
    for _ in range(3):
        report = run_source(comps, "fake")
        assert report.ok and report.new == 1 and len(report.failures) == 6
    teams = {"ops": TeamConfig(name="ops", channels=["recording"])}
    with sessions() as s, s.begin():
        raised = health.check_sources(
            s,
            sources=[health.SourceSchedule("fake", "fake", 60)],
            config=HealthConfig(failures=3, team="ops"),
            teams=teams,
            routes=[RouteConfig(name="default", team="ops", default=True)],
            now=comps.clock(),
        )
    assert len(raised) == 1
    with sessions() as s:
        alert = s.get(AlertRow, raised[0])
        assert alert is not None and "had failing parts 3 runs in a row" in alert.title
        assert "SECRET" not in f"{alert.title} {alert.summary} {alert.details}"
        (row,) = source_repo.list_health(s)
        assert (row.consecutive_failures, row.total_runs, row.total_items) == (3, 3, 3)
        assert len(source_repo.failing_parts(row)) == 6
    assert _count(sessions, MentionRow) == 3
    # A clean run ends the streak and the failing parts.
    collector.script.append(FetchResult(mentions=[], cursor={"n": 9}))
    run_source(comps, "fake")
    with sessions() as s:
        (row,) = source_repo.list_health(s)
        assert row.consecutive_failures == 0 and source_repo.failing_parts(row) == []


NUL_ID = "tag:news.example.com,2025:\x00guid\x01"


def test_nul_and_control_characters_are_stripped_from_stored_strings(sessions: sessionmaker[Session]) -> None:
    dirty = mention(NUL_ID, f"{OUTAGE}\x00 and\tmore\x07", handle="bad\x00handle\x1b")
    dirty = type(dirty)(
        **{
            **{f: getattr(dirty, f) for f in dirty.__dataclass_fields__},
            "title": "Title\x00",
            "url": "https://news.example.com/\x00x",
            "raw": {"guid\x00": "a\x00b", "nested": [{"k": "\x00"}]},
        }
    )
    good = mention("good", OUTAGE + " again")
    script: list[FetchResult | Exception] = [FetchResult(mentions=[dirty, good], cursor={"n": 1})] * 2
    comps = components(sessions, {"fake": ScriptedCollector("fake", script)})
    first = run_source(comps, "fake")
    assert first.ok and first.new == 2, first.error
    second = run_source(comps, "fake")  # the same batch again: both are recognised as stored
    assert second.ok and (second.new, second.duplicates) == (0, 2)
    with sessions() as s:
        row = s.scalars(select(MentionRow).where(MentionRow.external_id != "good")).one()
        assert row.external_id == "tag:news.example.com,2025:guid"
        assert row.text == f"{OUTAGE} and\tmore" and row.title == "Title"
        assert row.url == "https://news.example.com/x"
        assert row.raw == {"guid": "ab", "nested": [{"k": ""}]}
        assert {a.handle for a in s.scalars(select(AuthorRow))} == {"badhandle", "someone"}
        assert source_repo.get_cursor(s, "fake") == {"n": 1}
        keys = mention_repo.existing_keys(s, [dirty.key])
        assert keys == {dirty.key}


def test_a_crash_inside_the_store_transaction_stores_nothing(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = [mention(str(i), f"{OUTAGE} #{i}") for i in range(4)]
    script: list[FetchResult | Exception] = [FetchResult(mentions=batch, cursor={"n": 4})] * 2
    collector = ScriptedCollector("fake", script)
    comps = components(sessions, {"fake": collector})
    real_set_cursor = source_repo.set_cursor

    def crash(session: Session, *args: Any, **kwargs: Any) -> None:
        # By now the mentions, classifications, alerts and deliveries are written (not committed).
        assert session.in_transaction()
        assert session.scalar(select(func.count()).select_from(MentionRow)) == 4
        assert session.scalar(select(func.count()).select_from(DeliveryRow))
        raise DataError(
            "UPDATE collector_cursor SET cursor=%(cursor)s", {"cursor": "SECRET-PARAM"}, ValueError("boom")
        )

    monkeypatch.setattr(source_repo, "set_cursor", crash)
    failed = run_source(comps, "fake")
    assert failed.error == "DataError (ValueError): boom"  # no statement, no parameters
    assert _count(sessions, MentionRow) == _count(sessions, AlertRow) == _count(sessions, DeliveryRow) == 0
    with sessions() as s:
        assert source_repo.get_cursor(s, "fake") is None
        (row,) = source_repo.list_health(s)
        assert row.consecutive_failures == 1 and "SECRET-PARAM" not in (row.last_error or "")
    monkeypatch.setattr(source_repo, "set_cursor", real_set_cursor)
    retried = run_source(comps, "fake")
    assert retried.new == 4 and collector.cursors_seen == [None, None]
    assert _count(sessions, MentionRow) == 4 and _count(sessions, AlertRow) >= 1


def test_collector_errors_are_logged_and_stored_redacted(
    sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    url = "https://feeds.example.com/feed?api_key=SECRET&q=acme"
    broken = ScriptedCollector("broken", [TemporarilyUnavailable(f"{url}: HTTP 503")])
    comps = components(sessions, {"broken": broken})
    caplog.set_level(logging.INFO)
    report = run_source(comps, "broken")
    assert (
        report.error
        == "TemporarilyUnavailable: https://feeds.example.com/feed?api_key=REDACTED&q=REDACTED: HTTP 503"
    )
    assert "SECRET" not in caplog.text and "api_key=REDACTED" in caplog.text
    with sessions() as s:
        (row,) = source_repo.list_health(s)
        assert "SECRET" not in (row.last_error or "")
