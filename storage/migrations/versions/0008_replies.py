"""replies: replies posted where the customer spoke

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 13:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# 64-bit ids on PostgreSQL like every id since 0005; SQLite keeps INTEGER (its rowid alias).
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _when(name: str, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "replies",
        sa.Column("id", _ID, nullable=False),
        sa.Column("alert_id", _ID, nullable=False),
        sa.Column("mention_id", _ID, nullable=True),
        sa.Column("team", sa.String(length=128), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("source_kind", sa.String(length=64), nullable=False),
        sa.Column("target_id", sa.String(length=512), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("template", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("needs_check", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        _when("retry_after"),
        sa.Column("remote_id", sa.String(length=512), nullable=True),
        sa.Column("remote_url", sa.Text(), nullable=True),
        sa.Column("drafted_by", sa.String(length=128), nullable=False),
        sa.Column("approved_by", sa.String(length=128), nullable=True),
        _when("approved_at"),
        sa.Column("posted_by", sa.String(length=128), nullable=True),
        _when("posting_at"),
        _when("posted_at"),
        _when("created_at", nullable=False),
        _when("updated_at", nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["mention_id"], ["mentions.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key", name="uq_replies_idempotency_key"),
    )
    op.create_index("ix_replies_alert", "replies", ["alert_id", "created_at"])
    op.create_index("ix_replies_state", "replies", ["state", "posting_at"])


def downgrade() -> None:
    op.drop_index("ix_replies_state", table_name="replies")
    op.drop_index("ix_replies_alert", table_name="replies")
    op.drop_table("replies")
