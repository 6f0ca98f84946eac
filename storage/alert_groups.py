"""Notification-group repository: groups, their members and their outbox rows.

The timing rules (group_wait, group_interval, repeat_interval) live in ``alerting.grouping``;
this module only reads and locks rows. Functions take a session and never commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from domain import AlertStatus, DeliveryStatus
from storage.alerting_tables import AlertGroupMemberRow, AlertGroupRow
from storage.models import AlertRow, DeliveryRow


def lock_group(session: Session, *, key: str) -> AlertGroupRow | None:
    """The group with ``key``, locked FOR UPDATE until the caller's transaction ends."""
    # FOR UPDATE (ignored by SQLite, which serialises writers anyway) keeps a concurrent flush
    # from reading the group between the caller's read and its write.
    return session.scalars(
        select(AlertGroupRow).where(AlertGroupRow.group_key == key).with_for_update()
    ).first()


def has_open_members(session: Session, *, group_id: int) -> bool:
    """True when any alert of the group (in any round) is not resolved."""
    count = session.scalar(
        select(func.count())
        .select_from(AlertGroupMemberRow)
        .join(AlertRow, AlertRow.id == AlertGroupMemberRow.alert_id)
        .where(AlertGroupMemberRow.group_id == group_id, AlertRow.status != str(AlertStatus.RESOLVED))
    )
    return bool(count)


def groups_of(session: Session, *, alert_ids: Iterable[int]) -> dict[int, AlertGroupRow]:
    """The group of each of ``alert_ids`` that has one."""
    ids = list(set(alert_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(AlertGroupMemberRow.alert_id, AlertGroupRow)
        .join(AlertGroupRow, AlertGroupRow.id == AlertGroupMemberRow.group_id)
        .where(AlertGroupMemberRow.alert_id.in_(ids))
    )
    return {alert_id: group for alert_id, group in rows}


def members_since(
    session: Session, *, group_id: int, since: datetime, statuses: Iterable[AlertStatus] | None = None
) -> list[AlertRow]:
    """The group's alerts created at or after ``since``, oldest first, optionally by status."""
    stmt = (
        select(AlertRow)
        .join(AlertGroupMemberRow, AlertGroupMemberRow.alert_id == AlertRow.id)
        .where(AlertGroupMemberRow.group_id == group_id, AlertRow.created_at >= since)
        .order_by(AlertRow.id)
    )
    if statuses is not None:
        stmt = stmt.where(AlertRow.status.in_([str(s) for s in statuses]))
    return list(session.scalars(stmt))


def firing_members(session: Session, *, group_id: int) -> list[AlertRow]:
    """Every firing alert of the group, whichever round it joined in, oldest first."""
    return list(
        session.scalars(
            select(AlertRow)
            .join(AlertGroupMemberRow, AlertGroupMemberRow.alert_id == AlertRow.id)
            .where(AlertGroupMemberRow.group_id == group_id, AlertRow.status == str(AlertStatus.FIRING))
            .order_by(AlertRow.id)
        )
    )


def try_lock_group(session: Session, *, group_id: int) -> bool:
    """``SELECT ... FOR UPDATE SKIP LOCKED`` on the group; False when another transaction holds it."""
    locked = session.scalars(
        select(AlertGroupRow.id).where(AlertGroupRow.id == group_id).with_for_update(skip_locked=True)
    ).first()
    return locked is not None


def due_first_notifications(
    session: Session, *, group_id: int, channel: str, now: datetime
) -> list[DeliveryRow]:
    """Pending ``fire`` outbox rows of the group's alerts due to ``channel`` by ``now``, oldest first."""
    stmt = (
        select(DeliveryRow)
        .join(AlertGroupMemberRow, AlertGroupMemberRow.alert_id == DeliveryRow.alert_id)
        .where(
            AlertGroupMemberRow.group_id == group_id,
            DeliveryRow.channel == channel,
            DeliveryRow.action == "fire",
            DeliveryRow.status == str(DeliveryStatus.PENDING),
            DeliveryRow.next_attempt_at <= now,
        )
        .order_by(DeliveryRow.id)
    )
    return list(session.scalars(stmt))


def lock_repeat_due(session: Session, *, now: datetime) -> list[AlertGroupRow]:
    """Groups whose repeat_interval has run out by ``now``, locked FOR UPDATE."""
    return list(
        session.scalars(
            select(AlertGroupRow).where(AlertGroupRow.next_repeat_at <= now).with_for_update()
        ).all()
    )


def has_pending_fire(session: Session, *, group_id: int) -> bool:
    """True when a ``fire`` notification of any of the group's alerts is still in the outbox."""
    count = session.scalar(
        select(func.count())
        .select_from(DeliveryRow)
        .join(AlertGroupMemberRow, AlertGroupMemberRow.alert_id == DeliveryRow.alert_id)
        .where(
            AlertGroupMemberRow.group_id == group_id,
            DeliveryRow.status == str(DeliveryStatus.PENDING),
            DeliveryRow.action == "fire",
        )
    )
    return bool(count)
