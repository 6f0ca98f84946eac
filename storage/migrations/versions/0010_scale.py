"""scale: shared state for scaled-out workers

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 13:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Kept in step with storage.scale_tables.OPEN_ALERT_WHERE (a migration must not import models).
_OPEN = "status != 'resolved' AND kind = 'mention'"


def upgrade() -> None:
    op.create_table(
        "source_states",
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("lease_holder", sa.String(length=64), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=255), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source"),
    )
    op.create_table(
        "channel_windows",
        sa.Column("channel", sa.String(length=128), nullable=False),
        sa.Column("window_start", sa.Integer(), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("channel", "window_start"),
    )
    op.create_table(
        "neardup_signatures",
        sa.Column("mention_id", _big(), nullable=False, autoincrement=False),
        sa.Column("cluster_id", _big(), nullable=False),
        sa.Column("hashvalues", sa.LargeBinary(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("mention_id"),
    )
    op.create_index("ix_neardup_signatures_added", "neardup_signatures", ["added_at"])
    op.create_table(
        "neardup_bands",
        sa.Column("bucket", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("mention_id", _big(), nullable=False, autoincrement=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("bucket", "mention_id"),
    )
    op.create_index("ix_neardup_bands_added", "neardup_bands", ["added_at"])
    # Duplicate open alerts a race left behind (before this index) would block it: fold them
    # into the oldest by resolving the later copies, which keeps their audit trail.
    op.execute(
        sa.text(
            "UPDATE alerts SET status = 'resolved' WHERE kind = 'mention' AND status != 'resolved' "
            "AND id NOT IN (SELECT MIN(id) FROM alerts WHERE kind = 'mention' AND status != 'resolved' "
            "GROUP BY group_key)"
        )
    )
    op.create_index(
        "uq_alerts_open_group_key",
        "alerts",
        ["group_key"],
        unique=True,
        postgresql_where=sa.text(_OPEN),
        sqlite_where=sa.text(_OPEN),
    )


def _big() -> sa.types.TypeEngine[int]:
    # 64-bit ids on PostgreSQL; SQLite's INTEGER is 64-bit already.
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def downgrade() -> None:
    op.drop_index("ix_neardup_bands_added", table_name="neardup_bands")
    op.drop_table("neardup_bands")
    op.drop_index("ix_neardup_signatures_added", table_name="neardup_signatures")
    op.drop_table("neardup_signatures")
    op.drop_index("uq_alerts_open_group_key", table_name="alerts")
    op.drop_table("channel_windows")
    op.drop_table("source_states")
