"""In-process mode: APScheduler runs every source on its interval, and the outbox worker."""

from __future__ import annotations

import logging
from datetime import timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from scheduler.components import Components, PeriodicJob
from scheduler.delivery import drain
from scheduler.pipeline import run_source, warm_up

log = logging.getLogger(__name__)


def _safe_run_source(components: Components, name: str) -> None:
    # run_source records its own failures; this only guards against bugs in the recorder.
    try:
        run_source(components, name)
    except Exception:
        log.exception("source %s: unexpected error", name)


def _safe_deliver(components: Components) -> None:
    try:
        drain(components, max_passes=10)
    except Exception:
        log.exception("outbox: unexpected error")


def build_scheduler(components: Components, *, deliver_interval_seconds: float = 5.0) -> BackgroundScheduler:
    """A scheduler with one job per enabled source plus the outbox worker; not started."""
    scheduler = BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(max_workers=4)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
        timezone="UTC",
    )
    now = components.clock()
    for index, source in enumerate(components.sources.values()):
        scheduler.add_job(
            _safe_run_source,
            IntervalTrigger(seconds=source.interval_seconds, jitter=source.jitter_seconds or None),
            args=(components, source.name),
            id=f"source:{source.name}",
            name=f"collect {source.name}",
            # First runs start at once but staggered, so sources do not all hit the database together.
            next_run_time=now + timedelta(seconds=index),
        )
    scheduler.add_job(
        _safe_deliver,
        IntervalTrigger(seconds=deliver_interval_seconds),
        args=(components,),
        id="outbox",
        name="deliver alerts",
        next_run_time=now,
    )
    for job in components.periodic:
        scheduler.add_job(
            _safe_periodic,
            IntervalTrigger(seconds=job.interval_seconds),
            args=(job,),
            id=f"periodic:{job.name}",
            name=job.name,
        )
    return scheduler


def _safe_periodic(job: PeriodicJob) -> None:
    try:
        job.run()
    except Exception:
        log.exception("%s: unexpected error", job.name)


def start(components: Components, *, deliver_interval_seconds: float = 5.0) -> BackgroundScheduler:
    """Warm up the near-duplicate index and start the scheduler in background threads."""
    warm_up(components)
    scheduler = build_scheduler(components, deliver_interval_seconds=deliver_interval_seconds)
    scheduler.start()
    log.info("scheduler started with %d source(s)", len(components.sources))
    return scheduler
