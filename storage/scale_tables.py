"""Shared state for scaled-out workers: source leases and back-off, channel send windows, one open
alert per story, and the near-duplicate index (signatures and LSH bands).

They live on ``storage.models.Base`` so Alembic and the test fixtures see them; migration 0010
creates them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, String, delete, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from storage.models import AlertRow, Base, BigId

# One open (not resolved) mention alert per group key, so two workers folding the same story at
# once cannot raise two alerts: the second insert fails and is folded into the first.
OPEN_ALERT_WHERE = "status != 'resolved' AND kind = 'mention'"
OPEN_ALERT_INDEX = Index(
    "uq_alerts_open_group_key",
    AlertRow.__table__.c.group_key,
    unique=True,
    postgresql_where=text(OPEN_ALERT_WHERE),
    sqlite_where=text(OPEN_ALERT_WHERE),
)


class SourceStateRow(Base):
    """Who is collecting a source right now, and when it may be collected next.

    The lease spans one whole run (collect, classify, store) so two workers never fetch the same
    source at once; ``not_before`` holds a source back after a rate limit or repeated failures.
    """

    __tablename__ = "source_states"

    source: Mapped[str] = mapped_column(String(128), primary_key=True)
    lease_holder: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    not_before: Mapped[datetime | None] = mapped_column(nullable=True)
    reason: Mapped[str | None] = mapped_column(String(255), nullable=True)
    updated_at: Mapped[datetime]


class ChannelWindowRow(Base):
    """Messages sent to one channel in one minute, counted across every worker."""

    __tablename__ = "channel_windows"

    channel: Mapped[str] = mapped_column(String(128), primary_key=True)
    window_start: Mapped[int] = mapped_column(Integer, primary_key=True)
    sent: Mapped[int] = mapped_column(Integer, default=0)


def take_send_slot(session: Session, channel: str, *, limit: int, now: datetime) -> float | None:
    """Count one message to ``channel`` in this minute, across every worker; None when allowed.

    Otherwise the seconds until the next minute opens. One atomic upsert (``ON CONFLICT DO UPDATE
    ... WHERE sent < limit``) so two workers cannot both take the last slot.
    """
    window = int(now.timestamp() // 60)
    table = ChannelWindowRow.__table__
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table).values(channel=channel, window_start=window, sent=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=["channel", "window_start"],
        set_={"sent": table.c.sent + 1},
        where=table.c.sent < limit,
    ).returning(table.c.sent)
    taken = session.execute(stmt).first()
    # Old windows are never read again.
    session.execute(delete(ChannelWindowRow).where(ChannelWindowRow.window_start < window - 2))
    if taken is not None:
        return None
    return 60.0 - (now.timestamp() % 60)


class NearDupSignatureRow(Base):
    """A recent mention's MinHash signature and cluster, shared by every worker (storage.neardup)."""

    __tablename__ = "neardup_signatures"
    __table_args__ = (Index("ix_neardup_signatures_added", "added_at"),)

    mention_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    cluster_id: Mapped[int] = mapped_column(BigId)
    # NUM_PERM unsigned 64-bit hash values, little-endian.
    hashvalues: Mapped[bytes] = mapped_column(LargeBinary)
    added_at: Mapped[datetime]


class NearDupBandRow(Base):
    """One LSH band key of a recent mention: mentions sharing a key are near-duplicate candidates."""

    __tablename__ = "neardup_bands"
    __table_args__ = (Index("ix_neardup_bands_added", "added_at"),)

    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    mention_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    added_at: Mapped[datetime]
