"""Alert lifecycle: firing -> acknowledged -> resolved, with who and when, and an audit trail.

Each alert's case follows it (open -> in progress -> waiting on customer -> resolved):
acknowledging starts work on an open case, resolving either resolves both.

Keyword-only service functions shared by the CLI and the web API. They take a
session and never commit: the caller owns the transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from alerting import escalation, grouping
from domain import AlertStatus
from storage import cases
from storage.alerts import add_event, cancel_held, enqueue, heard_channels
from storage.models import AlertRow


class LifecycleError(ValueError):
    """The requested change does not apply to this alert (unknown id, already resolved...)."""


def _get(session: Session, alert_id: int) -> AlertRow:
    row = session.get(AlertRow, alert_id)
    if row is None:
        raise LifecycleError(f"alert #{alert_id} does not exist")
    return row


# A group's incident is acknowledged once none of its alerts is firing, resolved once all are.
_GROUP_WAITS_FOR = {
    "acknowledge": (AlertStatus.FIRING,),
    "resolve": (AlertStatus.FIRING, AlertStatus.ACKNOWLEDGED),
}


def _notify(session: Session, row: AlertRow, action: str, now: datetime) -> None:
    # Tell every channel that heard the alert fire or escalate, so paging tools stop too; a
    # channel whose notification is still held (quiet hours, group_wait) never heard it, and the
    # outbox drops a fire notification for an alert that is no longer firing.
    alert_ids = [row.id]
    group = grouping.group_of(session, row.id)
    if group is not None:
        # The channels heard one grouped notification, about the group: they are told once, when
        # the group as a whole is acknowledged or resolved, and never about a single member.
        waiting = grouping.current_members(session, group, statuses=_GROUP_WAITS_FOR[action])
        if waiting:
            note = f"{action} for group {group.group_key} waits for {len(waiting)} more alert(s)"
            add_event(session, row.id, "group_pending", now=now, note=note)
            return
        alert_ids = [a.id for a in grouping.current_members(session, group)] or [row.id]
    for channel in heard_channels(session, alert_ids=alert_ids, now=now):
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
    case = cases.case_of(session, row, now=now)
    if case.status == cases.OPEN:
        cases.set_status(session, case, cases.IN_PROGRESS, actor=actor, now=now)
    escalation.stop(session, alert_id=row.id, actor=actor, now=now, why="acknowledged")
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
    cases.set_status(session, cases.case_of(session, row, now=now), cases.RESOLVED, actor=actor, now=now)
    escalation.stop(session, alert_id=row.id, actor=actor, now=now, why="resolved")
    _notify(session, row, "resolve", now)
    # Held notifications would announce an alert that is already over.
    dropped = cancel_held(session, row.id, now=now, actions=("fire",))
    if dropped:
        add_event(session, row.id, "cancelled", actor=actor, now=now, note=f"held: {', '.join(dropped)}")
    return row


def assign(session: Session, *, alert_id: int, assignee: str, actor: str, now: datetime) -> AlertRow:
    """Give an alert to a person; recorded in the audit trail."""
    row = _get(session, alert_id)
    previous = row.assignee
    row.assignee = assignee
    row.updated_at = now
    add_event(session, row.id, "assigned", actor=actor, note=f"{previous or 'nobody'} -> {assignee}", now=now)
    return row


def set_case_status(session: Session, *, alert_id: int, status: str, actor: str, now: datetime) -> AlertRow:
    """Move an alert's case to ``status``; working on a firing alert acknowledges it first."""
    row = _get(session, alert_id)
    if status not in cases.STATUSES:
        raise LifecycleError(f"unknown case status {status!r}; one of {', '.join(cases.STATUSES)}")
    if row.status == AlertStatus.RESOLVED:
        if status == cases.RESOLVED:
            raise LifecycleError(f"alert #{alert_id} is already resolved")
        raise LifecycleError(f"alert #{alert_id} is resolved; its case cannot be reopened")
    if status == cases.RESOLVED:
        return resolve(session, alert_id=alert_id, actor=actor, now=now)
    if status != cases.OPEN and row.status == AlertStatus.FIRING:
        acknowledge(session, alert_id=alert_id, actor=actor, now=now)
    cases.set_status(session, cases.case_of(session, row, now=now), status, actor=actor, now=now)
    return row


def record_response(session: Session, *, alert_id: int, at: datetime, by: str, via: str = "reply") -> bool:
    """Record the first response to an alert's case and stop its escalation; False if it had one.

    ``via`` is "reply" for a reply posted from Earshot, "elsewhere" when a responder answered the
    customer outside Earshot.
    """
    row = _get(session, alert_id)
    first = cases.record_first_response(session, alert_id=alert_id, at=at, by=by, via=via)
    if row.status == AlertStatus.FIRING:
        # Someone answered: paging more people about it would only interrupt them.
        acknowledge(session, alert_id=alert_id, actor=by, now=at, note=f"answered ({via})")
    return first
