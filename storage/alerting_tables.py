"""Tables for alerting state beyond alerts and the outbox: groups, silences, escalations, monitors.

They live on ``storage.models.Base`` so Alembic and the test fixtures see them; migration
0002 creates them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, BigId


class AlertGroupRow(Base):
    """A notification group (route + group_by labels): when it last flushed and when it flushes next.

    The timings are snapshotted when the group starts, so a config edit does not reshuffle a
    group that is already waiting.
    """

    __tablename__ = "alert_groups"
    __table_args__ = (
        UniqueConstraint("group_key", name="uq_alert_groups_key"),
        Index("ix_alert_groups_repeat", "next_repeat_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    group_key: Mapped[str] = mapped_column(String(512))
    route_name: Mapped[str] = mapped_column(String(128))
    labels: Mapped[dict[str, Any]] = mapped_column(JSON)
    group_wait: Mapped[float] = mapped_column(Float)
    group_interval: Mapped[float] = mapped_column(Float)
    repeat_interval: Mapped[float | None] = mapped_column(Float, nullable=True)
    started_at: Mapped[datetime]
    next_flush_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_flushed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    next_repeat_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # Bumped on every repeat, so each repeat gets its own idempotency keys.
    repeats: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime]


class AlertGroupMemberRow(Base):
    """Which notification group an alert belongs to (alerts of ungrouped routes have no row)."""

    __tablename__ = "alert_group_members"

    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("alert_groups.id", ondelete="CASCADE"), index=True)


class SilenceRow(Base):
    """A silence: alerts matching every matcher between starts_at and ends_at are stored, not sent."""

    __tablename__ = "silences"
    __table_args__ = (Index("ix_silences_active", "ends_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # {field: compact matcher}, the same syntax as a route's `match`.
    matchers: Mapped[dict[str, Any]] = mapped_column(JSON)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(128))
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    expired_by: Mapped[str | None] = mapped_column(String(128), nullable=True)


class AlertEscalationRow(Base):
    """An alert's escalation in flight: the chain as it was when the alert fired, and where it is."""

    __tablename__ = "alert_escalations"
    __table_args__ = (Index("ix_alert_escalations_due", "state", "next_at"),)

    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True)
    team: Mapped[str] = mapped_column(String(128))
    chain: Mapped[dict[str, Any]] = mapped_column(JSON)
    step: Mapped[int] = mapped_column(Integer, default=0)
    cycle: Mapped[int] = mapped_column(Integer, default=0)
    # active, stopped (acknowledged or resolved) or done (every step and repeat notified).
    state: Mapped[str] = mapped_column(String(16))
    next_at: Mapped[datetime | None] = mapped_column(nullable=True)
    updated_at: Mapped[datetime]


class AlertMonitorRow(Base):
    """State of a periodic check (a brand's spike, a source's health, a team's digest) between runs.

    ``active`` with ``alert_id`` is an incident in progress: it is not raised again until it ends.
    """

    __tablename__ = "alert_monitors"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="SET NULL"), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    checked_at: Mapped[datetime]
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
