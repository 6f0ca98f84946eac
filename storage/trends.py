"""Aggregate queries for dashboards: volume, sentiment, share of voice, top categories and authors.

Every function takes a session and never commits. Buckets are UTC hours, days or
weeks (starting Monday). Counts read the hourly rollups (``storage.rollups``) for the
whole hours of a window and the raw rows only for a partial first or last hour, so a
30-day chart reads a few thousand rollup rows whatever the mention volume;
``use_rollups=False`` groups the raw rows instead (the same answer, for checks and
benchmarks). Series are filled with zeros in Python so charts get one value per bucket.
Top authors read the raw rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, exists, func, select, true
from sqlalchemy.orm import Session

from domain import AlertStatus, Urgency
from storage.models import AlertRow, AuthorRow, ClassificationRow, MentionBrandRow, MentionRow
from storage.rollup_tables import ALL_BRANDS, RollupCategoryRow
from storage.trend_tally import BUCKET_SIZES as BUCKET_SIZES
from storage.trend_tally import SENTIMENTS as SENTIMENTS
from storage.trend_tally import UNCLASSIFIED as UNCLASSIFIED
from storage.trend_tally import Bucket as Bucket
from storage.trend_tally import Unit as Unit
from storage.trend_tally import bucket_starts as bucket_starts
from storage.trend_tally import floor_bucket as floor_bucket
from storage.trend_tally import split_hours as split_hours
from storage.trend_tally import tally, window
from storage.trend_tally import utc as utc


@dataclass(frozen=True, slots=True)
class BrandShare:
    """One brand's mentions in a period and its share of all the brands compared."""

    brand: str
    mentions: int
    share: float


@dataclass(frozen=True, slots=True)
class AuthorCount:
    """An author and how much they said about the brands in a period."""

    source_kind: str
    handle: str
    display_name: str
    followers: int | None
    url: str | None
    mentions: int
    engagement: int


def volume(
    session: Session,
    *,
    since: datetime,
    until: datetime,
    bucket: Bucket = "hour",
    brands: Sequence[str] | None = None,
    unit: Unit = "mentions",
    use_rollups: bool = True,
) -> dict[str, list[int]]:
    """Mentions (or stories) per brand per bucket, aligned with ``bucket_starts``.

    ``brands=None`` means every brand seen in the window; listed brands with no
    mentions get a series of zeros. ``use_rollups=False`` groups the raw rows instead
    (same answer, slower; for checks and benchmarks).
    """
    starts = bucket_starts(since, until, bucket)
    index = {start: i for i, start in enumerate(starts)}
    series: dict[str, list[int]] = {b: [0] * len(starts) for b in brands or ()}
    counts = tally(session, since, until, bucket=bucket, brands=brands, unit=unit, use_rollups=use_rollups)
    for (brand, start, _), count in counts.items():
        slot = index.get(start) if start is not None else None
        if slot is not None:
            # Not setdefault: its default list would be built for every rollup row.
            row = series.get(brand)
            if row is None:
                row = series[brand] = [0] * len(starts)
            row[slot] += count
    return series


def sentiment(
    session: Session,
    *,
    since: datetime,
    until: datetime,
    bucket: Bucket = "hour",
    brands: Sequence[str] | None = None,
    use_rollups: bool = True,
) -> dict[str, dict[str, list[int]]]:
    """Mentions per brand per sentiment per bucket; mentions not classified yet count as 'unclassified'."""
    starts = bucket_starts(since, until, bucket)
    index = {start: i for i, start in enumerate(starts)}

    def empty() -> dict[str, list[int]]:
        return {s: [0] * len(starts) for s in SENTIMENTS}

    series: dict[str, dict[str, list[int]]] = {b: empty() for b in brands or ()}
    counts = tally(
        session, since, until, bucket=bucket, brands=brands, by_sentiment=True, use_rollups=use_rollups
    )
    for (brand, start, feeling), count in counts.items():
        slot = index.get(start) if start is not None else None
        if slot is not None and feeling is not None:
            # Not setdefault: its default lists would be built for every rollup row.
            lines = series.get(brand)
            if lines is None:
                lines = series[brand] = empty()
            lines[feeling][slot] += count
    return series


def share_of_voice(
    session: Session,
    *,
    brands: Sequence[str],
    since: datetime,
    until: datetime,
    unit: Unit = "mentions",
    use_rollups: bool = True,
) -> list[BrandShare]:
    """Each brand's mentions in [since, until) and its share of all of ``brands``' mentions.

    A mention naming two of the brands counts once for each, so shares add up to 1
    (or are all 0 when nobody mentioned any of them). Ordered as ``brands``.
    """
    names = list(dict.fromkeys(brands))
    if not names:
        return []
    found = tally(session, since, until, bucket=None, brands=names, unit=unit, use_rollups=use_rollups)
    counts = {brand: n for (brand, _, _), n in found.items()}
    total = sum(counts.values())
    return [BrandShare(b, counts.get(b, 0), counts.get(b, 0) / total if total else 0.0) for b in names]


