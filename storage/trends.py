"""Aggregate queries for dashboards: volume, sentiment, share of voice, top categories and authors.

Every function takes a session and never commits. Buckets are UTC hours or
days; they are computed in SQL with a dialect-aware expression (SQLite
``strftime``, PostgreSQL ``date_trunc``) so only one row per bucket and brand
leaves the database, and series are filled with zeros in Python so charts get
one value per bucket.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVarTuple

from sqlalchemy import ColumnElement, Select, func, literal_column, select, true
from sqlalchemy.orm import Session

from domain import AlertStatus, Sentiment, Urgency
from storage.models import AlertRow, AuthorRow, ClassificationRow, MentionBrandRow, MentionRow

Bucket = Literal["hour", "day"]
# What a trend counts: every stored mention, or each near-duplicate story once.
Unit = Literal["mentions", "stories"]
BUCKET_SIZES: dict[str, timedelta] = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
UNCLASSIFIED = "unclassified"
SENTIMENTS: tuple[str, ...] = (*(str(s) for s in Sentiment), UNCLASSIFIED)
_Row = TypeVarTuple("_Row")


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


def utc(at: datetime) -> datetime:
    """``at`` in UTC; naive values are taken to be UTC already."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def floor_bucket(at: datetime, bucket: Bucket) -> datetime:
    """The start of the UTC bucket that contains ``at``."""
    at = utc(at).replace(minute=0, second=0, microsecond=0)
    return at.replace(hour=0) if bucket == "day" else at


def bucket_starts(since: datetime, until: datetime, bucket: Bucket) -> list[datetime]:
    """Starts of every bucket overlapping [since, until), oldest first."""
    step = BUCKET_SIZES[bucket]
    start, end = floor_bucket(since, bucket), utc(until)
    starts: list[datetime] = []
    while start < end:
        starts.append(start)
        start += step
    return starts


def _bucket_expr(session: Session, bucket: Bucket) -> ColumnElement[Any]:
    # Literal SQL fragments, not bound parameters: PostgreSQL only accepts the SELECT
    # expression in GROUP BY when both are textually identical, and ``bucket`` is a closed set.
    if bucket not in BUCKET_SIZES:
        raise ValueError(f"unknown bucket {bucket!r}")
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        in_utc = func.timezone(literal_column("'UTC'"), MentionRow.published_at)
        return func.date_trunc(literal_column(f"'{bucket}'"), in_utc)
    if dialect == "sqlite":
        # SQLite keeps UTC wall time as text, 'YYYY-MM-DD HH:MM:SS[.ffffff]'.
        fmt = "%Y-%m-%d 00:00:00" if bucket == "day" else "%Y-%m-%d %H:00:00"
        return func.strftime(literal_column(f"'{fmt}'"), MentionRow.published_at)
    raise NotImplementedError(f"time buckets are not implemented for {dialect}")


