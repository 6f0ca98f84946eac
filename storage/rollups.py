"""Rollup maintenance: hourly counts updated with every mention write, and rebuilt from raw rows.

Every write path that changes what a trend counts (storing mentions, classifying or
re-clustering them, deleting them) calls into this module in the caller's transaction, so the
rollups never disagree with the mentions they summarise. ``rebuild`` recomputes them from the
raw rows one day at a time.

A story is counted once, at its first mention: the mention whose near-duplicate cluster is
itself (``coalesce(cluster_id, id) = id``). That makes stories additive across hours, days and
weeks, so a 30-day story count reads a few hundred rollup rows instead of every mention.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Table, case, delete, func, insert, literal, literal_column, select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage import bulk
from storage.models import ClassificationRow, MentionBrandRow, MentionRow
from storage.rollup_tables import ALL_BRANDS, RollupCategoryRow, RollupCountRow

UNCLASSIFIED = "unclassified"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
CHUNK = 500

CountKey = tuple[int, str, str]  # hour, brand, sentiment
CategoryKey = tuple[int, str, str]  # hour, brand ('' = all), category


@dataclass(frozen=True, slots=True)
class RollupItem:
    """What one stored mention contributes to the rollups."""

    hour: int
    brands: tuple[str, ...]
    sentiment: str
    story: bool
    # None while the mention has no classification: it then has no categories to count.
    categories: tuple[str, ...] | None


@dataclass
class Deltas:
    """Changes to apply to the rollup tables: (mentions, stories) per count key, n per category key."""

    counts: Counter[tuple[CountKey, str]]
    categories: Counter[CategoryKey]

    @classmethod
    def of(cls, items: Iterable[RollupItem], sign: int = 1) -> Deltas:
        """The deltas that add (sign 1) or remove (sign -1) ``items``."""
        counts: Counter[tuple[CountKey, str]] = Counter()
        categories: Counter[CategoryKey] = Counter()
        for item in items:
            for brand in item.brands:
                key = (item.hour, brand, item.sentiment)
                counts[(key, "mentions")] += sign
                if item.story:
                    counts[(key, "stories")] += sign
                for category in item.categories or ():
                    categories[(item.hour, brand, category)] += sign
            for category in item.categories or ():
                categories[(item.hour, ALL_BRANDS, category)] += sign
        return cls(counts, categories)


def hour_of(at: datetime) -> int:
    """Hours since the Unix epoch of the UTC hour that contains ``at`` (naive means UTC)."""
    aware = at.replace(tzinfo=UTC) if at.tzinfo is None else at
    return (aware - EPOCH) // HOUR


def hour_start(hour: int) -> datetime:
    """The UTC start of epoch hour ``hour``."""
    return EPOCH + hour * HOUR


def dialect_insert(session: Session | Connection, table: Table) -> Any:
    """An INSERT with ON CONFLICT support for the session's backend."""
    dialect = session.get_bind().dialect.name if isinstance(session, Session) else session.dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"rollups are not implemented for {dialect}")


def item_for(
    *,
    published_at: datetime,
    brands: Iterable[str],
    sentiment: str | None,
    categories: Sequence[str] | None,
    story: bool,
) -> RollupItem:
    """A mention's rollup contribution from its stored values."""
    return RollupItem(
        hour=hour_of(published_at),
        brands=tuple(dict.fromkeys(brands)),
        sentiment=sentiment if sentiment is not None else UNCLASSIFIED,
        story=story,
        categories=None if categories is None else tuple(str(c) for c in categories),
    )


def apply(session: Session, deltas: Deltas) -> None:
    """Add ``deltas`` to the rollup tables (upserts), dropping rows that fall to zero."""
    rows: dict[CountKey, dict[str, Any]] = {}
    for (key, measure), n in deltas.counts.items():
        if n:
            row = rows.setdefault(key, _count_row(key))
            row[measure] += n
    cats = sorted((k, n) for k, n in deltas.categories.items() if n)
    # Sorted so concurrent writers lock rows in the same order (no deadlocks on PostgreSQL).
    counts = [(k[0], k[1], k[2], rows[k]["mentions"], rows[k]["stories"]) for k in sorted(rows)]
    bulk.upsert_rollups(session, counts, [(h, b, c, n) for (h, b, c), n in cats])
    shrunk = {k[0] for k, r in rows.items() if r["mentions"] < 0} | {k[0] for k, n in cats if n < 0}
    for chunk in _chunks(sorted(shrunk)):
        # Rows that count nothing would only slow the reads down.
        session.execute(
            delete(RollupCountRow).where(RollupCountRow.hour.in_(chunk), RollupCountRow.mentions <= 0)
        )
        session.execute(
            delete(RollupCategoryRow).where(
                RollupCategoryRow.hour.in_(chunk), RollupCategoryRow.mentions <= 0
            )
        )


