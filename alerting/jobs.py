"""Periodic alerting work (escalations, spike checks, source health, digests) as plain jobs.

The composition root schedules each job next to collection.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from alerting.channels.base import Channel
from alerting.config import AlertingConfig, RouteConfig, TeamConfig


@dataclass(frozen=True)
class Job:
    """One periodic job: a name, how often, and what to run."""

    name: str
    interval_seconds: float
    run: Callable[[], object]


@dataclass(frozen=True)
class SourceSchedule:
    """A source's name, kind and interval, for health checks."""

    name: str
    kind: str
    interval_seconds: float


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
    """The alerting jobs this configuration needs (none yet)."""
    return []
