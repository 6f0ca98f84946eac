"""Saved searches: a named view (a page and its query string) that one user keeps.

Migration 0011 creates the table. ``user_id`` is the signed-in user's id; it carries no
foreign key so saved searches do not depend on how accounts are stored.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, BigId


class SavedSearchRow(Base):
    """One user's named search: the page it belongs to and the query string that rebuilds it."""

    __tablename__ = "saved_searches"
    __table_args__ = (
        UniqueConstraint("user_id", "name", name="uq_saved_searches_user_name"),
        Index("ix_saved_searches_user", "user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigId)
    name: Mapped[str] = mapped_column(String(128))
    page: Mapped[str] = mapped_column(String(32))
    query: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
