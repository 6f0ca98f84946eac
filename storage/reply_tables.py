"""The replies table: one row per reply drafted on an alert, from draft to posted (migration 0008)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, BigId


class ReplyRow(Base):
    """A reply to the post behind an alert.

    ``state`` moves draft -> (pending_approval -> approved) -> posting -> posted, or to failed
    (the draft is kept) or unknown (a person must check the source). ``posting`` is committed
    before the source is called, so a crash leaves a trace to reconcile instead of a duplicate.
    """

    __tablename__ = "replies"
    __table_args__ = (
        UniqueConstraint("idempotency_key", name="uq_replies_idempotency_key"),
        Index("ix_replies_alert", "alert_id", "created_at"),
        Index("ix_replies_state", "state", "posting_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    alert_id: Mapped[int] = mapped_column(BigId, ForeignKey("alerts.id", ondelete="CASCADE"))
    mention_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("mentions.id", ondelete="SET NULL"), nullable=True
    )
    team: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(128))
    source_kind: Mapped[str] = mapped_column(String(64))
    target_id: Mapped[str] = mapped_column(String(512))
    text: Mapped[str] = mapped_column(Text)
    template: Mapped[str | None] = mapped_column(String(64), nullable=True)
    state: Mapped[str] = mapped_column(String(24))
    idempotency_key: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # The last failure may have published the reply anyway (timeout, 5xx): look before retrying.
    needs_check: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    retry_after: Mapped[datetime | None] = mapped_column(nullable=True)
    remote_id: Mapped[str | None] = mapped_column(String(512), nullable=True)
    remote_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    drafted_by: Mapped[str] = mapped_column(String(128))
    approved_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(nullable=True)
    posted_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    posting_at: Mapped[datetime | None] = mapped_column(nullable=True)
    posted_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
