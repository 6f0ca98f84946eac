"""Shared state for several processes, on SQLite and PostgreSQL: source leases and back-off, one open
alert per story, group flushes, channel limits across workers, wire formats, delivery woken by commit."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

import alerting.service as alert_service
from alerting.config import AlertingConfig, ChannelConfig, apply_channel_overrides
from bench.counting import story
from classifiers.base import ClassifierInput
from classifiers.baseline import BaselineClassifier
from collectors.base import FetchResult
from collectors.errors import RateLimited, TemporarilyUnavailable
from scheduler import runner, stages
from scheduler.components import PeriodicJob, utcnow
from scheduler.delivery import drain
from scheduler.delivery import drain as real_drain
from scheduler.dispatcher import fire_slot
from scheduler.messages import ClassifiedBatch, CollectRequest, FetchedBatch, decode, encode
from scheduler.pipeline import run_periodic, run_scheduled, run_source
from storage import sources as source_repo
from storage.models import AlertEventRow, AlertRow, DeliveryRow
from storage.scale_tables import SourceStateRow
from tests.factories import T0, Clock, RecordingChannel, ScriptedCollector, components, mention

OUTAGE = "lumora is down again, sync stuck and 500 errors everywhere"
LEASE = timedelta(minutes=10)


def _count(sessions: sessionmaker[Session], model: type, *where: Any) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_a_source_is_leased_to_one_holder_until_released_or_expired(sessions: sessionmaker[Session]) -> None:
    with sessions() as s, s.begin():
        assert source_repo.claim_run(s, "rss", holder="a", now=T0, lease=LEASE) is None
        assert source_repo.claim_run(s, "rss", holder="b", now=T0, lease=LEASE) == "being collected by a"
        # The holder itself may take it again (a redelivered collect order).
        assert source_repo.claim_run(s, "rss", holder="a", now=T0, lease=LEASE) is None
    with sessions() as s, s.begin():
        # A holder that died is replaced once its lease runs out.
        assert source_repo.claim_run(s, "rss", holder="b", now=T0 + LEASE, lease=LEASE) is None
        source_repo.release_run(s, "rss", holder="a", now=T0)  # not a's any more: no effect
        assert (
            source_repo.claim_run(s, "rss", holder="c", now=T0 + LEASE, lease=LEASE) == "being collected by b"
        )
        source_repo.release_run(s, "rss", holder="b", now=T0)
        assert source_repo.claim_run(s, "rss", holder="c", now=T0 + LEASE, lease=LEASE) is None


def test_a_rate_limited_source_is_not_collected_before_its_until(sessions: sessionmaker[Session]) -> None:
    clock = Clock()
    until = T0 + timedelta(minutes=15)
    collector = ScriptedCollector("limited", [RateLimited("HTTP 429", until=until)])
    comps = components(sessions, {"limited": collector}, clock=clock)
    first = run_scheduled(comps, "limited")
    assert first is not None and not first.ok
    clock.advance(minutes=14)
    assert run_scheduled(comps, "limited") is None  # skipped: the API said to wait
    assert len(collector.cursors_seen) == 1
    with sessions() as s:
        state = s.get_one(SourceStateRow, "limited")
        assert state.not_before == until and state.reason == "rate limited by the source"
        assert state.lease_holder is None
    clock.advance(minutes=1)
    second = run_scheduled(comps, "limited")
    assert second is not None and second.ok
    assert len(collector.cursors_seen) == 2


def test_failures_in_a_row_back_off_doubling_from_the_interval(sessions: sessionmaker[Session]) -> None:
    clock = Clock()
    errors: list[FetchResult | Exception] = [TemporarilyUnavailable("HTTP 503") for _ in range(4)]
    collector = ScriptedCollector("flaky", errors)
    comps = components(sessions, {"flaky": collector}, clock=clock)  # interval 60 s
    held: list[timedelta | None] = []
    for _ in range(3):
        assert run_scheduled(comps, "flaky") is not None
        with sessions() as s:
            until = source_repo.held_until(s, "flaky")
        held.append(until - clock.now if until is not None else None)
        clock.now = until or clock.now
    # One failure is not held back; then 60 s, 120 s.
    assert held == [None, timedelta(seconds=60), timedelta(seconds=120)]
    assert run_scheduled(comps, "flaky") is not None  # due again exactly at the end of the hold
    assert source_repo.backoff_delay(40, interval=60, cap=3600) == 3600


def test_a_second_process_skips_a_source_being_collected(sessions: sessionmaker[Session]) -> None:
    collector = ScriptedCollector("busy", [FetchResult(mentions=[], cursor={"n": 1})])
    comps = components(sessions, {"busy": collector})
    with sessions() as s, s.begin():
        assert (
            source_repo.claim_run(s, "busy", holder="other-process", now=comps.clock(), lease=LEASE) is None
        )
    assert run_scheduled(comps, "busy") is None
    assert collector.cursors_seen == []


def test_an_alert_raced_by_another_worker_is_folded_into_theirs(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    comps = components(
        sessions, {"a": ScriptedCollector("a", [FetchResult([mention("1", OUTAGE)], {"n": 1})])}
    )
    assert run_source(comps, "a").alerts == 1
    with sessions() as s:
        (theirs,) = s.scalars(select(AlertRow)).all()
    # This worker looked before the other worker's alert committed: it saw no open alert.
    looked: list[list[str]] = []
    calls: list[str] = []
    real = alert_service._open_alert

    def not_yet_visible(session: Session, *, group_keys: Iterable[str]) -> dict[str, AlertRow]:
        looked.append(list(group_keys))
        return {}

    def after_refusal(session: Session, group_key: str) -> AlertRow | None:
        calls.append(group_key)
        return real(session, group_key)

    monkeypatch.setattr(stages, "open_alerts", not_yet_visible)
    monkeypatch.setattr(alert_service, "_open_alert", after_refusal)
    same_story = ScriptedCollector("b", [FetchResult([mention("2", OUTAGE, source="b")], {"n": 1})])
    comps.sources["b"] = components(sessions, {"b": same_story}).sources["b"]
    report = run_source(comps, "b")
    assert report.ok and (report.alerts, report.folded) == (0, 1)
    assert looked == [[theirs.group_key]]
    assert calls == [theirs.group_key]  # refused by the unique index, then found and folded into
    with sessions() as s:
        (alert,) = s.scalars(select(AlertRow)).all()
        assert alert.count == 2
    assert _count(sessions, AlertEventRow, AlertEventRow.action == "folded") == 1
    assert _count(sessions, DeliveryRow) == 1


def test_a_channel_limit_holds_across_workers(sessions: sessionmaker[Session]) -> None:
    clock = Clock()
    channels = [RecordingChannel(), RecordingChannel()]
    for channel in channels:
        apply_channel_overrides(channel, ChannelConfig(name="recording", kind="recording", max_per_minute=3))
    alerting = AlertingConfig(backoff_seconds=10, max_attempts=3, lease_seconds=60)
    texts = [story("s", n) for n in range(8)]
    collector = ScriptedCollector(
        "s", [FetchResult([mention(str(n), t) for n, t in enumerate(texts)], {"n": 1})]
    )
    first = components(sessions, {"s": collector}, channel=channels[0], clock=clock, alerting=alerting)
    second = components(sessions, {}, channel=channels[1], clock=clock, alerting=alerting)
    assert run_source(first, "s").alerts == 8
    # Two workers, each within its own per-process limit, share one limit of 3 a minute.
    for comps in (first, second, first, second):
        drain(comps, max_passes=1)
    sent = [len(c.sent) for c in channels]
    assert sum(sent) == 3
    clock.advance(seconds=60)
    for comps in (second, first, second):
        drain(comps, max_passes=1)
    assert sum(len(c.sent) for c in channels) == 6
    assert _count(sessions, DeliveryRow, DeliveryRow.attempts > 1) == 0  # waiting used no attempts


def test_stage_messages_round_trip_the_domain_types() -> None:
    m = mention("1", OUTAGE)
    (c,) = BaselineClassifier().predict_batch([ClassifierInput.from_mention(m)])
    batch = ClassifiedBatch(FetchedBatch("r1", "fake", "fake", [m], {"since": "1"}, ["p"], 1), [m], [c], 0)
    again = decode(ClassifiedBatch, encode(batch))
    assert again == batch
    assert again.classifications[0].signals == c.signals and again.mentions[0].raw == m.raw
    request = CollectRequest("rss", T0)
    assert decode(CollectRequest, encode(request)).msg_id == "collect:rss:2026-11-01T12:00:00+00:00"


def test_two_schedulers_firing_a_moment_apart_name_the_same_run() -> None:
    slot = fire_slot(T0, 300)
    assert fire_slot(T0 + timedelta(seconds=2), 300) == slot == fire_slot(T0 - timedelta(seconds=2), 300)
    assert fire_slot(T0 + timedelta(seconds=300), 300) == slot + timedelta(seconds=300)


def test_in_process_delivery_is_woken_by_the_commit_not_the_poll(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    drains: list[int] = []
    first_drain = threading.Event()

    def counting_drain(comps: Any, **kwargs: Any) -> Any:
        report = real_drain(comps, **kwargs)
        drains.append(report.delivered)
        first_drain.set()
        return report

    monkeypatch.setattr("scheduler.runner.drain", counting_drain)

    class AfterFirstDrain(ScriptedCollector):
        def fetch(self, cursor: Any) -> FetchResult:
            # Stored only after the outbox's first pass, so only a wake can deliver it soon.
            assert first_drain.wait(60), "the outbox never ran"
            return super().fetch(cursor)

    delivered = threading.Event()
    channel = RecordingChannel(on_send=lambda _n: delivered.set())
    now = utcnow()
    collector = AfterFirstDrain("s", [FetchResult([mention("1", OUTAGE, at=now)], {"n": 1})])
    comps = components(sessions, {"s": collector}, channel=channel)
    comps.clock = utcnow
    # An hour between polls: without the wake the alert would wait that long.
    scheduler = runner.start(comps, deliver_interval_seconds=3600)
    try:
        assert delivered.wait(60), "the stored alert waited for the next poll"
    finally:
        runner.stop(scheduler, grace_seconds=5)
    assert [n.alert.mention_text for n in channel.sent] == [OUTAGE]
    assert drains[0] == 0 and sum(drains) == 1


def test_a_periodic_job_runs_in_one_process_at_a_time(sessions: sessionmaker[Session]) -> None:
    clock = Clock()
    runs: list[str] = []
    first, second = components(sessions, {}, clock=clock), components(sessions, {}, clock=clock)
    first.instance, second.instance = "scheduler-a", "scheduler-b"
    job_a = PeriodicJob(name="timers", interval_seconds=30, run=lambda: runs.append("a"))
    job_b = PeriodicJob(name="timers", interval_seconds=30, run=lambda: runs.append("b"))
    assert run_periodic(first, job_a) and not run_periodic(second, job_b)
    clock.advance(seconds=30)
    assert run_periodic(first, job_a) and not run_periodic(second, job_b)  # renewed by each run
    clock.advance(seconds=90)  # the first process stopped: its lease of three intervals ran out
    assert run_periodic(second, job_b) and not run_periodic(first, job_a)
    assert runs == ["a", "a", "b"]
