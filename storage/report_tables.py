"""Weekly reports sent: one row per team and week, so a restart or a second process never sends twice.

Migration 0012 creates the table. The unique (team, period_until) key is the claim: whoever
inserts the row sends the report; a failed send leaves it ``failed`` for the next run to retake.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, BigId


class ReportSendRow(Base):
    """One team's weekly report for one period: claimed, sent or failed."""

    __tablename__ = "report_sends"
    __table_args__ = (UniqueConstraint("team", "period_until", name="uq_report_sends_team_period"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    team: Mapped[str] = mapped_column(String(128))
    period_since: Mapped[datetime]
    period_until: Mapped[datetime]
    # sending (claimed, in flight), sent or failed
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_at: Mapped[datetime]
    sent_at: Mapped[datetime | None] = mapped_column(nullable=True)
    recipients: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[str] = mapped_column(Text, default="")
