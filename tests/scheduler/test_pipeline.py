"""The pipeline end to end on SQLite and PostgreSQL: idempotent, crash-safe, isolated per source."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from collectors.base import FetchResult
from collectors.errors import RateLimited, TemporarilyUnavailable
from scheduler.delivery import deliver_due
from scheduler.pipeline import run_source, warm_up
from storage import sources as source_repo
from storage.models import AlertEventRow, AlertRow, DeliveryRow, MentionRow
from tests.factories import Clock, RecordingChannel, ScriptedCollector, components, mention


def _count(sessions: sessionmaker[Session], model: type, *where: Any) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


OUTAGE = "lumora is down again, sync stuck and 500 errors everywhere"
PRAISE = "love the new lumora app, great job"


def test_run_stores_classifies_routes_and_advances_cursor(sessions: sessionmaker[Session]) -> None:
    collector = ScriptedCollector(
        "fake",
        [
            FetchResult(mentions=[mention("1", OUTAGE), mention("2", PRAISE)], cursor={"since": "2"}),
            FetchResult(
                mentions=[mention("2", PRAISE), mention("3", "lumora question?")], cursor={"since": "3"}
            ),
        ],
    )
    comps = components(sessions, {"fake": collector})
    first = run_source(comps, "fake")
    assert (first.new, first.duplicates, first.alerts, first.error) == (2, 0, 1, None)
    second = run_source(comps, "fake")
    assert (second.new, second.duplicates) == (1, 1)
    assert collector.cursors_seen == [None, {"since": "2"}]
    with sessions() as s:
        assert source_repo.get_cursor(s, "fake") == {"since": "3"}
        alert = s.scalars(select(AlertRow)).one()
        assert alert.route_name == "outages" and alert.team == "ops"
        assert alert.route_snapshot["match"]["categories"] == ["outage"]
        assert "categories outage" in alert.reason
        health = source_repo.list_health(s)[0]
        assert (health.total_runs, health.total_items, health.consecutive_failures) == (2, 3, 0)
    assert _count(sessions, MentionRow) == 3


def test_collector_failure_rolls_back_and_other_sources_keep_running(sessions: sessionmaker[Session]) -> None:
    broken = ScriptedCollector("broken", [TemporarilyUnavailable("HTTP 503 from upstream")])
    limited = ScriptedCollector("limited", [RateLimited("429", until=None)])
    healthy = ScriptedCollector(
        "healthy", [FetchResult(mentions=[mention("h1", OUTAGE, source="healthy")], cursor={"n": 1})]
    )
    comps = components(sessions, {"broken": broken, "limited": limited, "healthy": healthy})
    reports = [run_source(comps, name) for name in ("broken", "limited", "healthy")]
    assert [r.ok for r in reports] == [False, False, True]
    assert "TemporarilyUnavailable: HTTP 503" in (reports[0].error or "")
    with sessions() as s:
        assert source_repo.get_cursor(s, "broken") is None
        assert source_repo.get_cursor(s, "healthy") == {"n": 1}
        health = {h.source: h for h in source_repo.list_health(s)}
        assert health["broken"].consecutive_failures == 1 and health["broken"].total_failures == 1
        assert "HTTP 503" in (health["broken"].last_error or "")
    assert comps.counters.failures == 2


class _Exploding:
    """A classifier that fails on a chosen call, as a crash mid-batch would."""

    version = "exploding"

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls = 0

    def predict_batch(self, items: Any) -> Any:
        self.calls += 1
        if self.calls == 2:
            raise RuntimeError("model crashed mid-batch")
        return self.inner.predict_batch(items)


def test_crash_mid_batch_stores_nothing_and_refetches(sessions: sessionmaker[Session]) -> None:
    batch = [mention(str(i), f"{OUTAGE} #{i}") for i in range(5)]
    collector = ScriptedCollector(
        "fake",
        [FetchResult(mentions=batch, cursor={"n": 5}), FetchResult(mentions=batch, cursor={"n": 5})],
    )
    comps = components(sessions, {"fake": collector})
    comps.batch_size = 3  # two classifier calls; the second one crashes
    comps.classifier = _Exploding(comps.classifier)
    failed = run_source(comps, "fake")
    assert failed.error and "model crashed mid-batch" in failed.error
    assert _count(sessions, MentionRow) == 0
    with sessions() as s:
        assert source_repo.get_cursor(s, "fake") is None
    comps.classifier = comps.classifier.inner
    retried = run_source(comps, "fake")
    assert retried.new == 5
    assert collector.cursors_seen == [None, None]  # the retry started from the old cursor
    assert _count(sessions, MentionRow) == 5


def test_crash_between_store_and_deliver_delivers_each_alert_once(sessions: sessionmaker[Session]) -> None:
    clock = Clock()
    mentions = [
        mention("1", OUTAGE),
        mention("2", "lumora billing: charged twice, refund please, unacceptable"),
    ]
    collector = ScriptedCollector("fake", [FetchResult(mentions=mentions, cursor={"n": 2})])
    comps = components(sessions, {"fake": collector}, clock=clock)
    run_source(comps, "fake")  # stored and routed; the process "dies" before delivering
    pending = _count(sessions, DeliveryRow, DeliveryRow.status == "pending")
    assert pending == _count(sessions, AlertRow) >= 1
    # Restart: fresh components over the same database, same collector replaying the same batch.
    channel = RecordingChannel()
    restarted = components(
        sessions,
        {"fake": ScriptedCollector("fake", [FetchResult(mentions=mentions, cursor={"n": 2})])},
        channel=channel,
        clock=clock,
    )
    warm_up(restarted)
    again = run_source(restarted, "fake")
    assert again.new == 0 and again.alerts == 0
    assert deliver_due(restarted).delivered == pending
    assert deliver_due(restarted).delivered == 0
    assert sorted(n.alert.id for n in channel.sent) == sorted({n.alert.id for n in channel.sent})
    assert len(channel.sent) == pending


def test_crash_after_send_before_mark_resends_once_with_same_key(sessions: sessionmaker[Session]) -> None:
    clock = Clock()
    collector = ScriptedCollector("fake", [FetchResult(mentions=[mention("1", OUTAGE)], cursor={})])
    comps = components(sessions, {"fake": collector}, clock=clock)
    run_source(comps, "fake")

    class Killed(BaseException):
        pass

    def die(_: object) -> None:
        raise Killed  # the process dies after the receiver got the message

    crashing = RecordingChannel(on_send=die)
    comps.channels["recording"] = crashing
    with pytest.raises(Killed):
        deliver_due(comps)
    survivor = RecordingChannel()
    comps.channels["recording"] = survivor
    assert deliver_due(comps).delivered == 0  # still leased
    clock.advance(seconds=comps.alerting.lease_seconds + 1)
    assert deliver_due(comps).delivered == 1
    clock.advance(hours=1)
    assert deliver_due(comps).delivered == 0
    keys = [n.idempotency_key for n in crashing.sent + survivor.sent]
    assert len(keys) == 2 and len(set(keys)) == 1


def test_retry_honours_retry_after_then_dead_letters(sessions: sessionmaker[Session]) -> None:
    from domain import DeliveryResult

    clock = Clock()
    channel = RecordingChannel(results=[DeliveryResult.retry("429", after_seconds=300)] * 3)
    comps = components(
        sessions,
        {"fake": ScriptedCollector("fake", [FetchResult(mentions=[mention("1", OUTAGE)], cursor={})])},
        channel=channel,
        clock=clock,
    )
    run_source(comps, "fake")
    assert deliver_due(comps).retried == 1
    clock.advance(seconds=299)
    assert deliver_due(comps).retried == 0  # Retry-After not over yet
    clock.advance(seconds=2)
    assert deliver_due(comps).retried == 1
    clock.advance(seconds=301)
    assert deliver_due(comps).dead == 1  # max_attempts=3
    with sessions() as s:
        dead = s.scalars(select(DeliveryRow)).one()
        assert dead.status == "dead" and dead.attempts == 3 and "429" in (dead.last_error or "")
        actions = [e.action for e in s.scalars(select(AlertEventRow).order_by(AlertEventRow.id))]
        assert actions == ["fired", "dead_lettered"]


def test_permanent_failure_dead_letters_at_once_and_can_be_resent(sessions: sessionmaker[Session]) -> None:
    from domain import DeliveryResult
    from storage import alerts as alert_repo

    clock = Clock()
    channel = RecordingChannel(results=[DeliveryResult.failed("404 no such webhook")])
    comps = components(
        sessions,
        {"fake": ScriptedCollector("fake", [FetchResult(mentions=[mention("1", OUTAGE)], cursor={})])},
        channel=channel,
        clock=clock,
    )
    run_source(comps, "fake")
    assert deliver_due(comps).dead == 1
    with sessions() as s, s.begin():
        (dead,) = alert_repo.failed_deliveries(s)
        assert alert_repo.resend(s, dead.id, now=clock())
    assert deliver_due(comps).delivered == 1


def test_near_duplicates_fold_into_one_alert(sessions: sessionmaker[Session]) -> None:
    story = "Lumora Cloud outage: all regions down, users cannot sync files this morning"
    collector = ScriptedCollector(
        "fake",
        [
            FetchResult(mentions=[mention("1", story, handle="news")], cursor={}),
            FetchResult(
                mentions=[
                    mention("2", f"RT @news: {story}", handle="fan1"),
                    mention("3", f"RT @news: {story} https://t.example/x", handle="fan2"),
                ],
                cursor={},
            ),
        ],
    )
    comps = components(sessions, {"fake": collector})
    warm_up(comps)
    assert run_source(comps, "fake").alerts == 1
    report = run_source(comps, "fake")
    assert (report.alerts, report.folded) == (0, 2)
    with sessions() as s:
        alert = s.scalars(select(AlertRow)).one()
        assert alert.count == 3
        clusters = {m.external_id: m.cluster_id for m in s.scalars(select(MentionRow))}
        assert clusters["2"] == clusters["3"] == clusters["1"]
