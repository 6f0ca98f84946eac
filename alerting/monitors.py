"""What the periodic checks (spikes, source health, digests) share: incident state and raising.

An incident is raised once when its condition starts, kept quiet while it lasts, and resolved by
Earshot when it ends, so a flapping check does not page on every run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from alerting import lifecycle
from alerting.config import RouteConfig, TeamConfig
from alerting.service import dispatch
from domain import AlertKind, AlertStatus, Urgency
from storage.alerting_tables import AlertMonitorRow
from storage.alerts import NewAlert, add_event
from storage.models import AlertRow

log = logging.getLogger(__name__)
ACTOR = "earshot"


def monitor(session: Session, key: str, *, kind: str, now: datetime) -> AlertMonitorRow:
    """The stored state of one check, created on first use."""
    row = session.get(AlertMonitorRow, key, with_for_update=True)
    if row is None:
        row = AlertMonitorRow(key=key, kind=kind, active=False, checked_at=now, state={})
        session.add(row)
    row.checked_at = now
    return row


def team_for(
    wanted: str, teams: Mapping[str, TeamConfig], routes: Sequence[RouteConfig]
) -> TeamConfig | None:
    """``wanted`` if it is a configured team, else the default route's team (config check warns)."""
    if wanted in teams:
        return teams[wanted]
    fallback = next((r.team for r in routes if r.default), None)
    if fallback is not None and fallback in teams:
        log.warning("team %r is not configured; sending to the default route's team %s", wanted, fallback)
        return teams[fallback]
    return None


def raise_system_alert(
    session: Session,
    *,
    kind: AlertKind,
    route: str,
    team: TeamConfig,
    teams: Mapping[str, TeamConfig],
    title: str,
    summary: str,
    urgency: Urgency,
    reason: str,
    group_key: str,
    snapshot: dict[str, Any],
    labels: Mapping[str, Any],
    now: datetime,
    brand: str | None = None,
    details: dict[str, Any] | None = None,
    channels: Sequence[str] | None = None,
    informational: bool = False,
) -> AlertRow:
    """Store and plan an alert raised by a check rather than a mention.

    ``informational`` (digests) skips silences and time windows, which a team's own schedule
    already chose, never escalates, and is filed as resolved so it is not counted as open.
    """
    row = dispatch(
        session,
        NewAlert(
            kind=kind,
            title=title,
            summary=summary,
            urgency=urgency,
            team=team.name,
            route_name=route,
            route_snapshot=snapshot,
            reason=reason,
            group_key=group_key,
            channels=tuple(channels if channels is not None else team.channels),
            brand=brand,
            details=details,
        ),
        labels=labels,
        teams=teams,
        now=now,
        use_windows=not informational,
        use_silences=not informational,
        use_escalation=not informational,
    )
    if informational:
        # Filed straight away, without lifecycle.resolve: that would send a "resolved" message
        # right behind the digest itself.
        row.status = str(AlertStatus.RESOLVED)
        row.resolved_at, row.resolved_by = now, ACTOR
        add_event(session, row.id, "resolved", now=now, note="informational: nothing to acknowledge")
    return row


def start_incident(session: Session, state: AlertMonitorRow, alert: AlertRow, now: datetime) -> None:
    """Remember that ``alert`` stands for the incident now in progress."""
    state.active = True
    state.alert_id = alert.id
    state.started_at = now


def end_incident(session: Session, state: AlertMonitorRow, *, now: datetime, note: str) -> bool:
    """The condition cleared: resolve the incident's alert if nobody did; True if one was open."""
    if not state.active:
        return False
    state.active = False
    alert = session.get(AlertRow, state.alert_id) if state.alert_id is not None else None
    if alert is not None and alert.status != str(AlertStatus.RESOLVED):
        lifecycle.resolve(session, alert_id=alert.id, actor=ACTOR, now=now, note=note)
    return True
