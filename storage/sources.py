"""Collector cursors and source health. Functions take a session and never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import CursorRow, SourceHealthRow

_MAX_ERROR = 4000


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
    row.last_error = error[:_MAX_ERROR]
    row.consecutive_failures += 1
    row.items_last_run = 0
    row.total_runs += 1
    row.total_failures += 1
    return row


PARTS_FAILED = "parts failed"


def record_partial(
    session: Session, *, source: str, kind: str, items: int, failures: Sequence[str], now: datetime
) -> SourceHealthRow:
    """Count a run that stored ``items`` but whose listed parts (feeds, searches...) failed.

    It is a success for the parts that worked (their mentions and cursors are stored) and a
    failure for the source: it adds to ``consecutive_failures``, so the health alert fires when
    parts keep failing, and ``last_error`` lists every failed part, one a line.
    """
    streak = _health(session, source, kind).consecutive_failures or 0
    row = record_success(session, source=source, kind=kind, items=items, now=now)
    row.last_error_at = now
    row.last_error = (f"{len(failures)} {PARTS_FAILED}: " + "\n".join(failures))[:_MAX_ERROR]
    row.consecutive_failures = streak + 1
    row.total_failures += 1
    return row


def failing_parts(row: SourceHealthRow) -> list[str]:
    """The parts that failed in the source's last run, when that run otherwise succeeded."""
    error = row.last_error or ""
    # A clean run resets the streak; a partial one stamps success and error with the same time.
    partial = row.last_run_at is not None and row.last_run_at == row.last_success_at == row.last_error_at
    if not partial or not row.consecutive_failures:
        return []
    head, _, rest = error.partition(": ")
    if not head.endswith(PARTS_FAILED):
        return []
    return [line for line in rest.split("\n") if line]


def list_health(session: Session) -> list[SourceHealthRow]:
    """Health of every source that has run, by name."""
    return list(session.scalars(select(SourceHealthRow).order_by(SourceHealthRow.source)))
