"""Periodic alerting work (escalations, group repeats, spike checks, source health, digests) as jobs.

Each job runs in its own transaction; the composition root schedules them next to collection.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from alerting import digests, escalation, grouping, health, sla, spikes
from alerting.channels.base import Channel
from alerting.config import AlertingConfig, RouteConfig, TeamConfig
from alerting.health import SourceSchedule
from storage.db import is_database_locked

__all__ = ["Job", "SourceSchedule", "periodic_jobs"]
log = logging.getLogger(__name__)
DIGEST_CHECK_SECONDS = 60.0


@dataclass(frozen=True)
class Job:
    """One periodic job: a name, how often, and what to run."""

    name: str
    interval_seconds: float
    run: Callable[[], object]


def periodic_jobs(
    *,
    sessions: sessionmaker[Session],
    config: AlertingConfig,
    teams: Sequence[TeamConfig],
    routes: Sequence[RouteConfig],
    channels: Mapping[str, Channel],  # type: ignore[type-arg]
    brands: Sequence[str],
    sources: Sequence[SourceSchedule],
    clock: Callable[[], datetime],
) -> list[Job]:
    """The alerting jobs this configuration needs."""
    by_name = {t.name: t for t in teams}

    def in_transaction(work: Callable[[Session, datetime], object]) -> Callable[[], object]:
        def run() -> object:
            with sessions() as session, session.begin():
                return work(session, clock())

        return run

    def timers(session: Session, now: datetime) -> tuple[int, int]:
        # Cases auto-assigned and SLA breach alerts (a no-op for teams without sla/auto_assign).
        assigned, breached = sla.run_timers(session, teams=by_name, now=now)
        if assigned or breached:
            log.info("case timers: %d case(s) auto-assigned, %d SLA breach alert(s)", assigned, breached)
        return escalation.run_due(session, now=now), grouping.repeat_due(session, teams=by_name, now=now)

    def spike_check(session: Session, now: datetime) -> list[int]:
        raised = []
        for brand in brands:
            # One brand's transaction-level savepoint: a failing brand does not block the others.
            try:
                with session.begin_nested():
                    alert = spikes.check_brand(
                        session, brand=brand, config=config.spikes, teams=by_name, routes=routes, now=now
                    )
            except Exception as exc:
                if is_database_locked(exc):
                    raise  # the whole job runs again once the writer is done (earshot/compose.py)
                log.exception("spike check for %s failed", brand)
                continue
            if alert is not None:
                raised.append(alert)
        return raised

    def health_check(session: Session, now: datetime) -> list[int]:
        return health.check_sources(
            session, sources=sources, config=config.health, teams=by_name, routes=routes, now=now
        )

    def digest_check(session: Session, now: datetime) -> list[int]:
        return digests.send_due(session, teams=by_name, brands=brands, now=now)

    jobs = [
        Job(
            "alerting timers (escalations, repeats)",
            config.timers_interval,
            in_transaction(timers),
        )
    ]
    if config.spikes.enabled and brands:
        jobs.append(Job("spike detection", config.spikes.interval, in_transaction(spike_check)))
    if config.health.enabled and sources:
        jobs.append(Job("source health", config.health.interval, in_transaction(health_check)))
    if any(t.digest is not None for t in teams):
        jobs.append(Job("digests", DIGEST_CHECK_SECONDS, in_transaction(digest_check)))
    return jobs