def _count_row(key: CountKey) -> dict[str, Any]:
    hour, brand, sentiment = key
    return {"hour": hour, "brand": brand, "sentiment": sentiment, "mentions": 0, "stories": 0}


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def stored_items(session: Session, ids: Iterable[int]) -> list[RollupItem]:
    """What the stored mentions ``ids`` contribute now (read back from the raw rows)."""
    wanted = sorted(set(ids))
    items: list[RollupItem] = []
    for chunk in _chunks(wanted):
        brands: dict[int, list[str]] = {}
        for mention_id, brand in session.execute(
            select(MentionBrandRow.mention_id, MentionBrandRow.brand).where(
                MentionBrandRow.mention_id.in_(chunk)
            )
        ):
            brands.setdefault(mention_id, []).append(brand)
        stmt = (
            select(
                MentionRow.id,
                MentionRow.published_at,
                MentionRow.cluster_id,
                ClassificationRow.sentiment,
                ClassificationRow.categories,
            )
            .outerjoin(ClassificationRow, ClassificationRow.mention_id == MentionRow.id)
            .where(MentionRow.id.in_(chunk))
        )
        for mention_id, published_at, cluster_id, feeling, categories in session.execute(stmt):
            items.append(
                item_for(
                    published_at=published_at,
                    brands=brands.get(mention_id, ()),
                    sentiment=feeling,
                    categories=None if feeling is None else list(categories or ()),
                    story=cluster_id is None or cluster_id == mention_id,
                )
            )
    return items


def remove_stored(session: Session, ids: Iterable[int]) -> None:
    """Take the stored mentions ``ids`` out of the rollups (before they change or go)."""
    apply(session, Deltas.of(stored_items(session, ids), -1))


def shift_stories(session: Session, ids: Iterable[int], delta: int) -> None:
    """Add ``delta`` stories for each of the stored mentions ``ids`` (one that starts or stops a story)."""
    counts: Counter[tuple[CountKey, str]] = Counter()
    for item in stored_items(session, ids):
        for brand in item.brands:
            counts[((item.hour, brand, item.sentiment), "stories")] += delta
    apply(session, Deltas(counts, Counter()))


def add_stored(session: Session, ids: Iterable[int]) -> None:
    """Count the stored mentions ``ids`` in the rollups (after they were written or changed)."""
    apply(session, Deltas.of(stored_items(session, ids), 1))


# --- rebuilding from the raw rows -------------------------------------------------------------


def _hour_sql(dialect: str) -> Any:
    # Literal SQL: PostgreSQL accepts a SELECT expression in GROUP BY only when both are
    # textually identical, which bound parameters would break.
    if dialect == "postgresql":
        return literal_column("CAST(floor(extract(epoch FROM mentions.published_at) / 3600) AS INTEGER)")
    if dialect == "sqlite":
        return literal_column("CAST(strftime('%s', mentions.published_at) AS INTEGER) / 3600")
    raise NotImplementedError(f"rollups are not implemented for {dialect}")


def _category_values(dialect: str) -> Any:
    # Both backends let a table function in FROM read the row before it (implicitly lateral).
    if dialect == "postgresql":
        elements = func.json_array_elements_text(ClassificationRow.categories).table_valued("value")
        return elements.render_derived(name="category")
    return func.json_each(ClassificationRow.categories).table_valued("value").alias("category")


def story_flag() -> Any:
    """1 for a mention that starts its story (its cluster is itself), else 0: SUM counts stories."""
    return case((func.coalesce(MentionRow.cluster_id, MentionRow.id) == MentionRow.id, 1), else_=0)


def _window(stmt: Any, since: datetime | None, until: datetime | None) -> Any:
    if since is not None:
        stmt = stmt.where(MentionRow.published_at >= since)
    if until is not None:
        stmt = stmt.where(MentionRow.published_at < until)
    return stmt


