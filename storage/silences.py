"""Silence repository: listing silences and finding the active ones. Functions never commit.

Validating, creating and matching silences lives in ``alerting.silences``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.alerting_tables import SilenceRow


def list_silences(session: Session, *, now: datetime, include_expired: bool = False) -> list[SilenceRow]:
    """Silences, newest first; only those ending after ``now`` unless ``include_expired``."""
    stmt = select(SilenceRow).order_by(SilenceRow.id.desc())
    if not include_expired:
        stmt = stmt.where(SilenceRow.ends_at > now)
    return list(session.scalars(stmt))


def active_silences(session: Session, *, now: datetime) -> list[SilenceRow]:
    """Silences in force at ``now``, oldest first."""
    return list(
        session.scalars(
            select(SilenceRow)
            .where(SilenceRow.starts_at <= now, SilenceRow.ends_at > now)
            .order_by(SilenceRow.id)
        )
    )
