"""Scaled-out scheduler role: fires each source on its interval and publishes a collect message.

Fire times are aligned to the interval (epoch multiples), and each message carries the id
``collect:{source}:{fire_time}``, so two scheduler replicas publish one message per run: JetStream
drops the second copy within its duplicate window. Whether the run then happens (the source may
be rate limited or backing off) is the collecting worker's decision, made in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from nats.js import JetStreamContext

from scheduler import bus, metrics
from scheduler.components import Components, PeriodicJob
from scheduler.config import ScaleConfig
from scheduler.heartbeat import HEARTBEAT, Heartbeat
from scheduler.messages import CollectRequest, encode
from scheduler.pipeline import run_periodic

log = logging.getLogger(__name__)
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


def fire_slot(now: datetime, interval_seconds: float) -> datetime:
    """The interval boundary nearest ``now``: what two replicas firing a moment apart both name."""
    elapsed = (now - EPOCH).total_seconds()
    slots = round(elapsed / interval_seconds)
    return datetime.fromtimestamp(EPOCH.timestamp() + slots * interval_seconds, UTC)


async def publish_collect(
    js: JetStreamContext, config: ScaleConfig, source: str, fire_time: datetime
) -> bool:
    """Publish one collect order (deduplicated by its deterministic id)."""
    request = CollectRequest(source=source, fire_time=fire_time)
    ok = await bus.publish(js, config, "collect", encode(request), msg_id=request.msg_id)
    metrics.STAGE_MESSAGES.labels("schedule", "ok" if ok else "retry").inc()
    return ok


async def run_scheduler(
    components: Components,
    config: ScaleConfig,
    stop: asyncio.Event,
    *,
    tick_seconds: float = 5.0,
    heartbeat: Heartbeat = HEARTBEAT,
    periodic: bool = True,
) -> None:
    """Publish collect orders for every source until ``stop``; also runs the periodic alerting jobs."""
    nc = await bus.connect(config, name=f"earshot-scheduler-{components.instance}")
    js = nc.jetstream()
    await bus.ensure_streams(js, config)
    scheduler = AsyncIOScheduler(
        timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60}
    )
    now = components.clock()
    for source in components.sources.values():
        interval = source.interval_seconds
        # A first run at once: the slot just begun, the same for replicas started within it.
        elapsed = (now - EPOCH).total_seconds()
        first = datetime.fromtimestamp(EPOCH.timestamp() + (elapsed // interval) * interval, UTC)
        await publish_collect(js, config, source.name, first)

        async def fire(name: str = source.name, every: float = interval) -> None:
            await publish_collect(js, config, name, fire_slot(components.clock(), every))

        scheduler.add_job(
            fire,
            IntervalTrigger(seconds=interval, start_date=EPOCH, timezone="UTC"),
            id=f"collect:{source.name}",
        )
    if periodic:
        for job in components.periodic:
            scheduler.add_job(
                _periodic, IntervalTrigger(seconds=job.interval_seconds), args=(components, job), id=job.name
            )
    scheduler.add_job(heartbeat.beat, IntervalTrigger(seconds=tick_seconds), id="heartbeat")
    scheduler.start()
    heartbeat.start(tick_seconds)
    log.info(
        "scheduler publishing collect orders for %d source(s) to %s", len(components.sources), config.nats_url
    )
    try:
        await stop.wait()
    finally:
        heartbeat.stop()
        scheduler.shutdown(wait=False)
        with contextlib.suppress(Exception):
            await nc.close()


async def _periodic(components: Components, job: PeriodicJob) -> None:
    # Escalations, repeats, spikes, health and digests: database work, run off the event loop, and
    # by one scheduler replica at a time (a lease per job).
    try:
        await asyncio.to_thread(run_periodic, components, job)
    except Exception:
        log.exception("%s: unexpected error", job.name)
