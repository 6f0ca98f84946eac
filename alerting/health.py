"""Collector health alerts: a source failing, or returning nothing, for N runs in a row.

One alert per incident, to the ops team (``alerting.health.team``); Earshot resolves it when the
source recovers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from alerting import monitors
from alerting.config import HealthConfig, RouteConfig, TeamConfig
from collectors.redact import redact
from domain import AlertKind, Urgency
from storage.models import SourceHealthRow
from storage.sources import failing_parts


@dataclass(frozen=True)
class SourceSchedule:
    """A source's name, kind and interval, for health checks."""

    name: str
    kind: str
    interval_seconds: float


def problem(row: SourceHealthRow | None, config: HealthConfig) -> tuple[str, Urgency] | None:
    """What is wrong with a source (and how urgent), or None when it is healthy."""
    if row is None:
        return None  # never ran yet: nothing to judge
    if row.consecutive_failures >= config.failures:
        # Errors stored before redaction existed may still carry a feed's key: redact on the way out.
        error = redact((row.last_error or "unknown error").splitlines()[0][:300])
        if failing_parts(row):
            # Runs where only some parts (feeds, searches) failed count too: part of the source is down.
            return f"had failing parts {row.consecutive_failures} runs in a row: {error}", Urgency.HIGH
        return f"failed {row.consecutive_failures} runs in a row: {error}", Urgency.HIGH
    if config.empty_runs and row.consecutive_empty >= config.empty_runs:
        return f"returned nothing new for {row.consecutive_empty} runs in a row", Urgency.MEDIUM
    return None


def check_sources(
    session: Session,
    *,
    sources: Sequence[SourceSchedule],
    config: HealthConfig,
    teams: Mapping[str, TeamConfig],
    routes: Sequence[RouteConfig],
    now: datetime,
) -> list[int]:
    """Raise an alert for each source that just became unhealthy, resolve recovered ones; new ids."""
    raised = []
    for source in sources:
        row = session.get(SourceHealthRow, source.name)
        found = problem(row, config)
        state = monitors.monitor(session, f"health:{source.name}", kind=str(AlertKind.SOURCE_HEALTH), now=now)
        if found is None:
            monitors.end_incident(session, state, now=now, note=f"source {source.name} recovered")
            continue
        what, urgency = found
        state.state = {"problem": what}
        if state.active:
            continue  # same incident, already raised
        team = monitors.team_for(config.team, teams, routes)
        if team is None:
            continue
        alert = monitors.raise_system_alert(
            session,
            kind=AlertKind.SOURCE_HEALTH,
            route="source-health",
            team=team,
            teams=teams,
            title=f"Source {source.name} ({source.kind}) {what.split(':')[0]}",
            summary=f"Source {source.name} ({source.kind}, every {source.interval_seconds:.0f}s) {what}.",
            urgency=urgency,
            reason=f"failures >= {config.failures}"
            if urgency is Urgency.HIGH
            else f"empty runs >= {config.empty_runs}",
            group_key=f"health|{source.name}|{now.isoformat()}",
            snapshot={"name": "source-health", "team": team.name, "health": config.model_dump(mode="json")},
            labels={"source": (source.name, source.kind), "urgency": urgency},
            now=now,
            details={
                "source": source.name,
                "source_kind": source.kind,
                "consecutive_failures": row.consecutive_failures if row else 0,
                "consecutive_empty": row.consecutive_empty if row else 0,
                "last_error": redact(row.last_error) if row and row.last_error else None,
            },
        )
        monitors.start_incident(session, state, alert, now)
        raised.append(alert.id)
    return raised