def _parse_bucket(value: Any) -> datetime:
    if isinstance(value, datetime):
        return utc(value)
    return datetime.strptime(str(value), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


def _window(stmt: Select[*_Row], since: datetime, until: datetime) -> Select[*_Row]:
    return stmt.where(MentionRow.published_at >= utc(since), MentionRow.published_at < utc(until))


def _brand_filter(stmt: Select[*_Row], brands: Sequence[str] | None) -> Select[*_Row]:
    return stmt if brands is None else stmt.where(MentionBrandRow.brand.in_(list(brands)))


def _counter(unit: Unit) -> ColumnElement[Any]:
    # A story is a near-duplicate cluster: a retweet or a syndicated copy adds no new story.
    if unit == "stories":
        return func.count(func.distinct(func.coalesce(MentionRow.cluster_id, MentionRow.id)))
    return func.count()


def volume(
    session: Session,
    *,
    since: datetime,
    until: datetime,
    bucket: Bucket = "hour",
    brands: Sequence[str] | None = None,
    unit: Unit = "mentions",
) -> dict[str, list[int]]:
    """Mentions (or distinct stories) per brand per bucket, aligned with ``bucket_starts``.

    ``brands=None`` means every brand seen in the window; listed brands with no
    mentions get a series of zeros.
    """
    starts = bucket_starts(since, until, bucket)
    index = {start: i for i, start in enumerate(starts)}
    series: dict[str, list[int]] = {b: [0] * len(starts) for b in brands or ()}
    bucket_col = _bucket_expr(session, bucket).label("bucket")
    stmt = select(MentionBrandRow.brand, bucket_col, _counter(unit)).join(
        MentionRow, MentionRow.id == MentionBrandRow.mention_id
    )
    stmt = _brand_filter(_window(stmt, since, until), brands).group_by(MentionBrandRow.brand, bucket_col)
    for brand, raw_bucket, count in session.execute(stmt):
        slot = index.get(_parse_bucket(raw_bucket))
        if slot is not None:
            series.setdefault(brand, [0] * len(starts))[slot] += int(count)
    return series


def sentiment(
    session: Session,
    *,
    since: datetime,
    until: datetime,
    bucket: Bucket = "hour",
    brands: Sequence[str] | None = None,
) -> dict[str, dict[str, list[int]]]:
    """Mentions per brand per sentiment per bucket; mentions not classified yet count as 'unclassified'."""
    starts = bucket_starts(since, until, bucket)
    index = {start: i for i, start in enumerate(starts)}

    def empty() -> dict[str, list[int]]:
        return {s: [0] * len(starts) for s in SENTIMENTS}

    series: dict[str, dict[str, list[int]]] = {b: empty() for b in brands or ()}
    bucket_col = _bucket_expr(session, bucket).label("bucket")
    stmt = (
        select(MentionBrandRow.brand, bucket_col, ClassificationRow.sentiment, func.count())
        .join(MentionRow, MentionRow.id == MentionBrandRow.mention_id)
        .outerjoin(ClassificationRow, ClassificationRow.mention_id == MentionRow.id)
    )
    stmt = _brand_filter(_window(stmt, since, until), brands).group_by(
        MentionBrandRow.brand, bucket_col, ClassificationRow.sentiment
    )
    for brand, raw_bucket, feeling, count in session.execute(stmt):
        slot = index.get(_parse_bucket(raw_bucket))
        if slot is None:
            continue
        per_sentiment = series.setdefault(brand, empty())
        # NULL (no classification yet) and any label outside the three sentiments land here.
        key = feeling if feeling in per_sentiment else UNCLASSIFIED
        per_sentiment[key][slot] += int(count)
    return series


def share_of_voice(
    session: Session, *, brands: Sequence[str], since: datetime, until: datetime, unit: Unit = "mentions"
) -> list[BrandShare]:
    """Each brand's mentions in [since, until) and its share of all of ``brands``' mentions.

    A mention naming two of the brands counts once for each, so shares add up to 1
    (or are all 0 when nobody mentioned any of them). Ordered as ``brands``.
    """
    names = list(dict.fromkeys(brands))
    if not names:
        return []
    stmt = select(MentionBrandRow.brand, _counter(unit)).join(
        MentionRow, MentionRow.id == MentionBrandRow.mention_id
    )
    stmt = _brand_filter(_window(stmt, since, until), names).group_by(MentionBrandRow.brand)
    counts = {brand: int(count) for brand, count in session.execute(stmt)}
    total = sum(counts.values())
    return [BrandShare(b, counts.get(b, 0), counts.get(b, 0) / total if total else 0.0) for b in names]


def _mentions_in(since: datetime, until: datetime, brand: str | None) -> Select[int]:
    ids = _window(select(MentionRow.id), since, until)
    if brand is not None:
        ids = ids.where(
            MentionRow.id.in_(select(MentionBrandRow.mention_id).where(MentionBrandRow.brand == brand))
        )
    return ids


def top_categories(
    session: Session, *, since: datetime, until: datetime, brand: str | None = None, limit: int = 10
) -> list[tuple[str, int]]:
    """The most frequent categories of classified mentions in the window, most frequent first."""
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
        .limit(limit)
    )
    return [(str(name), int(n)) for name, n in session.execute(stmt)]


def top_authors(
    session: Session, *, since: datetime, until: datetime, brand: str | None = None, limit: int = 10
) -> list[AuthorCount]:
    """Authors with the most mentions in the window (ties: most engagement), most first."""
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


def busiest_brands(session: Session, *, since: datetime, until: datetime, limit: int = 10) -> list[str]:
    """Brands with the most mentions in the window, for when no brands are configured."""
    count = func.count().label("n")
    stmt = (
        select(MentionBrandRow.brand, count)
        .join(MentionRow, MentionRow.id == MentionBrandRow.mention_id)
        .group_by(MentionBrandRow.brand)
        .order_by(count.desc(), MentionBrandRow.brand)
        .limit(limit)
    )
    return [brand for brand, _ in session.execute(_window(stmt, since, until))]
