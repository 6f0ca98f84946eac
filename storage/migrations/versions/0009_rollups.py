"""rollups: analytics rollups

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 13:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rollup_counts",
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("brand", sa.String(length=128), nullable=False),
        sa.Column("sentiment", sa.String(length=16), nullable=False),
        sa.Column("mentions", sa.BigInteger(), nullable=False),
        sa.Column("stories", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("hour", "brand", "sentiment"),
    )
    op.create_table(
        "rollup_categories",
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("brand", sa.String(length=128), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("mentions", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("hour", "brand", "category"),
    )
    # Mentions already stored are rolled up here, so trends stay right across the upgrade.
    from storage.rollups import rebuild_window

    bind = op.get_bind()
    rebuild_window(bind, since=None, until=None)


def downgrade() -> None:
    op.drop_table("rollup_categories")
    op.drop_table("rollup_counts")