def rebuild_window(
    connection: Connection | Session, *, since: datetime | None, until: datetime | None
) -> None:
    """Recompute the rollups of the whole hours in [since, until) (None: unbounded) from raw rows.

    ``since`` and ``until`` must fall on hour boundaries so no hour is half rebuilt.
    """
    for bound in (since, until):
        if bound is not None and bound != hour_start(hour_of(bound)):
            raise ValueError(f"{bound.isoformat()} is not on an hour boundary")
    dialect = (
        connection.get_bind().dialect.name if isinstance(connection, Session) else connection.dialect.name
    )
    hour = _hour_sql(dialect)
    for model in (RollupCountRow, RollupCategoryRow):
        stmt = delete(model)
        if since is not None:
            stmt = stmt.where(model.hour >= hour_of(since))
        if until is not None:
            stmt = stmt.where(model.hour < hour_of(until))
        connection.execute(stmt)
    sentiment = func.coalesce(ClassificationRow.sentiment, literal(UNCLASSIFIED))
    counts = _window(
        select(hour, MentionBrandRow.brand, sentiment, func.count(), func.sum(story_flag()))
        .select_from(MentionBrandRow)
        .join(MentionRow, MentionRow.id == MentionBrandRow.mention_id)
        .outerjoin(ClassificationRow, ClassificationRow.mention_id == MentionRow.id),
        since,
        until,
    ).group_by(hour, MentionBrandRow.brand, sentiment)
    columns = ["hour", "brand", "sentiment", "mentions", "stories"]
    connection.execute(insert(RollupCountRow).from_select(columns, counts))
    category = _category_values(dialect)
    per_brand = _window(
        select(hour, MentionBrandRow.brand, category.c.value, func.count())
        .select_from(MentionBrandRow)
        .join(MentionRow, MentionRow.id == MentionBrandRow.mention_id)
        .join(ClassificationRow, ClassificationRow.mention_id == MentionRow.id)
        .join(category, true()),
        since,
        until,
    ).group_by(hour, MentionBrandRow.brand, category.c.value)
    every = _window(
        select(hour, literal_column(f"'{ALL_BRANDS}'"), category.c.value, func.count())
        .select_from(MentionRow)
        .join(ClassificationRow, ClassificationRow.mention_id == MentionRow.id)
        .join(category, true()),
        since,
        until,
    ).group_by(hour, category.c.value)
    for stmt in (per_brand, every):
        connection.execute(
            insert(RollupCategoryRow).from_select(["hour", "brand", "category", "mentions"], stmt)
        )


def stored_range(session: Session) -> tuple[datetime, datetime] | None:
    """The first and last published_at of any stored mention, or None when there are none."""
    first, last = session.execute(
        select(func.min(MentionRow.published_at), func.max(MentionRow.published_at))
    ).one()
    if first is None or last is None:
        return None
    return first, last


def rebuild(
    sessions: Callable[[], Session],
    *,
    step: timedelta = timedelta(days=1),
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Recompute every rollup from the raw rows, one ``step`` per transaction; how many steps ran.

    Idempotent: each step replaces its hours' rollups. Rollups outside the stored mentions'
    range (left by deleted mentions) are cleared first. ``progress(done, total)`` is called
    after each step.
    """
    with sessions() as session, session.begin():
        span = stored_range(session)
        if span is None:
            rebuild_window(session, since=None, until=None)
            if progress:
                progress(1, 1)
            return 1
        start = hour_start(hour_of(span[0]))
        end = hour_start(hour_of(span[1]) + 1)
        session.execute(
            delete(RollupCountRow).where(~RollupCountRow.hour.between(hour_of(start), hour_of(end) - 1))
        )
        session.execute(
            delete(RollupCategoryRow).where(~RollupCategoryRow.hour.between(hour_of(start), hour_of(end) - 1))
        )
    total = max(1, -(-(end - start) // step))
    for done in range(total):
        lo = start + done * step
        hi = min(end, lo + step)
        # One transaction per step: readers see each day either before or after, never half done.
        with sessions() as session, session.begin():
            rebuild_window(session, since=lo, until=hi)
        if progress:
            progress(done + 1, total)
    return total


@dataclass(frozen=True, slots=True)
class RollupSummary:
    """How much the count rollup holds."""

    rows: int
    mentions: int
    first: datetime | None
    last: datetime | None


def summary(session: Session) -> RollupSummary:
    """Rows, brand mentions counted, and the first and last hour of the count rollup."""
    rows, mentions, first, last = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(RollupCountRow.mentions), 0),
            func.min(RollupCountRow.hour),
            func.max(RollupCountRow.hour),
        )
    ).one()
    return RollupSummary(
        rows=int(rows),
        mentions=int(mentions),
        first=None if first is None else hour_start(int(first)),
        last=None if last is None else hour_start(int(last)),
    )
