"""Queries behind team digests: per-brand volumes and the most engaged mentions of a period.

The schedule and the wording live in ``alerting.digests``. Functions take a session and never
commit. (``storage.report_queries.most_engaged`` is the weekly report's variant: it leaves the
brand's own posts out and returns plain values, where the digest counts every mention.)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from storage.models import ClassificationRow, MentionBrandRow, MentionRow


def brand_counts(
    session: Session, *, brands: Sequence[str], since: datetime, until: datetime
) -> dict[str, tuple[int, int]]:
    """Per brand with mentions published in [since, until): (mentions, negative mentions)."""
    negative = func.sum(case((ClassificationRow.sentiment == "negative", 1), else_=0))
    rows = session.execute(
        select(MentionBrandRow.brand, func.count(), negative)
        .join(MentionRow, MentionRow.id == MentionBrandRow.mention_id)
        .outerjoin(ClassificationRow, ClassificationRow.mention_id == MentionRow.id)
        .where(
            MentionBrandRow.brand.in_(list(brands)),
            MentionRow.published_at >= since,
            MentionRow.published_at < until,
        )
        .group_by(MentionBrandRow.brand)
    )
    return {brand: (int(n), int(neg or 0)) for brand, n, neg in rows}


def most_engaged(
    session: Session, *, brands: Sequence[str], since: datetime, until: datetime, limit: int
) -> list[MentionRow]:
    """Mentions of ``brands`` published in [since, until), most likes + shares + replies first."""
    return list(
        session.scalars(
            select(MentionRow)
            .where(
                MentionRow.id.in_(
                    select(MentionBrandRow.mention_id).where(MentionBrandRow.brand.in_(list(brands)))
                ),
                and_(MentionRow.published_at >= since, MentionRow.published_at < until),
            )
            .order_by((MentionRow.likes + MentionRow.shares + MentionRow.replies).desc(), MentionRow.id)
            .limit(limit)
        )
        .unique()
        .all()
    )
