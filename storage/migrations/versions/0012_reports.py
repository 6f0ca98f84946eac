"""report_sends: weekly reports sent per team and period

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26 14:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# 64-bit on PostgreSQL like every id; SQLite keeps INTEGER PRIMARY KEY (its rowid).
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "report_sends",
        sa.Column("id", _ID, nullable=False),
        sa.Column("team", sa.String(length=128), nullable=False),
        sa.Column("period_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recipients", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("team", "period_until", name="uq_report_sends_team_period"),
    )


def downgrade() -> None:
    op.drop_table("report_sends")
