"""mentions.owned (posts by the brand's own accounts) and classifications.model_sha256

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 10:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("mentions") as batch:
        batch.add_column(sa.Column("owned", sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table("classifications") as batch:
        batch.add_column(sa.Column("model_sha256", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("classifications") as batch:
        batch.drop_column("model_sha256")
    with op.batch_alter_table("mentions") as batch:
        batch.drop_column("owned")
