"""Alert, audit-trail and outbox repository. Functions take a session and never commit."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, not_, select, update
from sqlalchemy.orm import Session

from domain import Alert, AlertKind, AlertStatus, DeliveryStatus, Urgency
from storage.case_tables import CaseRow
from storage.installation import installation_id
from storage.models import AlertEventRow, AlertRow, DeliveryRow


@dataclass(frozen=True, slots=True)
class NewAlert:
    """What the router decided: everything needed to store an alert."""

    kind: AlertKind
    title: str
    summary: str
    urgency: Urgency
    team: str
    route_name: str
    route_snapshot: dict[str, Any]
    reason: str
    group_key: str
    channels: tuple[str, ...]
    mention_id: int | None = None
    brand: str | None = None
    details: dict[str, Any] | None = None


def create_alert(
    session: Session, new: NewAlert, *, now: datetime, not_before: datetime | None = None
) -> AlertRow:
    """Store a firing alert, its audit event and one outbox row per channel, due at ``not_before``."""
    row = AlertRow(
        kind=str(new.kind),
        mention_id=new.mention_id,
        brand=new.brand,
        title=new.title,
        summary=new.summary,
        urgency=str(new.urgency),
        status=str(AlertStatus.FIRING),
        team=new.team,
        route_name=new.route_name,
        route_snapshot=new.route_snapshot,
        reason=new.reason,
        group_key=new.group_key,
        count=1,
        details=new.details or {},
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    # Every alert is a case the team answers; opened with it, in the same transaction.
    session.add(CaseRow(alert_id=row.id, team=row.team, status="open", opened_at=now, updated_at=now))
    add_event(session, row.id, "fired", note=f"route {new.route_name}: {new.reason}", now=now)
    for channel in dict.fromkeys(new.channels):
        enqueue(session, alert_id=row.id, channel=channel, action="fire", now=now, not_before=not_before)
    return row


def add_event(
    session: Session, alert_id: int, action: str, *, now: datetime, actor: str = "earshot", note: str = ""
) -> None:
    """Append one entry to an alert's audit trail."""
    session.add(AlertEventRow(alert_id=alert_id, at=now, action=action, actor=actor, note=note))


def enqueue(
    session: Session,
    *,
    alert_id: int,
    channel: str,
    action: str,
    now: datetime,
    not_before: datetime | None = None,
    key_suffix: str = "",
) -> DeliveryRow:
    """Add an outbox row, held until ``not_before``; the idempotency key is stable across retries.

    ``key_suffix`` tells apart several notifications of one action (a repeat, an escalation step).
    The installation id keeps keys unique across deployments and database resets, so a receiver
    that deduplicates on them never drops another installation's alert #1.
    """
    key = f"earshot-{installation_id(session)}-{alert_id}-{channel}-{action}"
    key += f"-{key_suffix}" if key_suffix else ""
    row = DeliveryRow(
        alert_id=alert_id,
        channel=channel,
        action=action,
        status=str(DeliveryStatus.PENDING),
        attempts=0,
        idempotency_key=key,
        next_attempt_at=max(now, not_before) if not_before is not None else now,
        created_at=now,
    )
    session.add(row)
    return row


