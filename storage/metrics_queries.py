"""Counts behind the Prometheus /metrics scrape and the health check. Functions never commit.

Grouped counts come back in the database's order; the exposition does not depend on it. Source
health rows are read with ``storage.sources.list_health``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from domain import DeliveryStatus
from storage.models import AlertRow, DeliveryRow, MentionRow


def ping(session: Session) -> None:
    """Run a trivial query, raising whatever the driver raises when the database does not answer."""
    session.execute(text("SELECT 1"))


def mentions_by_source(session: Session) -> list[tuple[str, int]]:
    """How many mentions are stored per source."""
    rows = session.execute(select(MentionRow.source, func.count()).group_by(MentionRow.source))
    return [(source, n) for source, n in rows]


def mentions_collected_since(session: Session, *, since: datetime) -> int:
    """How many mentions were collected at or after ``since``."""
    count = session.scalar(
        select(func.count()).select_from(MentionRow).where(MentionRow.collected_at >= since)
    )
    return count or 0


def alerts_by_status(session: Session) -> list[tuple[str, int]]:
    """How many alerts there are per status."""
    rows = session.execute(select(AlertRow.status, func.count()).group_by(AlertRow.status))
    return [(status, n) for status, n in rows]


def deliveries_by_status(session: Session) -> list[tuple[str, int]]:
    """How many outbox rows there are per status."""
    rows = session.execute(select(DeliveryRow.status, func.count()).group_by(DeliveryRow.status))
    return [(status, n) for status, n in rows]


def overdue_deliveries(session: Session, *, due_before: datetime) -> int:
    """Pending outbox rows whose next attempt was due at or before ``due_before``."""
    count = session.scalar(
        select(func.count())
        .select_from(DeliveryRow)
        .where(DeliveryRow.status == str(DeliveryStatus.PENDING), DeliveryRow.next_attempt_at <= due_before)
    )
    return count or 0
