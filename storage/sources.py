"""Collector cursors and source health. Functions take a session and never commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import CursorRow, SourceHealthRow


def get_cursor(session: Session, source: str) -> dict[str, Any] | None:
    """The stored cursor of ``source``, or None before its first successful run."""
    row = session.get(CursorRow, source)
    return dict(row.cursor) if row is not None else None


def set_cursor(session: Session, source: str, cursor: dict[str, Any] | None, *, now: datetime) -> None:
    """Store ``source``'s cursor; call it in the transaction that stores the mentions it covers."""
    if cursor is None:
        return
    row = session.get(CursorRow, source)
    if row is None:
        session.add(CursorRow(source=source, cursor=cursor, updated_at=now))
    else:
        row.cursor = cursor
        row.updated_at = now


def _health(session: Session, source: str, kind: str) -> SourceHealthRow:
    row = session.get(SourceHealthRow, source)
    if row is None:
        row = SourceHealthRow(
            source=source,
            kind=kind,
            consecutive_failures=0,
            consecutive_empty=0,
            items_last_run=0,
            total_runs=0,
            total_failures=0,
            total_items=0,
        )
        session.add(row)
    return row


def record_success(session: Session, *, source: str, kind: str, items: int, now: datetime) -> SourceHealthRow:
    """Count a successful run that stored ``items`` new mentions."""
    row = _health(session, source, kind)
    row.last_run_at = now
    row.last_success_at = now
    row.consecutive_failures = 0
    row.consecutive_empty = 0 if items else row.consecutive_empty + 1
    row.items_last_run = items
    row.total_runs += 1
    row.total_items += items
    return row


def record_failure(session: Session, *, source: str, kind: str, error: str, now: datetime) -> SourceHealthRow:
    """Count a failed run and keep its error for `earshot sources`."""
    row = _health(session, source, kind)
    row.last_run_at = now
    row.last_error_at = now
    row.last_error = error[:2000]
    row.consecutive_failures += 1
    row.items_last_run = 0
    row.total_runs += 1
    row.total_failures += 1
    return row


def list_health(session: Session) -> list[SourceHealthRow]:
    """Health of every source that has run, by name."""
    return list(session.scalars(select(SourceHealthRow).order_by(SourceHealthRow.source)))
