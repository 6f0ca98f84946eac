"""bigint_ids: 64-bit ids on PostgreSQL

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 13:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every id column of revisions 0001-0004: primary keys and the columns that point at them.
ID_COLUMNS: dict[str, tuple[str, ...]] = {
    "authors": ("id",),
    "mentions": ("id", "author_id", "cluster_id"),
    "mention_brands": ("mention_id",),
    "classifications": ("mention_id",),
    "alerts": ("id", "mention_id"),
    "alert_events": ("id", "alert_id"),
    "deliveries": ("id", "alert_id"),
    "alert_groups": ("id",),
    "alert_group_members": ("alert_id", "group_id"),
    "silences": ("id",),
    "alert_escalations": ("alert_id",),
    "alert_monitors": ("alert_id",),
    "installation": ("id",),
}


def _alter(type_: str) -> None:
    # SQLite: INTEGER is already 64-bit, and an INTEGER PRIMARY KEY must stay INTEGER to remain
    # the rowid alias that numbers new rows, so there is nothing to change there.
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for table, columns in ID_COLUMNS.items():
        changes = ", ".join(f'ALTER COLUMN "{c}" TYPE {type_}' for c in columns)
        op.execute(f'ALTER TABLE "{table}" {changes}')
        for column in columns:
            # SERIAL made an `AS integer` sequence, which would stop at 2^31-1 on its own.
            sequence = bind.execute(
                sa.text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table, "c": column}
            ).scalar()
            if sequence:
                op.execute(f"ALTER SEQUENCE {sequence} AS {type_}")


def upgrade() -> None:
    _alter("BIGINT")


def downgrade() -> None:
    _alter("INTEGER")
