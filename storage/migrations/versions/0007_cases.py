"""cases: cases, SLA clocks, internal notes

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 13:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# 64-bit ids on PostgreSQL like every id since 0005; SQLite keeps INTEGER for its rowid.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _when(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("alert_id", ID, nullable=False),
        sa.Column("team", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        _when("opened_at"),
        _when("first_response_at", nullable=True),
        sa.Column("first_response_by", sa.String(length=128), nullable=True),
        sa.Column("first_response_via", sa.String(length=32), nullable=True),
        _when("resolved_at", nullable=True),
        _when("first_response_breached_at", nullable=True),
        _when("resolution_breached_at", nullable=True),
        _when("updated_at"),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("alert_id"),
    )
    op.create_index("ix_cases_team_status", "cases", ["team", "status"])
    op.create_table(
        "case_notes",
        sa.Column("id", ID, nullable=False),
        sa.Column("alert_id", ID, nullable=False),
        _when("at"),
        sa.Column("author", sa.String(length=128), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_case_notes_alert_id", "case_notes", ["alert_id"])
    op.create_table(
        "responder_status",
        sa.Column("user_name", sa.String(length=128), nullable=False),
        sa.Column("available", sa.Boolean(), nullable=False),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("user_name"),
    )
    op.create_table(
        "case_rotation",
        sa.Column("team", sa.String(length=128), nullable=False),
        sa.Column("last_user", sa.String(length=128), nullable=True),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("team"),
    )
    # Every alert already stored gets its case, in the state its alert is in, so the inbox and
    # the SLA figures cover history too. Acknowledged maps to in progress.
    op.execute(
        "INSERT INTO cases (alert_id, team, status, opened_at, resolved_at, updated_at) "
        "SELECT id, team, CASE status WHEN 'resolved' THEN 'resolved' "
        "WHEN 'acknowledged' THEN 'in_progress' ELSE 'open' END, "
        "created_at, resolved_at, updated_at FROM alerts"
    )


def downgrade() -> None:
    op.drop_table("case_rotation")
    op.drop_table("responder_status")
    op.drop_index("ix_case_notes_alert_id", table_name="case_notes")
    op.drop_table("case_notes")
    op.drop_index("ix_cases_team_status", table_name="cases")
    op.drop_table("cases")
