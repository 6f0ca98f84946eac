"""How trends count: group the hourly rollups for whole hours and the raw rows for partial ones.

Internal to ``storage.trends`` (which re-exports the public names); split out to keep both
modules small. Every function takes a session and never commits.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVarTuple

from sqlalchemy import ColumnElement, Select, case, func, literal_column, select
from sqlalchemy.orm import Session

from domain import Sentiment
from storage import rollups
from storage.models import ClassificationRow, MentionBrandRow, MentionRow
from storage.rollup_tables import RollupCountRow

Bucket = Literal["hour", "day", "week"]
# What a trend counts: every stored mention, or each near-duplicate story once (at its first mention).
Unit = Literal["mentions", "stories"]
BUCKET_SIZES: dict[str, timedelta] = {
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
    "week": timedelta(weeks=1),
}
UNCLASSIFIED = rollups.UNCLASSIFIED
SENTIMENTS: tuple[str, ...] = (*(str(s) for s in Sentiment), UNCLASSIFIED)
_KNOWN: tuple[str, ...] = tuple(str(s) for s in Sentiment)
_Row = TypeVarTuple("_Row")


def utc(at: datetime) -> datetime:
    """``at`` in UTC; naive values are taken to be UTC already."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def floor_bucket(at: datetime, bucket: Bucket) -> datetime:
    """The start of the UTC bucket that contains ``at`` (weeks start on Monday)."""
    at = utc(at).replace(minute=0, second=0, microsecond=0)
    if bucket == "hour":
        return at
    day = at.replace(hour=0)
    return day - timedelta(days=day.weekday()) if bucket == "week" else day


def bucket_starts(since: datetime, until: datetime, bucket: Bucket) -> list[datetime]:
    """Starts of every bucket overlapping [since, until), oldest first."""
    step = BUCKET_SIZES[bucket]
    start, end = floor_bucket(since, bucket), utc(until)
    starts: list[datetime] = []
    while start < end:
        starts.append(start)
        start += step
    return starts


def bucket_expr(session: Session, bucket: Bucket) -> ColumnElement[Any]:
    """The SQL start of each mention's bucket (raw rows), as the backend returns it."""
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
        if bucket == "week":
            # Back six days, then forward to a Monday: the Monday on or before the day.
            return func.strftime(
                literal_column("'%Y-%m-%d 00:00:00'"),
                MentionRow.published_at,
                literal_column("'-6 days'"),
                literal_column("'weekday 1'"),
            )
        fmt = "%Y-%m-%d 00:00:00" if bucket == "day" else "%Y-%m-%d %H:00:00"
        return func.strftime(literal_column(f"'{fmt}'"), MentionRow.published_at)
    raise NotImplementedError(f"time buckets are not implemented for {dialect}")


# Rollup hours are integers, so coarser buckets are integer division (1970-01-01 was a Thursday,
# hence the 3 days that make weeks start on Monday).
_ROLLUP_BUCKETS = {
    "hour": "rollup_counts.hour",
    "day": "rollup_counts.hour / 24",
    "week": "(rollup_counts.hour / 24 + 3) / 7",
}


def _rollup_bucket_start(index: int, bucket: Bucket) -> datetime:
    if bucket == "hour":
        return rollups.hour_start(index)
    if bucket == "day":
        return rollups.EPOCH + timedelta(days=index)
    return rollups.EPOCH + timedelta(days=7 * index - 3)