def due_deliveries(session: Session, *, now: datetime, limit: int = 100) -> list[DeliveryRow]:
    """Pending deliveries whose next attempt is due, oldest first."""
    stmt = (
        select(DeliveryRow)
        .where(DeliveryRow.status == str(DeliveryStatus.PENDING), DeliveryRow.next_attempt_at <= now)
        .order_by(DeliveryRow.next_attempt_at, DeliveryRow.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def claim(session: Session, delivery: DeliveryRow, *, now: datetime, lease: timedelta) -> bool:
    """Lease a delivery before sending, so a crash mid-send retries it once after the lease.

    The conditional UPDATE makes two workers racing for one row safe: only one wins.
    """
    result = session.execute(
        update(DeliveryRow)
        .where(
            DeliveryRow.id == delivery.id,
            DeliveryRow.status == str(DeliveryStatus.PENDING),
            DeliveryRow.attempts == delivery.attempts,
        )
        .values(attempts=delivery.attempts + 1, next_attempt_at=now + lease)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def mark_delivered(session: Session, delivery: DeliveryRow, *, now: datetime, note: str = "") -> None:
    """Record a successful send of ``delivery`` (as claimed; it need not belong to ``session``)."""
    # One UPDATE by id: loading the row first cost a query per notification sent.
    session.execute(
        update(DeliveryRow)
        .where(DeliveryRow.id == delivery.id)
        .values(status=str(DeliveryStatus.DELIVERED), delivered_at=now, last_error=None)
    )
    note = f"{delivery.channel} ({delivery.action}) {note}".strip()
    add_event(session, delivery.alert_id, "delivered", now=now, note=note)


def mark_retry(
    session: Session, delivery_id: int, *, now: datetime, error: str, at: datetime, counts: bool = True
) -> None:
    """Record a failed attempt and when to try again; ``counts=False`` gives the attempt back."""
    row = session.get_one(DeliveryRow, delivery_id)
    row.last_error = error[:2000]
    row.next_attempt_at = at
    if not counts:
        row.attempts = max(0, row.attempts - 1)


def mark_dead(session: Session, delivery_id: int, *, now: datetime, error: str) -> None:
    """Give up on a delivery: it stays visible in `earshot alerts --failed` and can be re-sent."""
    row = session.get_one(DeliveryRow, delivery_id)
    row.status = str(DeliveryStatus.DEAD)
    row.last_error = error[:2000]
    add_event(session, row.alert_id, "dead_lettered", now=now, note=f"{row.channel}: {error[:500]}")


def cancel(session: Session, delivery_id: int, *, now: datetime, why: str) -> None:
    """Drop an outbox row that must not be sent after all, noting why in the alert's audit trail."""
    row = session.get_one(DeliveryRow, delivery_id)
    add_event(session, row.alert_id, "cancelled", now=now, note=f"{row.channel} ({row.action}): {why}")
    session.delete(row)


def resend(session: Session, delivery_id: int, *, now: datetime) -> bool:
    """Put a dead-lettered delivery back in the outbox."""
    row = session.get(DeliveryRow, delivery_id)
    if row is None or row.status != str(DeliveryStatus.DEAD):
        return False
    row.status = str(DeliveryStatus.PENDING)
    row.attempts = 0
    row.next_attempt_at = now
    add_event(session, row.alert_id, "resend", now=now, note=row.channel)
    return True


def deliveries_of(session: Session, *, alert_id: int) -> list[DeliveryRow]:
    """Every outbox row of one alert, oldest first."""
    stmt = select(DeliveryRow).where(DeliveryRow.alert_id == alert_id).order_by(DeliveryRow.id)
    return list(session.scalars(stmt))


def fired_channels(session: Session, *, alert_id: int) -> list[str]:
    """The channels an alert's ``fire`` notification was queued for, by name."""
    return list(
        session.scalars(
            select(DeliveryRow.channel)
            .where(DeliveryRow.alert_id == alert_id, DeliveryRow.action == "fire")
            .distinct()
            .order_by(DeliveryRow.channel)
        ).all()
    )


def heard_channels(session: Session, *, alert_ids: list[int], now: datetime) -> list[str]:
    """Channels sent (or trying to send) a fire or escalate notification of ``alert_ids``, by name.

    A row still held for later and never tried (quiet hours, group_wait) does not count: that
    channel never heard the alert.
    """
    held = and_(DeliveryRow.attempts == 0, DeliveryRow.next_attempt_at > now)
    return list(
        session.scalars(
            select(DeliveryRow.channel)
            .where(
                DeliveryRow.alert_id.in_(alert_ids),
                DeliveryRow.action.in_(("fire", "escalate")),
                not_(held),
            )
            .distinct()
            .order_by(DeliveryRow.channel)
        )
    )


def failed_deliveries(session: Session, *, limit: int = 100) -> list[DeliveryRow]:
    """Dead-lettered deliveries, newest first."""
    stmt = (
        select(DeliveryRow)
        .where(DeliveryRow.status == str(DeliveryStatus.DEAD))
        .order_by(DeliveryRow.id.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


def list_alerts(
    session: Session,
    *,
    status: str | None = None,
    team: str | None = None,
    brand: str | None = None,
    limit: int = 50,
) -> list[AlertRow]:
    """Alerts, newest first, optionally filtered."""
    stmt = select(AlertRow)
    if status:
        stmt = stmt.where(AlertRow.status == status)
    if team:
        stmt = stmt.where(AlertRow.team == team)
    if brand:
        stmt = stmt.where(AlertRow.brand == brand)
    return list(session.scalars(stmt.order_by(AlertRow.id.desc()).limit(limit)).unique())


def alerts_by_id(session: Session, *, alert_ids: list[int]) -> dict[int, AlertRow]:
    """The stored alerts among ``alert_ids``, by id (unknown ids are simply absent)."""
    stmt = select(AlertRow).where(AlertRow.id.in_(alert_ids))
    return {row.id: row for row in session.scalars(stmt).unique()}


def open_alert(session: Session, *, group_key: str) -> AlertRow | None:
    """An unresolved alert with ``group_key`` (the one a near-duplicate folds into), if any."""
    return session.scalars(
        select(AlertRow)
        .where(AlertRow.group_key == group_key, AlertRow.status != str(AlertStatus.RESOLVED))
        .limit(1)
    ).first()


def open_alerts(session: Session, *, group_keys: Iterable[str]) -> dict[str, AlertRow]:
    """The unresolved alert of each of ``group_keys`` that has one, by key (one query for a batch)."""
    keys = sorted(set(group_keys))
    if not keys:
        return {}
    stmt = (
        select(AlertRow)
        .where(AlertRow.group_key.in_(keys), AlertRow.status != str(AlertStatus.RESOLVED))
        .order_by(AlertRow.id.desc())
    )
    # Oldest last, so it wins when (before the unique index) a key had several open alerts.
    return {row.group_key: row for row in session.scalars(stmt).unique()}


def open_team_alerts(session: Session, *, team: str) -> list[AlertRow]:
    """A team's firing and acknowledged alerts, oldest first."""
    return list(
        session.scalars(
            select(AlertRow)
            .where(
                AlertRow.team == team,
                AlertRow.status.in_([str(AlertStatus.FIRING), str(AlertStatus.ACKNOWLEDGED)]),
            )
            .order_by(AlertRow.id)
        ).all()
    )


def count_alerts(session: Session, *, status: str | None = None) -> int:
    """How many alerts there are, optionally with one status."""
    stmt = select(func.count(AlertRow.id))
    if status:
        stmt = stmt.where(AlertRow.status == status)
    return int(session.scalar(stmt) or 0)


def events(session: Session, alert_id: int) -> list[AlertEventRow]:
    """An alert's audit trail, oldest first."""
    stmt = select(AlertEventRow).where(AlertEventRow.alert_id == alert_id).order_by(AlertEventRow.id)
    return list(session.scalars(stmt))


def to_domain(row: AlertRow) -> Alert:
    """The channel-facing view of a stored alert."""
    mention = row.mention
    classification = mention.classification if mention is not None else None
    return Alert(
        id=row.id,
        kind=AlertKind(row.kind),
        title=row.title,
        summary=row.summary,
        urgency=Urgency(row.urgency),
        status=AlertStatus(row.status),
        team=row.team,
        route=row.route_name,
        reason=row.reason,
        group_key=row.group_key,
        created_at=row.created_at,
        brand=row.brand,
        mention_url=mention.url if mention else None,
        mention_text=mention.text if mention else None,
        author=(mention.author.handle if mention and mention.author else None),
        source=mention.source if mention else None,
        categories=tuple(classification.categories) if classification else (),
        sentiment=classification.sentiment if classification else None,
        count=row.count,
        details=dict(row.details or {}),
    )


def cancel_held(session: Session, alert_id: int, *, now: datetime, actions: tuple[str, ...]) -> list[str]:
    """Drop an alert's outbox rows that are held for later and never tried; return their channels.

    Used when an alert is resolved before a quiet-hours or grouping hold ends: nobody needs to
    hear about it any more.
    """
    rows = list(
        session.scalars(
            select(DeliveryRow).where(
                DeliveryRow.alert_id == alert_id,
                DeliveryRow.status == str(DeliveryStatus.PENDING),
                DeliveryRow.attempts == 0,
                DeliveryRow.next_attempt_at > now,
                DeliveryRow.action.in_(actions),
            )
        )
    )
    for row in rows:
        session.delete(row)
    return [row.channel for row in rows]
