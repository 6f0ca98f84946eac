"""Tables for the response desk: one case per alert, internal notes, responder availability.

They live on ``storage.models.Base`` so Alembic and the test fixtures see them; migration
0007 creates them. The assignee stays on ``alerts.assignee``, where the lifecycle keeps it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, BigId


class CaseRow(Base):
    """An alert's case: where the response stands, when it was first answered and resolved.

    The breach columns record that the team lead was told, so each breach is raised once.
    """

    __tablename__ = "cases"
    __table_args__ = (Index("ix_cases_team_status", "team", "status"),)

    alert_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True
    )
    team: Mapped[str] = mapped_column(String(128))
    # open, in_progress, waiting_on_customer or resolved.
    status: Mapped[str] = mapped_column(String(32))
    opened_at: Mapped[datetime]
    first_response_at: Mapped[datetime | None] = mapped_column(nullable=True)
    first_response_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    # "reply" (posted from Earshot) or "elsewhere" (a responder answered outside Earshot).
    first_response_via: Mapped[str | None] = mapped_column(String(32), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(nullable=True)
    first_response_breached_at: Mapped[datetime | None] = mapped_column(nullable=True)
    resolution_breached_at: Mapped[datetime | None] = mapped_column(nullable=True)
    updated_at: Mapped[datetime]


class CaseNoteRow(Base):
    """An internal note on a case: seen by the team, never sent to the customer."""

    __tablename__ = "case_notes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    alert_id: Mapped[int] = mapped_column(BigId, ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    author: Mapped[str] = mapped_column(String(128))
    text: Mapped[str] = mapped_column(Text)


class ResponderStatusRow(Base):
    """Whether a responder is on (takes auto-assigned cases); absent means off."""

    __tablename__ = "responder_status"

    user_name: Mapped[str] = mapped_column(String(128), primary_key=True)
    available: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime]


class CaseRotationRow(Base):
    """Where a team's round-robin auto-assignment stands: who got the last case."""

    __tablename__ = "case_rotation"

    team: Mapped[str] = mapped_column(String(128), primary_key=True)
    last_user: Mapped[str | None] = mapped_column(String(128), nullable=True)
    updated_at: Mapped[datetime]
