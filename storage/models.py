"""SQLAlchemy 2 models. Alembic owns the schema; these mirror it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

# Every id (primary keys and the columns pointing at them): 64-bit on PostgreSQL, so tables grow
# past 2^31 rows and any id the API accepts (up to 2^63-1) can be looked up. SQLite keeps
# INTEGER, because only an INTEGER PRIMARY KEY is the rowid alias (64-bit there already) that
# numbers new rows; a BIGINT PRIMARY KEY would not autoincrement.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Store UTC; refuse naive datetimes so no local time sneaks in."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; use timezone-aware UTC")
        # SQLite keeps the wall-clock digits only, so convert before it drops the offset.
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Attach UTC to values SQLite hands back naive."""
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC) if value is not None else None


class Base(DeclarativeBase):
    """Declarative base for every Earshot table."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


class AuthorRow(Base):
    """An author as seen on one source."""

    __tablename__ = "authors"
    __table_args__ = (UniqueConstraint("source_kind", "handle", name="uq_authors_source_handle"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source_kind: Mapped[str] = mapped_column(String(64))
    handle: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(255), default="")
    followers: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    url: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime]


class MentionRow(Base):
    """A stored mention; (source, external_id) is unique so storing is idempotent."""

    __tablename__ = "mentions"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_mentions_source_external_id"),
        Index("ix_mentions_published_at", "published_at"),
        Index("ix_mentions_collected_at", "collected_at"),
        Index("ix_mentions_cluster", "cluster_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source: Mapped[str] = mapped_column(String(128))
    source_kind: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(512))
    url: Mapped[str | None] = mapped_column(Text, nullable=True)
    title: Mapped[str | None] = mapped_column(Text, nullable=True)
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(16), nullable=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("authors.id"), nullable=True)
    published_at: Mapped[datetime]
    collected_at: Mapped[datetime]
    likes: Mapped[int] = mapped_column(Integer, default=0)
    shares: Mapped[int] = mapped_column(Integer, default=0)
    replies: Mapped[int] = mapped_column(Integer, default=0)
    views: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    queries: Mapped[list[Any]] = mapped_column(JSON, default=list)
    raw: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Near-duplicates (retweets, syndicated stories) point at the first mention of their story.
    cluster_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    # Posted by one of the brand's own accounts: kept out of alerts and top authors.
    owned: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    author: Mapped[AuthorRow | None] = relationship(lazy="joined")
    brands: Mapped[list[MentionBrandRow]] = relationship(lazy="selectin", cascade="all, delete-orphan")
    classification: Mapped[ClassificationRow | None] = relationship(lazy="joined", uselist=False)


class MentionBrandRow(Base):
    """One brand a mention matched; a separate table so trends can filter and group by brand."""

    __tablename__ = "mention_brands"
    __table_args__ = (Index("ix_mention_brands_brand", "brand", "mention_id"),)

    mention_id: Mapped[int] = mapped_column(ForeignKey("mentions.id", ondelete="CASCADE"), primary_key=True)
    brand: Mapped[str] = mapped_column(String(128), primary_key=True)


class ClassificationRow(Base):
    """The classifier's verdict on one mention."""

    __tablename__ = "classifications"

    mention_id: Mapped[int] = mapped_column(ForeignKey("mentions.id", ondelete="CASCADE"), primary_key=True)
    sentiment: Mapped[str] = mapped_column(String(16), index=True)
    sentiment_scores: Mapped[dict[str, Any]] = mapped_column(JSON)
    urgency: Mapped[str] = mapped_column(String(16), index=True)
    urgency_score: Mapped[float] = mapped_column(Float)
    categories: Mapped[list[Any]] = mapped_column(JSON)
    category_scores: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    language: Mapped[str | None] = mapped_column(String(16), nullable=True)
    model_version: Mapped[str] = mapped_column(String(128))
    model_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    signals: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reduced_confidence: Mapped[bool] = mapped_column(default=False)
    classified_at: Mapped[datetime]


class AlertRow(Base):
    """An alert, with the route snapshot and reason that raised it."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_status_created", "status", "created_at"),
        Index("ix_alerts_group_key", "group_key"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    mention_id: Mapped[int | None] = mapped_column(ForeignKey("mentions.id"), nullable=True)
    brand: Mapped[str | None] = mapped_column(String(128), nullable=True)
    title: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text)
    urgency: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    team: Mapped[str] = mapped_column(String(128))
    route_name: Mapped[str] = mapped_column(String(128))
    route_snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text)
    group_key: Mapped[str] = mapped_column(String(512))
    count: Mapped[int] = mapped_column(Integer, default=1)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    assignee: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None] = mapped_column(nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(128), nullable=True)

    mention: Mapped[MentionRow | None] = relationship(lazy="joined")


class AlertEventRow(Base):
    """The audit trail of an alert: fired, routed, delivered, acknowledged, resolved..."""

    __tablename__ = "alert_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(128), default="earshot")
    note: Mapped[str] = mapped_column(Text, default="")


class DeliveryRow(Base):
    """The outbox: one row per alert per channel per action, delivered at least once."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("idempotency_key", name="uq_deliveries_idempotency_key"),
        Index("ix_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(32), default="fire")
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    idempotency_key: Mapped[str] = mapped_column(String(255))
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime]


class CursorRow(Base):
    """Where a source left off; written in the same transaction as the mentions it covers."""

    __tablename__ = "collector_cursors"

    source: Mapped[str] = mapped_column(String(128), primary_key=True)
    cursor: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime]


class SourceHealthRow(Base):
    """Per-source run statistics for `earshot sources` and health alerts."""

    __tablename__ = "source_health"

    source: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    last_run_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_success_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_error_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    consecutive_empty: Mapped[int] = mapped_column(Integer, default=0)
    items_last_run: Mapped[int] = mapped_column(Integer, default=0)
    total_runs: Mapped[int] = mapped_column(Integer, default=0)
    total_failures: Mapped[int] = mapped_column(Integer, default=0)
    total_items: Mapped[int] = mapped_column(BigInteger, default=0)


class InstallationRow(Base):
    """This installation's identity: one row, created by migration 0004 (or on first use)."""

    __tablename__ = "installation"

    # Always 1: a fixed key makes a second concurrent insert fail instead of adding a second id.
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    installation_id: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime]


import storage.account_tables  # noqa: E402
import storage.alerting_tables  # noqa: E402  (registers the alerting tables on Base.metadata)
import storage.case_tables  # noqa: E402
import storage.reply_tables  # noqa: E402
import storage.report_tables  # noqa: E402
import storage.rollup_tables  # noqa: E402
import storage.scale_tables  # noqa: E402
import storage.search_tables  # noqa: E402, F401
