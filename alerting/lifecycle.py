"""Alert lifecycle: firing -> acknowledged -> resolved, with who and when, and an audit trail.

Keyword-only service functions shared by the CLI and the web API. They take a
session and never commit: the caller owns the transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain import AlertStatus
from storage.alerts import add_event, enqueue
from storage.models import AlertRow, DeliveryRow


class LifecycleError(ValueError):
    """The requested change does not apply to this alert (unknown id, already resolved...)."""


def _get(session: Session, alert_id: int) -> AlertRow:
    row = session.get(AlertRow, alert_id)
    if row is None:
        raise LifecycleError(f"alert #{alert_id} does not exist")
    return row


def _notify(session: Session, row: AlertRow, action: str, now: datetime) -> None:
    # Tell every channel that heard the alert fire, so paging tools can stop escalating.
    channels = session.scalars(
        select(DeliveryRow.channel)
        .where(DeliveryRow.alert_id == row.id, DeliveryRow.action == "fire")
        .distinct()
    )
    for channel in channels:
        enqueue(session, alert_id=row.id, channel=channel, action=action, now=now)


def acknowledge(session: Session, *, alert_id: int, actor: str, now: datetime, note: str = "") -> AlertRow:
    """Mark a firing alert acknowledged by ``actor``; this stops its escalation."""
    row = _get(session, alert_id)
    if row.status != AlertStatus.FIRING:
        raise LifecycleError(f"alert #{alert_id} is {row.status}, only a firing alert can be acknowledged")
    row.status = str(AlertStatus.ACKNOWLEDGED)
    row.acknowledged_at = now
    row.acknowledged_by = actor
    row.updated_at = now
    add_event(session, row.id, "acknowledged", actor=actor, note=note, now=now)
    _notify(session, row, "acknowledge", now)
    return row


def resolve(session: Session, *, alert_id: int, actor: str, now: datetime, note: str = "") -> AlertRow:
    """Mark an alert resolved by ``actor``."""
    row = _get(session, alert_id)
    if row.status == AlertStatus.RESOLVED:
        raise LifecycleError(f"alert #{alert_id} is already resolved")
    row.status = str(AlertStatus.RESOLVED)
    row.resolved_at = now
    row.resolved_by = actor
    row.updated_at = now
    add_event(session, row.id, "resolved", actor=actor, note=note, now=now)
    _notify(session, row, "resolve", now)
    return row


def assign(session: Session, *, alert_id: int, assignee: str, actor: str, now: datetime) -> AlertRow:
    """Give an alert to a person; recorded in the audit trail."""
    row = _get(session, alert_id)
    previous = row.assignee
    row.assignee = assignee
    row.updated_at = now
    add_event(session, row.id, "assigned", actor=actor, note=f"{previous or 'nobody'} -> {assignee}", now=now)
    return row
