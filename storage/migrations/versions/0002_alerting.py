"""alerting state: notification groups, silences, escalations in flight, periodic monitors

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 01:03:53.069835
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Registers the tables on Base.metadata until storage.models imports this module itself, so
# autogenerate and the schema-equals-models test see them.
import storage.alerting_tables  # noqa: F401

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "alert_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_key", sa.String(length=512), nullable=False),
        sa.Column("route_name", sa.String(length=128), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("group_wait", sa.Float(), nullable=False),
        sa.Column("group_interval", sa.Float(), nullable=False),
        sa.Column("repeat_interval", sa.Float(), nullable=True),
        _when("started_at"),
        _when("next_flush_at", nullable=True),
        _when("last_flushed_at", nullable=True),
        _when("next_repeat_at", nullable=True),
        sa.Column("repeats", sa.Integer(), nullable=False),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("group_key", name="uq_alert_groups_key"),
    )
    op.create_index("ix_alert_groups_repeat", "alert_groups", ["next_repeat_at"])
    op.create_table(
        "alert_group_members",
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["group_id"], ["alert_groups.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("alert_id"),
    )
    op.create_index("ix_alert_group_members_group_id", "alert_group_members", ["group_id"])
    op.create_table(
        "silences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("matchers", sa.JSON(), nullable=False),
        _when("starts_at"),
        _when("ends_at"),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        _when("created_at"),
        sa.Column("expired_by", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_silences_active", "silences", ["ends_at"])
    op.create_table(
        "alert_escalations",
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("team", sa.String(length=128), nullable=False),
        sa.Column("chain", sa.JSON(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        _when("next_at", nullable=True),
        _when("updated_at"),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("alert_id"),
    )
    op.create_index("ix_alert_escalations_due", "alert_escalations", ["state", "next_at"])
    op.create_table(
        "alert_monitors",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        _when("started_at", nullable=True),
        _when("checked_at"),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("alert_monitors")
    op.drop_index("ix_alert_escalations_due", table_name="alert_escalations")
    op.drop_table("alert_escalations")
    op.drop_index("ix_silences_active", table_name="silences")
    op.drop_table("silences")
    op.drop_index("ix_alert_group_members_group_id", table_name="alert_group_members")
    op.drop_table("alert_group_members")
    op.drop_index("ix_alert_groups_repeat", table_name="alert_groups")
    op.drop_table("alert_groups")
