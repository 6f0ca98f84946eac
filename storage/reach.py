"""Top authors by reach without grouping every mention of the window.

The ranking is by followers first, so the answer is the authors with the most followers who
posted (not as the brand) about the brands in the window. Walking the authors by followers,
most first, and probing each one's mentions of the window (``ix_authors_followers`` and
``ix_mentions_author_published``) finds them after a few dozen probes on a busy window, where
grouping the raw rows reads every mention of it. Only the authors found are then counted, and
the result is sorted exactly as the grouped query sorts it, so both give the same answer
(``tests/storage/test_analytics.py`` checks that on random data).

A quiet window (few mentions, so possibly few active authors among many) is grouped from the
raw rows instead: there that is cheap and the walk could probe many authors in vain.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, exists, false, func, select
from sqlalchemy.orm import Session

from storage.models import AuthorRow, MentionBrandRow, MentionRow
from storage.trend_tally import tally, utc
from storage.trends import AuthorCount

# Below this many brand mentions in the window, grouping the raw rows is the cheaper plan.
RAW_MAX = 5000


def about(brands: Sequence[str] | None) -> list[ColumnElement[bool]]:
    """Conditions on MentionRow: it names one of ``brands`` (None: any mention; []: none).

    A correlated EXISTS probes the (mention_id, brand) key per mention; ``IN (SELECT ...)``
    made SQLite read every mention the brand ever had before looking at the window.
    """
    if brands is None:
        return []
    if not brands:
        return [false()]
    named = exists().where(
        MentionBrandRow.mention_id == MentionRow.id, MentionBrandRow.brand.in_(list(brands))
    )
    return [named.correlate(MentionRow)]


def _posted(since: datetime, until: datetime, brands: Sequence[str] | None) -> list[ColumnElement[bool]]:
    # What makes a mention count for an author: in the window, about the brands, not the brand's own.
    return [
        MentionRow.published_at >= utc(since),
        MentionRow.published_at < utc(until),
        MentionRow.owned.is_(False),
        *about(brands),
    ]


def _grouped(
    session: Session,
    posted: list[ColumnElement[bool]],
    *,
    limit: int | None,
    where: Sequence[ColumnElement[bool]] = (),
) -> list[AuthorCount]:
    """The ranking grouped from the raw rows (the definition the walk must agree with)."""
    mentions = func.count(MentionRow.id).label("mentions")
    engagement = func.coalesce(func.sum(MentionRow.likes + MentionRow.shares + MentionRow.replies), 0)
    reach = func.coalesce(AuthorRow.followers, -1)
    stmt = (
        select(AuthorRow, mentions, engagement.label("engagement"))
        .join(MentionRow, MentionRow.author_id == AuthorRow.id)
        .where(*posted, *where)
        .group_by(AuthorRow.id)
        .order_by(reach.desc(), mentions.desc(), AuthorRow.handle)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    return [
        AuthorCount(a.source_kind, a.handle, a.display_name, a.followers, a.url, int(n), int(e))
        for a, n, e in session.execute(stmt)
    ]


def _walk(session: Session, posted: list[ColumnElement[bool]], limit: int) -> list[AuthorCount]:
    active: Any = exists().where(MentionRow.author_id == AuthorRow.id, *posted).correlate(AuthorRow)
    known = AuthorRow.followers >= 0
    first = list(
        session.execute(
            select(AuthorRow.id, AuthorRow.followers)
            .where(known, active)
            .order_by(AuthorRow.followers.desc())
            .limit(limit)
        )
    )
    ids = [author_id for author_id, _ in first]
    found: list[AuthorCount] = []
    if ids:
        if len(first) == limit:
            # Authors tied with the last one may outrank it on mentions: count them all.
            tied = AuthorRow.followers == first[-1][1]
            ids += [i for i in session.scalars(select(AuthorRow.id).where(tied, active)) if i not in ids]
        # The grouped query itself orders the candidates, so ties sort by the database's collation
        # exactly as they would over every author.
        found = _grouped(session, posted, limit=limit, where=[MentionRow.author_id.in_(ids)])
    if len(first) < limit:
        # Every active author with a known reach is in; the rest rank below them, by mentions.
        unknown = func.coalesce(AuthorRow.followers, -1) < 0
        found += _grouped(session, posted, limit=limit - len(found), where=[unknown])
    return found


def top_authors_by_reach(
    session: Session,
    *,
    since: datetime,
    until: datetime,
    brands: Sequence[str] | None = None,
    limit: int = 10,
    walk: bool | None = None,
) -> list[AuthorCount]:
    """Authors with the most followers who mentioned ``brands`` in the window; owned posts excluded.

    Ties (and authors whose followers are unknown, listed last) go to whoever said more.
    ``walk`` picks the plan (None: by the window's volume in the rollups); both answer the same.
    """
    if limit <= 0:
        return []
    posted = _posted(since, until, brands)
    if walk is None:
        counts = tally(session, since, until, bucket=None, brands=brands)
        walk = sum(counts.values()) > RAW_MAX
    if not walk:
        return _grouped(session, posted, limit=limit)
    return _walk(session, posted, limit)
