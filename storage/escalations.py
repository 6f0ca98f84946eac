"""Escalation repository: the escalations in flight and those due. Functions never commit.

The chain logic (steps, repeats, following a group) lives in ``alerting.escalation``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.alerting_tables import AlertEscalationRow

# An escalation's states: running, stopped (acknowledged or resolved), or done (every step and
# repeat notified).
ACTIVE, STOPPED, DONE = "active", "stopped", "done"


def first_active(session: Session, *, alert_ids: Sequence[int]) -> AlertEscalationRow | None:
    """The active escalation held by the lowest of ``alert_ids``, if any holds one."""
    return session.scalars(
        select(AlertEscalationRow)
        .where(AlertEscalationRow.alert_id.in_(alert_ids), AlertEscalationRow.state == ACTIVE)
        .order_by(AlertEscalationRow.alert_id)
        .limit(1)
    ).first()


def lock_due(session: Session, *, now: datetime) -> list[AlertEscalationRow]:
    """Active escalations whose next step is due by ``now``, earliest first, locked FOR UPDATE."""
    return list(
        session.scalars(
            select(AlertEscalationRow)
            .where(AlertEscalationRow.state == ACTIVE, AlertEscalationRow.next_at <= now)
            .order_by(AlertEscalationRow.next_at)
            .with_for_update()
        ).all()
    )
