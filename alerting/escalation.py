"""Escalation chains: wait, and if nobody acknowledged, notify the next channels; repeat.

The team's chain is copied onto the alert when it fires, so editing the config later does not
change an escalation already in flight. Acknowledging or resolving the alert stops it. The
timers job calls ``run_due``; each step's notifications go through the outbox with their own
idempotency keys.

Escalation follows grouping: a notification group has one escalation, held by the first alert of
the group that is urgent enough. Later alerts of the group join it instead of starting their own,
and it runs until no alert of the group is still firing, so 36 grouped outage alerts page once per
step, not 36 times.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from alerting import grouping
from alerting.config import EscalationConfig, TeamConfig
from domain import AlertStatus, Urgency
from storage import alerts as alert_repo
from storage import escalations as escalation_repo
from storage.alerting_tables import AlertEscalationRow, AlertGroupRow
from storage.escalations import ACTIVE, DONE, STOPPED
from storage.models import AlertRow


def start(
    session: Session,
    *,
    alert: AlertRow,
    team: TeamConfig | None,
    now: datetime,
    notified_at: datetime | None = None,
) -> bool:
    """Snapshot the team's chain onto a new alert when it is urgent enough; True if it will escalate.

    The first wait counts from ``notified_at``, when the fire notification is due: an alert held
    for quiet hours or group_wait must not page anyone for not acknowledging what they never saw.
    """
    chain = team.escalation if team is not None else None
    if chain is None or not Urgency(alert.urgency).at_least(chain.min_urgency):
        return False
    assert team is not None
    group = grouping.group_of(session, alert.id)
    if group is not None:
        holder = _group_escalation(session, group)
        if holder is not None:
            note = f"follows the escalation of its group {group.group_key} (alert #{holder.alert_id})"
            alert_repo.add_event(session, alert.id, "escalation_joined", now=now, note=note)
            return True
    session.add(
        AlertEscalationRow(
            alert_id=alert.id,
            team=team.name,
            chain=chain.model_dump(mode="json"),
            step=0,
            cycle=0,
            state=ACTIVE,
            next_at=max(now, notified_at or now) + timedelta(seconds=chain.steps[0].wait),
            updated_at=now,
        )
    )
    alert_repo.add_event(
        session,
        alert.id,
        "escalation_started",
        now=now,
        note=f"team {team.name}: {len(chain.steps)} step(s), repeated {chain.repeat} time(s)",
    )
    return True


def _group_escalation(session: Session, group: AlertGroupRow) -> AlertEscalationRow | None:
    members = [a.id for a in grouping.current_members(session, group)]
    if not members:
        return None
    return escalation_repo.first_active(session, alert_ids=members)


def _still_firing(session: Session, group: AlertGroupRow) -> int:
    return len(grouping.current_members(session, group, statuses=[AlertStatus.FIRING]))


def stop(session: Session, *, alert_id: int, actor: str, now: datetime, why: str) -> bool:
    """Stop the escalation in flight for an alert (or its group); True if one was stopped.

    A group's escalation goes on while any alert of the group is still firing.
    """
    row = session.get(AlertEscalationRow, alert_id)
    group = grouping.group_of(session, alert_id)
    if group is not None and (row is None or row.state != ACTIVE):
        row = _group_escalation(session, group)
    if row is None or row.state != ACTIVE:
        return False
    if group is not None and (firing := _still_firing(session, group)):
        note = f"{why}; the group's escalation goes on: {firing} alert(s) still firing"
        alert_repo.add_event(session, alert_id, "escalation_continues", actor=actor, now=now, note=note)
        return False
    row.state = STOPPED
    row.next_at = None
    row.updated_at = now
    alert_repo.add_event(session, row.alert_id, "escalation_stopped", actor=actor, now=now, note=why)
    return True


def run_due(session: Session, *, now: datetime) -> int:
    """Notify every escalation step that is due; return how many steps were notified."""
    due = escalation_repo.lock_due(session, now=now)
    notified = 0
    for row in due:
        alert = session.get(AlertRow, row.alert_id)
        group = grouping.group_of(session, row.alert_id) if alert is not None else None
        # The holder may be acknowledged while the group it stands for still has alerts firing.
        firing = _still_firing(session, group) if group is not None else 0
        if not firing and (alert is None or alert.status != str(AlertStatus.FIRING)):
            # Acknowledged or resolved without going through lifecycle (an older version, SQL).
            row.state, row.next_at, row.updated_at = STOPPED, None, now
            continue
        _notify_step(session, row, now)
        notified += 1
    return notified


def _notify_step(session: Session, row: AlertEscalationRow, now: datetime) -> None:
    chain = EscalationConfig.model_validate(row.chain)
    step = chain.steps[row.step]
    for channel in dict.fromkeys(step.channels):
        alert_repo.enqueue(
            session,
            alert_id=row.alert_id,
            channel=channel,
            action="escalate",
            now=now,
            key_suffix=f"c{row.cycle}s{row.step}",
        )
    alert_repo.add_event(
        session,
        row.alert_id,
        "escalated",
        now=now,
        note=f"step {row.step + 1}/{len(chain.steps)} (round {row.cycle + 1}): {', '.join(step.channels)}",
    )
    row.step += 1
    if row.step >= len(chain.steps):
        if row.cycle >= chain.repeat:
            row.state, row.next_at, row.updated_at = DONE, None, now
            return
        row.step, row.cycle = 0, row.cycle + 1
    # Waits count from this notification, so a job that ran late does not fire two steps at once.
    row.next_at = now + timedelta(seconds=chain.steps[row.step].wait)
    row.updated_at = now