def _mentions_in(since: datetime, until: datetime, brand: str | None) -> Select[int]:
    ids = window(select(MentionRow.id), since, until)
    if brand is not None:
        # A correlated EXISTS probes the (mention_id, brand) key per mention of the window; an IN list
        # of the brand's mention ids would read every mention of the brand first.
        ids = ids.where(
            exists().where(MentionBrandRow.mention_id == MentionRow.id, MentionBrandRow.brand == brand)
        )
    return ids


def _raw_categories(
    session: Session, since: datetime, until: datetime, brand: str | None, limit: int | None
) -> list[tuple[str, int]]:
    dialect = session.get_bind().dialect.name
    # Both backends let a table function in FROM read the row before it (implicitly lateral).
    if dialect == "postgresql":
        elements = func.json_array_elements_text(ClassificationRow.categories).table_valued("value")
        category = elements.render_derived(name="category")  # AS category(value)
    elif dialect == "sqlite":
        # json_each already names its columns (key, value, ...); SQLite rejects a column alias list.
        category = func.json_each(ClassificationRow.categories).table_valued("value").alias("category")
    else:
        raise NotImplementedError(f"category counts are not implemented for {dialect}")
    count = func.count().label("n")
    stmt = (
        select(category.c.value, count)
        .select_from(ClassificationRow)
        .join(category, true())
        .where(ClassificationRow.mention_id.in_(_mentions_in(since, until, brand)))
        .group_by(category.c.value)
        .order_by(count.desc(), category.c.value)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    return [(str(name), int(n)) for name, n in session.execute(stmt)]


def top_categories(
    session: Session,
    *,
    since: datetime,
    until: datetime,
    brand: str | None = None,
    limit: int = 10,
    use_rollups: bool = True,
) -> list[tuple[str, int]]:
    """The most frequent categories of classified mentions in the window, most frequent first."""
    if not use_rollups:
        return _raw_categories(session, since, until, brand, limit)
    whole, edges = split_hours(since, until)
    counts: Counter[str] = Counter()
    if whole is not None:
        table = RollupCategoryRow
        stmt = (
            select(table.category, func.sum(table.mentions))
            .where(
                table.hour >= whole[0],
                table.hour < whole[1],
                table.brand == (ALL_BRANDS if brand is None else brand),
            )
            .group_by(table.category)
        )
        for name, n in session.execute(stmt):
            counts[str(name)] += int(n or 0)
    for lo, hi in edges:
        for name, n in _raw_categories(session, lo, hi, brand, None):
            counts[name] += n
    ranked = sorted(((name, n) for name, n in counts.items() if n > 0), key=lambda x: (-x[1], x[0]))
    return ranked[:limit]


def top_authors(
    session: Session,
    *,
    since: datetime,
    until: datetime,
    brand: str | None = None,
    limit: int = 10,
) -> list[AuthorCount]:
    """Authors with the most mentions in the window, most first (by reach: ``storage.reach``).

    Mentions from the brands' own accounts never count. Ties: most engagement, then handle.
    """
    mentions = func.count(MentionRow.id).label("mentions")
    engagement = func.coalesce(func.sum(MentionRow.likes + MentionRow.shares + MentionRow.replies), 0)
    stmt = (
        select(AuthorRow, mentions, engagement.label("engagement"))
        .join(MentionRow, MentionRow.author_id == AuthorRow.id)
        .where(MentionRow.id.in_(_mentions_in(since, until, brand)), MentionRow.owned.is_(False))
        .group_by(AuthorRow.id)
        .order_by(mentions.desc(), engagement.desc(), AuthorRow.handle)
        .limit(limit)
    )
    return [
        AuthorCount(
            source_kind=a.source_kind,
            handle=a.handle,
            display_name=a.display_name,
            followers=a.followers,
            url=a.url,
            mentions=int(n),
            engagement=int(e),
        )
        for a, n, e in session.execute(stmt)
    ]


def open_alerts_by_urgency(session: Session) -> dict[str, int]:
    """How many alerts are firing or acknowledged, per urgency level (every level present)."""
    counts = {str(u): 0 for u in Urgency}
    stmt = (
        select(AlertRow.urgency, func.count())
        .where(AlertRow.status.in_([str(AlertStatus.FIRING), str(AlertStatus.ACKNOWLEDGED)]))
        .group_by(AlertRow.urgency)
    )
    for urgency, count in session.execute(stmt):
        counts[str(urgency)] = counts.get(str(urgency), 0) + int(count)
    return counts


def busiest_brands(
    session: Session, *, since: datetime, until: datetime, limit: int = 10, use_rollups: bool = True
) -> list[str]:
    """Brands with the most mentions in the window, for when no brands are configured."""
    found = tally(session, since, until, bucket=None, brands=None, use_rollups=use_rollups)
    counts: Counter[str] = Counter()
    for (brand, _, _), n in found.items():
        counts[brand] += n
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [brand for brand, _ in ranked[:limit]]
