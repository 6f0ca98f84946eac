"""Queries behind spike detection: a brand's mention counts per window and the mentions themselves.

The statistics (baselines, thresholds, term scoring) live in ``alerting.spikes``; these functions
only count and read rows. They take a session and never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session

from storage.models import ClassificationRow, MentionBrandRow, MentionRow


def _in(start: datetime, end: datetime) -> ColumnElement[bool]:
    return and_(MentionRow.published_at >= start, MentionRow.published_at < end)


def _brand_rows(brand: str) -> ColumnElement[bool]:
    return MentionRow.id.in_(select(MentionBrandRow.mention_id).where(MentionBrandRow.brand == brand))


def first_published(session: Session, *, brand: str) -> datetime | None:
    """When the brand's oldest stored mention was published, or None without any."""
    # An ordered scan that stops at the first hit is cheaper than min() here.
    return session.scalar(
        select(MentionRow.published_at).where(_brand_rows(brand)).order_by(MentionRow.published_at).limit(1)
    )


def window_counts(
    session: Session, *, brand: str, windows: Sequence[tuple[datetime, datetime]]
) -> list[tuple[int, int]]:
    """Per [start, end) window, the brand's mentions and the negative ones among them, in one query."""
    negative = ClassificationRow.sentiment == "negative"
    columns = []
    for start, end in windows:
        columns.append(func.sum(case((_in(start, end), 1), else_=0)))
        columns.append(func.sum(case((and_(_in(start, end), negative), 1), else_=0)))
    stmt = (
        select(*columns)
        .select_from(MentionRow)
        .outerjoin(ClassificationRow, ClassificationRow.mention_id == MentionRow.id)
        .where(_brand_rows(brand), or_(*(_in(s, e) for s, e in windows)))
    )
    values = [int(v or 0) for v in session.execute(stmt).one()]
    return list(zip(values[0::2], values[1::2], strict=True))


def mentions_in(
    session: Session, *, brand: str, since: datetime, until: datetime, limit: int
) -> list[MentionRow]:
    """The brand's mentions published in [since, until), newest first, at most ``limit``."""
    return list(
        session.scalars(
            select(MentionRow)
            .where(_brand_rows(brand), _in(since, until))
            .order_by(MentionRow.published_at.desc())
            .limit(limit)
        ).unique()
    )


def texts_in(
    session: Session, *, brand: str, since: datetime, until: datetime, limit: int
) -> list[tuple[str | None, str]]:
    """Title and text of the brand's mentions published in [since, until), newest first."""
    rows = session.execute(
        select(MentionRow.title, MentionRow.text)
        .where(_brand_rows(brand), _in(since, until))
        .order_by(MentionRow.published_at.desc())
        .limit(limit)
    ).all()
    return [(title, text) for title, text in rows]
