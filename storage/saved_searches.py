"""Saved-search repository: save (or replace), list and delete one user's named searches.

Every function takes a session and never commits: the caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from storage.search_tables import SavedSearchRow

# The pages a saved search can reopen; anything else would be an open redirect.
PAGES: dict[str, str] = {"mentions": "/mentions", "overview": "/"}


@dataclass(frozen=True, slots=True)
class SavedSearch:
    """A named search as its owner sees it."""

    id: int
    name: str
    page: str
    query: str
    created_at: datetime
    updated_at: datetime

    @property
    def url(self) -> str:
        """The page URL that reopens this search."""
        base = PAGES.get(self.page, "/mentions")
        return f"{base}?{self.query}" if self.query else base


def _out(row: SavedSearchRow) -> SavedSearch:
    return SavedSearch(row.id, row.name, row.page, row.query, row.created_at, row.updated_at)


def save_search(
    session: Session, *, user_id: int, name: str, page: str, query: str, now: datetime
) -> SavedSearch:
    """Store a named search for ``user_id``; saving an existing name replaces that search."""
    if page not in PAGES:
        raise ValueError(f"page must be one of {', '.join(PAGES)}")
    row = session.scalar(
        select(SavedSearchRow).where(SavedSearchRow.user_id == user_id, SavedSearchRow.name == name)
    )
    if row is None:
        row = SavedSearchRow(
            user_id=user_id, name=name, page=page, query=query, created_at=now, updated_at=now
        )
        session.add(row)
    else:
        row.page, row.query, row.updated_at = page, query, now
    session.flush()
    return _out(row)


def list_searches(session: Session, *, user_id: int) -> list[SavedSearch]:
    """``user_id``'s saved searches, by name."""
    rows = session.scalars(
        select(SavedSearchRow).where(SavedSearchRow.user_id == user_id).order_by(SavedSearchRow.name)
    )
    return [_out(row) for row in rows]


def delete_search(session: Session, *, user_id: int, search_id: int) -> bool:
    """Delete one of ``user_id``'s searches; False when it does not exist or belongs to someone else."""
    result = session.execute(
        delete(SavedSearchRow).where(SavedSearchRow.id == search_id, SavedSearchRow.user_id == user_id)
    )
    return bool(getattr(result, "rowcount", 0))
