"""The in-process scheduler: separate pools, a heartbeat, and a bounded drain on stop.

No timing assertions: every wait is on an event, with a generous ceiling that only stops a broken
build hanging the run.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from collectors.base import Cursor, FetchResult
from domain import Notification
from scheduler.components import Components, PeriodicJob, SourceRuntime
from scheduler.heartbeat import Heartbeat
from scheduler.pipeline import RunReport, ingest
from scheduler.runner import COLLECT_WORKERS, build_scheduler, start, stop
from storage.models import DeliveryRow
from tests.factories import Clock, RecordingChannel, ScriptedCollector, components, mention

OUTAGE = "lumora is down again, sync stuck and 500 errors everywhere"
WAIT = 60.0  # ceiling for events that arrive in well under a second on an idle machine


class StuckCollector(ScriptedCollector):
    """A collector whose fetch blocks (a feed that never answers) until the test releases it."""

    def __init__(self, name: str, entered: threading.Semaphore, release: threading.Event) -> None:
        super().__init__(name, [])
        self.entered, self.release = entered, release

    def fetch(self, cursor: Cursor | None) -> FetchResult:
        self.entered.release()
        self.release.wait(300)
        return FetchResult(mentions=[], cursor={})


class CountingHeartbeat(Heartbeat):
    """A private heartbeat (the process-wide one is the web app's) that signals each beat."""

    def __init__(self) -> None:
        super().__init__()
        self.beaten = threading.Event()

    def beat(self, now: datetime | None = None) -> None:
        super().beat(now)
        self.beaten.set()


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set at teardown, so stuck collector threads always finish."""
    event = threading.Event()
    yield event
    event.set()


def _stuck_components(
    sessions: sessionmaker[Session], release: threading.Event, channel: RecordingChannel, count: int
) -> tuple[Components, threading.Semaphore]:
    entered = threading.Semaphore(0)
    stuck = {f"stuck{i}": StuckCollector(f"stuck{i}", entered, release) for i in range(count)}
    # A real "now": the scheduler plans first runs from the components' clock.
    return components(sessions, dict(stuck), channel=channel, clock=Clock(datetime.now(UTC))), entered


def _raise_outage(comps: Components) -> None:
    side = SourceRuntime(
        name="side",
        kind="fake",
        collector=ScriptedCollector("side", []),
        interval_seconds=60,
        jitter_seconds=0,
    )
    now = comps.clock()
    result = FetchResult(mentions=[mention("1", OUTAGE, at=now)], cursor={})
    report = RunReport(source="side")
    ingest(comps, side, result, report)
    assert report.alerts == 1


def test_stuck_collectors_do_not_starve_delivery_periodic_jobs_or_the_heartbeat(
    sessions: sessionmaker[Session], release: threading.Event
) -> None:
    delivered = threading.Event()
    channel = RecordingChannel(on_send=lambda _n: delivered.set())
    # More stuck sources than collection workers: every collection thread is taken.
    comps, entered = _stuck_components(sessions, release, channel, COLLECT_WORKERS + 2)
    periodic_ran = threading.Event()
    comps.periodic.append(PeriodicJob(name="probe", interval_seconds=0.2, run=periodic_ran.set))
    heartbeat = CountingHeartbeat()
    scheduler = start(comps, deliver_interval_seconds=0.2, heartbeat=heartbeat)
    try:
        for _ in range(COLLECT_WORKERS):
            assert entered.acquire(timeout=WAIT), "collectors never started"
        # Raised only now, with collection saturated: only a separate delivery pool can send it.
        periodic_ran.clear()
        heartbeat.beaten.clear()
        _raise_outage(comps)
        assert delivered.wait(WAIT), "delivery starved by stuck collectors"
        assert periodic_ran.wait(WAIT), "periodic jobs starved by stuck collectors"
        assert heartbeat.beaten.wait(WAIT), "heartbeat starved by stuck collectors"
        # And it keeps beating. (Reading status() here would compare wall-clock gaps with the
        # 0.2 s interval, which a loaded machine can stretch.)
        heartbeat.beaten.clear()
        assert heartbeat.beaten.wait(WAIT), "heartbeat stopped while collectors are stuck"
        assert [n.alert.mention_text for n in channel.sent] == [OUTAGE]
    finally:
        # Long enough for a delivery or probe in flight to finish even on a loaded machine; the stuck
        # collectors never do, so stop always waits this out.
        stuck = stop(scheduler, grace_seconds=3.0)
    # The stuck runs are abandoned, not waited for; the others had nothing in flight.
    assert stuck == {"collect": COLLECT_WORKERS}
    assert heartbeat.status() == (True, "no scheduler in this process")


def test_stop_waits_for_a_delivery_in_flight(sessions: sessionmaker[Session]) -> None:
    sending, proceed = threading.Event(), threading.Event()

    def slow_send(_notification: Notification) -> None:
        sending.set()
        proceed.wait(WAIT)

    channel = RecordingChannel(on_send=slow_send)
    comps = components(sessions, {}, channel=channel, clock=Clock(datetime.now(UTC)))
    scheduler = build_scheduler(comps, deliver_interval_seconds=0.2, heartbeat=CountingHeartbeat())
    scheduler.start()
    try:
        _raise_outage(comps)
        assert sending.wait(WAIT)
    finally:
        # The send finishes while stop is draining; stop must let it record the outcome.
        threading.Timer(0.3, proceed.set).start()
        stuck = stop(scheduler, grace_seconds=WAIT)
    assert stuck == {}
    with sessions() as session:
        assert [row.status for row in session.scalars(select(DeliveryRow))] == ["delivered"]


def test_each_kind_of_work_has_its_own_pool(sessions: sessionmaker[Session]) -> None:
    comps = components(sessions, {"a": ScriptedCollector("a", [])}, clock=Clock(datetime.now(UTC)))
    comps.periodic.append(PeriodicJob(name="digests", interval_seconds=60, run=lambda: None))
    scheduler = build_scheduler(comps, heartbeat=CountingHeartbeat())
    executors = {job.id: job.executor for job in scheduler.get_jobs()}
    assert executors == {
        "source:a": "collect",
        "outbox": "deliver",
        "heartbeat": "heartbeat",
        "periodic:digests": "periodic",
    }
    pools = {name: id(pool) for name, pool in scheduler.pools.items()}
    assert len(set(pools.values())) == 4
    scheduler.start(paused=True)
    assert stop(scheduler, grace_seconds=WAIT) == {}  # nothing ran: nothing to abandon
