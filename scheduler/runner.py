"""In-process mode: APScheduler runs every source on its interval, and the outbox worker.

A scheduled run takes the source's lease in the database first, so a second process on the same
database never collects a source at the same time, and a source held back (rate limited, failing)
is skipped until it is due. Delivery is woken by the commit that stores alerts, and polled too.

Each kind of work has its own workers, so one kind stuck cannot starve another: collection
(``collect``, one thread per concurrent source run), delivery (``deliver``), periodic jobs
(``periodic``: escalations, spikes, digests, source health) and the heartbeat (``heartbeat``,
which only proves the scheduler still ticks, for /healthz). ``stop`` drains: it starts nothing
new, waits for jobs in flight until a deadline, and abandons what is still stuck then.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from scheduler.components import Components, PeriodicJob
from scheduler.delivery import drain
from scheduler.heartbeat import HEARTBEAT, Heartbeat
from scheduler.pipeline import run_periodic, run_scheduled, warm_up
from scheduler.pools import DaemonPool, DaemonPoolExecutor

log = logging.getLogger(__name__)
# Collection threads: sources run at once; the rest wait their turn, never delivery's.
COLLECT_WORKERS = 4
PERIODIC_WORKERS = 2
# How long `stop` waits for jobs in flight. With uvicorn's own 3 s, SIGTERM exits within 10 s.
DRAIN_SECONDS = 5.0


class Scheduler(BackgroundScheduler):  # type: ignore[misc]  # APScheduler 3 ships no types
    """APScheduler's background scheduler over Earshot's separate worker pools."""

    def __init__(self, pools: dict[str, DaemonPool], heartbeat: Heartbeat, tick_seconds: float) -> None:
        self.pools = pools
        self.heartbeat = heartbeat
        self.tick_seconds = tick_seconds
        executors = {name: DaemonPoolExecutor(pool) for name, pool in pools.items()}
        # Jobs added without an executor (benchmarks, plugins) are collection-like work.
        executors["default"] = DaemonPoolExecutor(pools["collect"])
        super().__init__(
            executors=executors,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
            timezone="UTC",
        )

    def shutdown(self, wait: bool = True) -> None:
        """Stop scheduling; with ``wait``, also wait for every job in flight however long."""
        self.heartbeat.stop()
        super().shutdown(wait=wait)


def _safe_run_source(components: Components, name: str) -> None:
    # run_source records its own failures; this only guards against bugs in the recorder.
    try:
        run_scheduled(components, name)
    except Exception:
        log.exception("source %s: unexpected error", name)


class DeliveryWaker:
    """Runs the outbox worker right after a commit that stored alerts, not only on its poll.

    At most one wake waits in the delivery pool at a time: a burst of commits is one drain.
    """

    def __init__(self, pool: DaemonPool, components: Components) -> None:
        self._pool = pool
        self._components = components
        self._pending = False
        self._lock = threading.Lock()

    def __call__(self) -> None:
        """Queue one drain unless one is already waiting."""
        with self._lock:
            if self._pending:
                return
            self._pending = True
        self._pool.submit(self._run)

    def _run(self) -> None:
        with self._lock:
            self._pending = False
        _safe_deliver(self._components)


def _safe_deliver(components: Components) -> None:
    try:
        drain(components, max_passes=10)
    except Exception:
        log.exception("outbox: unexpected error")


def _tick(heartbeat: Heartbeat) -> None:
    heartbeat.beat()


def build_scheduler(
    components: Components,
    *,
    deliver_interval_seconds: float = 5.0,
    collect_workers: int = COLLECT_WORKERS,
    heartbeat: Heartbeat = HEARTBEAT,
) -> Scheduler:
    """A scheduler with one job per enabled source, the outbox worker, periodic jobs and a heartbeat."""
    pools = {
        "collect": DaemonPool("collect", collect_workers),
        "deliver": DaemonPool("deliver", 1),
        "periodic": DaemonPool("periodic", PERIODIC_WORKERS),
        "heartbeat": DaemonPool("heartbeat", 1),
    }
    scheduler = Scheduler(pools, heartbeat, tick_seconds=deliver_interval_seconds)
    components.wake_delivery = DeliveryWaker(pools["deliver"], components)
    now = components.clock()
    for index, source in enumerate(components.sources.values()):
        scheduler.add_job(
            _safe_run_source,
            IntervalTrigger(seconds=source.interval_seconds, jitter=source.jitter_seconds or None),
            args=(components, source.name),
            id=f"source:{source.name}",
            name=f"collect {source.name}",
            executor="collect",
            # First runs start at once but staggered, so sources do not all hit the database together.
            next_run_time=now + timedelta(seconds=index),
        )
    scheduler.add_job(
        _safe_deliver,
        IntervalTrigger(seconds=deliver_interval_seconds),
        args=(components,),
        id="outbox",
        name="deliver alerts",
        executor="deliver",
        next_run_time=now,
    )
    scheduler.add_job(
        _tick,
        IntervalTrigger(seconds=deliver_interval_seconds),
        args=(heartbeat,),
        id="heartbeat",
        name="heartbeat",
        executor="heartbeat",
        next_run_time=now,
    )
    for job in components.periodic:
        scheduler.add_job(
            _safe_periodic,
            IntervalTrigger(seconds=job.interval_seconds),
            args=(components, job),
            id=f"periodic:{job.name}",
            name=job.name,
            executor="periodic",
        )
    return scheduler


def _safe_periodic(components: Components, job: PeriodicJob) -> None:
    try:
        run_periodic(components, job)
    except Exception:
        log.exception("%s: unexpected error", job.name)


def start(
    components: Components, *, deliver_interval_seconds: float = 5.0, heartbeat: Heartbeat = HEARTBEAT
) -> Scheduler:
    """Warm up the near-duplicate index and start the scheduler in background threads."""
    warm_up(components)
    bound_neardup(components)
    scheduler = build_scheduler(
        components, deliver_interval_seconds=deliver_interval_seconds, heartbeat=heartbeat
    )
    scheduler.start()
    heartbeat.start(deliver_interval_seconds)
    log.info("scheduler started with %d source(s)", len(components.sources))
    return scheduler


def bound_neardup(components: Components) -> None:
    """Apply the clustering window and size cap to the near-duplicate index warm-up built."""
    # warm_up builds the index with defaults; the configured window and cap are applied here.
    with components.neardup_lock:
        components.neardup.window_seconds = components.cluster_window_hours * 3600
        components.neardup.max_entries = components.neardup_max_entries
        components.neardup.prune()


def stop(scheduler: Scheduler, *, grace_seconds: float = DRAIN_SECONDS) -> dict[str, int]:
    """Drain and stop: start nothing new, wait for jobs in flight up to ``grace_seconds``.

    Returns, per pool, how many jobs were still running at the deadline and were abandoned.
    """
    deadline = time.monotonic() + grace_seconds
    scheduler.shutdown(wait=False)
    # Deliveries first: a notification half-sent is worth the wait more than a fetch.
    order = ("deliver", "periodic", "heartbeat", "collect")
    stuck = {name: scheduler.pools[name].join(deadline) for name in order}
    stuck = {name: count for name, count in stuck.items() if count}
    if stuck:
        log.warning(
            "stopped with jobs still running after %.1fs, abandoned: %s",
            grace_seconds,
            ", ".join(f"{name} {count}" for name, count in stuck.items()),
        )
    return stuck
