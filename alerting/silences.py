"""Silences: matchers with a start, an end, an author and a comment, stored in the database.

An alert matching an active silence is still stored, with the silence in its audit trail, but
nobody is notified and it does not escalate. Keyword-only service functions shared by the CLI
and the web API; they take a session and never commit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from alerting.matchers import ALERT_FIELDS, Matcher, MatcherError, evaluate_all, parse_matchers
from storage import silences as silence_repo
from storage.alerting_tables import SilenceRow


class SilenceError(ValueError):
    """The silence cannot be created or changed; the message says why."""


def is_active(row: SilenceRow, now: datetime) -> bool:
    """True when ``row`` silences alerts raised at ``now``."""
    return row.starts_at <= now < row.ends_at


def state(row: SilenceRow, now: datetime) -> str:
    """pending, active or expired."""
    if now < row.starts_at:
        return "pending"
    return "active" if now < row.ends_at else "expired"


def create_silence(
    session: Session,
    *,
    matchers: Mapping[str, Any],
    ends_at: datetime,
    author: str,
    comment: str,
    now: datetime,
    starts_at: datetime | None = None,
) -> SilenceRow:
    """Store a silence after checking its matchers, times, author and comment."""
    if not matchers:
        raise SilenceError("a silence needs at least one matcher (a silence of everything is a mistake)")
    try:
        parse_matchers(matchers, fields=ALERT_FIELDS)
    except MatcherError as exc:
        raise SilenceError(str(exc)) from None
    starts = starts_at or now
    if ends_at <= starts:
        raise SilenceError("the silence must end after it starts")
    if not author.strip():
        raise SilenceError("a silence needs an author")
    if not comment.strip():
        raise SilenceError("a silence needs a comment saying why")
    row = SilenceRow(
        matchers=dict(matchers),
        starts_at=starts,
        ends_at=ends_at,
        created_by=author.strip()[:128],
        comment=comment.strip(),
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def list_silences(session: Session, *, now: datetime, include_expired: bool = False) -> list[SilenceRow]:
    """Silences, newest first; only pending and active ones unless ``include_expired``."""
    return silence_repo.list_silences(session, now=now, include_expired=include_expired)


def expire_silence(session: Session, *, silence_id: int, actor: str, now: datetime) -> SilenceRow:
    """End a silence now; alerts raised from now on are delivered again."""
    row = session.get(SilenceRow, silence_id)
    if row is None:
        raise SilenceError(f"silence #{silence_id} does not exist")
    if row.ends_at <= now:
        raise SilenceError(f"silence #{silence_id} has already expired")
    row.ends_at = max(now, row.starts_at)
    row.expired_by = actor[:128]
    return row


def compiled(row: SilenceRow) -> list[Matcher]:
    """A stored silence's matchers, parsed."""
    return parse_matchers(row.matchers, fields=ALERT_FIELDS)


def matching_silence(
    session: Session,
    labels: Mapping[str, Any],
    *,
    now: datetime,
    active: Sequence[SilenceRow] | None = None,
) -> SilenceRow | None:
    """The oldest active silence whose matchers all hold for ``labels``, if any.

    ``active`` is ``storage.silences.active_silences`` read once for a batch; by default it is
    read here.
    """
    rows = silence_repo.active_silences(session, now=now) if active is None else active
    for row in rows:
        try:
            if evaluate_all(compiled(row), labels) is not None:
                return row
        except MatcherError:
            continue  # validated on creation; a row edited by hand must not stop alerting
    return None


def describe(row: SilenceRow) -> str:
    """``brand = Lumora, text =~ refund`` for listings and audit notes."""
    return ", ".join(_describe_one(field, raw) for field, raw in row.matchers.items())


def _describe_one(field: str, raw: Any) -> str:
    try:
        return f"{field} {parse_matchers({field: raw}, fields=ALERT_FIELDS)[0].spec()}"
    except MatcherError as exc:
        # A row stored before patterns ran on RE2 (or edited by hand) must still be listable.
        return f"{field} {raw} (invalid: {exc})"