def _parse_bucket(value: Any) -> datetime:
    if isinstance(value, datetime):
        return utc(value)
    return datetime.strptime(str(value), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


def window(stmt: Select[*_Row], since: datetime, until: datetime) -> Select[*_Row]:
    """``stmt`` limited to mentions published in [since, until)."""
    return stmt.where(MentionRow.published_at >= utc(since), MentionRow.published_at < utc(until))


def brand_filter(stmt: Select[*_Row], brands: Sequence[str] | None, dialect: str = "") -> Select[*_Row]:
    """``stmt`` limited to ``brands`` (None: every brand)."""
    if brands is None:
        return stmt
    brand: Any = MentionBrandRow.brand
    if dialect == "sqlite":
        # ``brand || ''`` cannot use the brand index: without ANALYZE statistics (SQLite never
        # gathers them on its own) the planner would walk every mention of the brand, not the
        # window's. PostgreSQL keeps statistics (autovacuum) and picks the right plan by itself.
        brand = brand + literal_column("''")
    return stmt.where(brand.in_(list(brands)))


# (brand, bucket start or None, sentiment or None) -> count
_Key = tuple[str, datetime | None, str | None]


def _feeling(label: Any) -> str:
    # NULL (no classification yet) and any label outside the three sentiments count as unclassified.
    return label if label in SENTIMENTS else UNCLASSIFIED


def _raw_tally(
    session: Session,
    since: datetime,
    until: datetime,
    *,
    bucket: Bucket | None,
    brands: Sequence[str] | None,
    by_sentiment: bool,
    unit: Unit,
) -> Counter[_Key]:
    """Group the raw mention rows of [since, until)."""
    measure = func.count() if unit == "mentions" else func.sum(rollups.story_flag())
    cols: list[Any] = [MentionBrandRow.brand]
    if bucket is not None:
        cols.append(bucket_expr(session, bucket).label("bucket"))
    if by_sentiment:
        cols.append(ClassificationRow.sentiment)
    stmt = select(*cols, measure).join(MentionRow, MentionRow.id == MentionBrandRow.mention_id)
    if by_sentiment:
        stmt = stmt.outerjoin(ClassificationRow, ClassificationRow.mention_id == MentionRow.id)
    dialect = session.get_bind().dialect.name
    stmt = brand_filter(window(stmt, since, until), brands, dialect).group_by(*cols)
    out: Counter[_Key] = Counter()
    for row in session.execute(stmt):
        start = _parse_bucket(row[1]) if bucket is not None else None
        feeling = _feeling(row[-2]) if by_sentiment else None
        out[(row[0], start, feeling)] += int(row[-1] or 0)
    return out


def _rollup_tally(
    session: Session,
    hours: tuple[int, int],
    *,
    bucket: Bucket | None,
    brands: Sequence[str] | None,
    by_sentiment: bool,
    unit: Unit,
) -> Counter[_Key]:
    """Group the rollup rows of the whole hours [hours[0], hours[1])."""
    table = RollupCountRow
    value = table.mentions if unit == "mentions" else table.stories
    keys: list[Any] = []
    if bucket is not None:
        keys.append(literal_column(_ROLLUP_BUCKETS[bucket]).label("bucket"))
    keys.append(table.brand)
    measures: list[Any] = [func.sum(value)]
    if by_sentiment:
        # One row per bucket and brand with a column per sentiment, not a row per sentiment: a
        # 30-day hourly chart fetches a quarter of the rows. Whatever the three columns leave
        # of the total is unclassified, exactly as ``_feeling`` files it.
        measures += [func.sum(case((table.sentiment == s, value), else_=0)) for s in _KNOWN]
    stmt = select(*keys, *measures).where(table.hour >= hours[0], table.hour < hours[1])
    if brands is not None:
        stmt = stmt.where(table.brand.in_(list(brands)))
    # Hourly buckets group in the primary key's order (hour, brand): no temporary sort.
    stmt = stmt.group_by(*keys)
    out: Counter[_Key] = Counter()
    starts: dict[int, datetime] = {}
    width = len(keys)
    # Core, not ORM, execution: the ORM's per-row handling cost more than the query.
    for row in session.connection().execute(stmt).all():
        start: datetime | None = None
        if bucket is not None:
            # One datetime per bucket, not one per row.
            start = starts.get(row[0])
            if start is None:
                start = starts[row[0]] = _rollup_bucket_start(int(row[0]), bucket)
        brand = row[width - 1]
        total = int(row[width] or 0)
        if not by_sentiment:
            out[(brand, start, None)] += total
            continue
        for feeling, n in zip(_KNOWN, row[width + 1 :], strict=True):
            if n:
                out[(brand, start, feeling)] += int(n)
                total -= int(n)
        out[(brand, start, UNCLASSIFIED)] += total
    return out


def split_hours(
    since: datetime, until: datetime
) -> tuple[tuple[int, int] | None, list[tuple[datetime, datetime]]]:
    """[since, until) as whole epoch hours (for rollups) plus at most two partial-hour edges (raw)."""
    since, until = utc(since), utc(until)
    if since >= until:
        return None, []
    first, last = rollups.hour_of(since), rollups.hour_of(until)
    if first == last:
        return None, [(since, until)]
    edges: list[tuple[datetime, datetime]] = []
    lo = first
    if since != rollups.hour_start(first):
        lo = first + 1
        edges.append((since, rollups.hour_start(lo)))
    if until != rollups.hour_start(last):
        edges.append((rollups.hour_start(last), until))
    return ((lo, last) if lo < last else None), edges


def tally(
    session: Session,
    since: datetime,
    until: datetime,
    *,
    bucket: Bucket | None,
    brands: Sequence[str] | None,
    by_sentiment: bool = False,
    unit: Unit = "mentions",
    use_rollups: bool = True,
) -> Counter[_Key]:
    """Counts per (brand, bucket start, sentiment) in [since, until), from rollups or raw rows."""
    if bucket is not None and bucket not in BUCKET_SIZES:
        raise ValueError(f"unknown bucket {bucket!r}")
    options: dict[str, Any] = {"brands": brands, "by_sentiment": by_sentiment, "unit": unit}
    if not use_rollups:
        return _raw_tally(session, utc(since), utc(until), bucket=bucket, **options)
    whole, edges = split_hours(since, until)
    out: Counter[_Key] = Counter()
    if whole is not None:
        out.update(_rollup_tally(session, whole, bucket=bucket, **options))
    for lo, hi in edges:
        # A partial hour lies in one bucket, so its raw rows need no bucket expression.
        start = floor_bucket(lo, bucket) if bucket is not None else None
        for (brand, _, feeling), n in _raw_tally(session, lo, hi, bucket=None, **options).items():
            out[(brand, start, feeling)] += n
    return out
