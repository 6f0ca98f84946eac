"""Collector cursors and source health. Functions take a session and never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.models import CursorRow, SourceHealthRow
from storage.scale_tables import SourceStateRow

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


def claim_run(session: Session, source: str, *, holder: str, now: datetime, lease: timedelta) -> str | None:
    """Lease ``source`` to ``holder`` for one run; None when granted, else why not.

    Refused while another holder's lease is live (two workers never fetch one source at once) or
    while the source is held back (``hold_until``: a rate limit, failures in a row). The
    conditional UPDATE makes two workers racing for one source safe: only one wins.
    """
    table = SourceStateRow.__table__
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(
        dialect.insert(table)
        .values(source=source, updated_at=now)
        .on_conflict_do_nothing(index_elements=["source"])
    )
    granted = session.execute(
        update(SourceStateRow)
        .where(
            SourceStateRow.source == source,
            or_(
                SourceStateRow.lease_holder.is_(None),
                SourceStateRow.lease_holder == holder,
                SourceStateRow.lease_expires_at <= now,
            ),
            or_(SourceStateRow.not_before.is_(None), SourceStateRow.not_before <= now),
        )
        .values(lease_holder=holder, lease_expires_at=now + lease, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if granted.rowcount == 1:  # type: ignore[attr-defined]
        return None
    row = session.get_one(SourceStateRow, source, populate_existing=True)
    if row.not_before is not None and row.not_before > now:
        return f"held until {row.not_before.isoformat()}: {row.reason or 'backing off'}"
    return f"being collected by {row.lease_holder}"


def release_run(session: Session, source: str, *, holder: str, now: datetime) -> None:
    """End ``holder``'s lease on ``source`` (in the transaction that stores the run, or after a failure)."""
    session.execute(
        update(SourceStateRow)
        .where(and_(SourceStateRow.source == source, SourceStateRow.lease_holder == holder))
        .values(lease_holder=None, lease_expires_at=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )


def hold_until(session: Session, source: str, *, until: datetime, reason: str, now: datetime) -> None:
    """Collect ``source`` no sooner than ``until`` (a collector's RateLimited.until, a back-off)."""
    row = session.get(SourceStateRow, source)
    if row is None:
        row = SourceStateRow(source=source, updated_at=now)
        session.add(row)
    row.not_before = until
    row.reason = reason[:255]
    row.updated_at = now


def backoff_delay(consecutive_failures: int, *, interval: float, cap: float) -> float:
    """Seconds to hold a failing source back: none after one failure, then doubling from its interval."""
    if consecutive_failures < 2:
        return 0.0
    return float(min(cap, interval * 2 ** min(consecutive_failures - 2, 30)))


def held_until(session: Session, source: str) -> datetime | None:
    """When ``source`` may next be collected, if it is held back."""
    row = session.get(SourceStateRow, source)
    return row.not_before if row is not None else None
