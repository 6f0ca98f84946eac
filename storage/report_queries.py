"""Queries behind weekly reports: the most engaged mentions of a week, and the record of what was sent.

Every function takes a session and never commits. ``claim_report`` is what stops a restart or a
second process from sending a team's week twice: the row it inserts (or retakes) is the claim.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.analytics import _in_window
from storage.models import AuthorRow, ClassificationRow, MentionRow
from storage.reach import about
from storage.report_tables import ReportSendRow
from storage.trends import utc

# A claim older than this whose process never said how the send went (it died) may be retaken.
STALE_CLAIM = timedelta(minutes=30)
# A report that failed this many times is left failed: the next week's report is the next try.
MAX_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class EngagedMention:
    """A mention of the week with its engagement (likes + shares + replies)."""

    id: int
    published_at: datetime
    author: str | None
    text: str
    url: str | None
    sentiment: str | None
    engagement: int


@dataclass(frozen=True, slots=True)
class ReportSend:
    """What was recorded about one team's report for one period."""

    team: str
    period_since: datetime
    period_until: datetime
    status: str
    attempts: int
    sent_at: datetime | None
    recipients: str
    detail: str


def most_engaged(
    session: Session, *, since: datetime, until: datetime, brands: Sequence[str], limit: int = 5
) -> list[EngagedMention]:
    """The most engaged mentions of ``brands`` in the window, owned posts left out; ties: older id first."""
    engagement = MentionRow.likes + MentionRow.shares + MentionRow.replies
    stmt = (
        select(MentionRow, AuthorRow.handle, ClassificationRow.sentiment, engagement)
        .outerjoin(AuthorRow, AuthorRow.id == MentionRow.author_id)
        .outerjoin(ClassificationRow, ClassificationRow.mention_id == MentionRow.id)
        .where(*_in_window(since, until), *about(brands), MentionRow.owned.is_(False))
        .order_by(engagement.desc(), MentionRow.id)
        .limit(limit)
    )
    return [
        EngagedMention(m.id, utc(m.published_at), handle, m.text, m.url, feeling, int(e))
        for m, handle, feeling, e in session.execute(stmt)
    ]


def claim_report(
    session: Session, *, team: str, since: datetime, until: datetime, recipients: str, now: datetime
) -> bool:
    """Claim the team's report for [since, until); False when it was sent or another process holds it."""
    key = and_(ReportSendRow.team == team, ReportSendRow.period_until == utc(until))
    if session.scalar(select(ReportSendRow.id).where(key)) is None:
        try:
            with session.begin_nested():
                session.add(
                    ReportSendRow(
                        team=team,
                        period_since=utc(since),
                        period_until=utc(until),
                        status="sending",
                        attempts=1,
                        claimed_at=now,
                        recipients=recipients,
                        detail="",
                    )
                )
            return True
        except IntegrityError:
            return False  # another process inserted it between our look and our insert
    # Retake a failed send, or a claim whose process died; the WHERE makes the retake atomic.
    retake = (
        update(ReportSendRow)
        .where(
            key,
            ReportSendRow.attempts < MAX_ATTEMPTS,
            or_(
                ReportSendRow.status == "failed",
                and_(ReportSendRow.status == "sending", ReportSendRow.claimed_at < now - STALE_CLAIM),
            ),
        )
        .values(status="sending", attempts=ReportSendRow.attempts + 1, claimed_at=now, recipients=recipients)
        .execution_options(synchronize_session=False)
    )
    return bool(session.execute(retake).rowcount)  # type: ignore[attr-defined]


def finish_report(
    session: Session, *, team: str, until: datetime, sent: bool, detail: str, now: datetime
) -> None:
    """Record how a claimed send went: ``sent`` (with its time) or ``failed``."""
    session.execute(
        update(ReportSendRow)
        .where(ReportSendRow.team == team, ReportSendRow.period_until == utc(until))
        .values(status="sent" if sent else "failed", sent_at=now if sent else None, detail=detail[:2000])
        .execution_options(synchronize_session=False)
    )


def report_sends(session: Session, *, team: str | None = None) -> list[ReportSend]:
    """What was recorded about weekly reports, oldest period first."""
    stmt = select(ReportSendRow).order_by(ReportSendRow.period_until, ReportSendRow.team)
    if team is not None:
        stmt = stmt.where(ReportSendRow.team == team)
    return [
        ReportSend(
            r.team,
            utc(r.period_since),
            utc(r.period_until),
            r.status,
            r.attempts,
            utc(r.sent_at) if r.sent_at else None,
            r.recipients,
            r.detail,
        )
        for r in session.scalars(stmt)
    ]
