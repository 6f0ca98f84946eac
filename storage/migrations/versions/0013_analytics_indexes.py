"""analytics indexes: authors by reach and each author's mentions over time

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26 16:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Top authors by reach walk the authors by followers and probe each one's mentions of the
    # window (storage.reach), instead of grouping every mention of it.
    op.create_index("ix_authors_followers", "authors", ["followers"])
    op.create_index("ix_mentions_author_published", "mentions", ["author_id", "published_at"])


def downgrade() -> None:
    op.drop_index("ix_mentions_author_published", table_name="mentions")
    op.drop_index("ix_authors_followers", table_name="authors")
