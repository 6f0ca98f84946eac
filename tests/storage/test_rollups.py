"""Rollups equal the raw aggregates on random data, on SQLite and PostgreSQL.

Random mentions (brands, sources, languages, sentiments, categories, near-duplicate clusters,
publication times anywhere in three days) go through the real write paths: storing, storing
again, re-clustering, re-classifying and deleting. After each step every trend query must give
the same answer from the rollups as from the raw rows, over windows that do not fall on hour
boundaries, and ``rebuild`` must leave the rollup tables exactly as the writes left them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, event, select, update
from sqlalchemy.orm import Session, sessionmaker

from domain import Classification, Mention
from storage import mentions as repo
from storage import rollups, trends
from storage.db import create_db_engine, upgrade
from storage.rollup_tables import RollupCategoryRow, RollupCountRow
from storage.trend_tally import tally
from tests.databases import _truncate
from tests.web.factories import classification, mention

BASE = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)  # a Sunday: windows cross a week boundary
SPAN_MINUTES = 3 * 24 * 60
BRANDS = ("Acme", "Rival", "Zed")
NOW = BASE + timedelta(days=4)


@dataclass(frozen=True)
class Spec:
    """One random mention and its classification (or none)."""

    mention: Mention
    classification: Classification | None


def _spec(index: int, draw: Any) -> Spec:
    minute = draw(st.integers(0, SPAN_MINUTES - 1))
    second = draw(st.integers(0, 59))
    item = mention(
        f"m{index}",
        at=BASE + timedelta(minutes=minute, seconds=second),
        brands=draw(st.lists(st.sampled_from(BRANDS), max_size=3, unique=True)),
        source=draw(st.sampled_from(["forum", "news"])),
    )
    item = replace(item, language=draw(st.sampled_from(["en", "fr", None])))
    if not draw(st.booleans()):
        return Spec(item, None)
    feeling = draw(st.sampled_from(["negative", "neutral", "positive"]))
    categories = draw(
        st.lists(st.sampled_from(["outage", "billing", "praise", "question"]), max_size=3, unique=True)
    )
    return Spec(item, classification(feeling, categories=categories))


@st.composite
def histories(draw: Any) -> tuple[list[Spec], list[int], list[tuple[int, int]], list[int], list[int]]:
    """Mentions, a re-stored subset, cluster links, re-classified and deleted positions."""
    count = draw(st.integers(1, 40))
    specs = [_spec(i, draw) for i in range(count)]
    again = draw(st.lists(st.integers(0, count - 1), max_size=10))
    links = draw(st.lists(st.tuples(st.integers(0, count - 1), st.integers(0, count - 1)), max_size=15))
    reclassified = draw(st.lists(st.integers(0, count - 1), max_size=8, unique=True))
    deleted = draw(st.lists(st.integers(0, count - 1), max_size=8, unique=True))
    return specs, again, links, reclassified, deleted


windows = st.tuples(st.integers(0, SPAN_MINUTES), st.integers(1, SPAN_MINUTES)).map(
    lambda w: (BASE + timedelta(minutes=w[0], seconds=17), BASE + timedelta(minutes=w[0] + w[1], seconds=5))
)


def _snapshot(session: Session) -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    counts = {tuple(r) for r in session.execute(select(*RollupCountRow.__table__.columns))}
    categories = {tuple(r) for r in session.execute(select(*RollupCategoryRow.__table__.columns))}
    return counts, categories


def _assert_trends_agree(session: Session, since: datetime, until: datetime) -> None:
    for bucket in ("hour", "day", "week"):
        for unit in ("mentions", "stories"):
            kwargs: dict[str, Any] = {"since": since, "until": until, "bucket": bucket, "unit": unit}
            assert trends.volume(session, **kwargs) == trends.volume(session, **kwargs, use_rollups=False)
            picked = {**kwargs, "brands": ["Rival", "Nobody"]}
            assert trends.volume(session, **picked) == trends.volume(session, **picked, use_rollups=False)
        window: dict[str, Any] = {"since": since, "until": until, "bucket": bucket}
        per_bucket = trends.sentiment(session, **window)
        assert per_bucket == trends.sentiment(session, **window, use_rollups=False)
    # Whole-window totals per brand and sentiment (the dashboard's previous period) add up the same.
    totals = tally(session, since, until, bucket=None, brands=None, by_sentiment=True)
    assert {(b, f): n for (b, _, f), n in totals.items() if n} == {
        (b, f): sum(counts) for b, lines in per_bucket.items() for f, counts in lines.items() if sum(counts)
    }
    for unit in ("mentions", "stories"):
        span: dict[str, Any] = {"since": since, "until": until, "brands": BRANDS, "unit": unit}
        assert trends.share_of_voice(session, **span) == trends.share_of_voice(
            session, **span, use_rollups=False
        )
    for brand in (None, *BRANDS):
        where: dict[str, Any] = {"since": since, "until": until, "brand": brand, "limit": 3}
        assert trends.top_categories(session, **where) == trends.top_categories(
            session, **where, use_rollups=False
        )
    plain: dict[str, Any] = {"since": since, "until": until}
    assert trends.busiest_brands(session, **plain) == trends.busiest_brands(
        session, **plain, use_rollups=False
    )


def _check(sessions: sessionmaker[Session], windows_: list[tuple[datetime, datetime]]) -> None:
    with sessions() as session:
        for since, until in [(BASE, BASE + timedelta(days=4)), *windows_]:
            _assert_trends_agree(session, since, until)
        maintained = _snapshot(session)
    rollups.rebuild(sessions)
    with sessions() as session:
        assert _snapshot(session) == maintained
        _assert_trends_agree(session, *windows_[0])


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=histories(), windows_=st.lists(windows, min_size=1, max_size=3))
def test_rollups_equal_raw_aggregates(
    engine: Engine,
    history: tuple[list[Spec], list[int], list[tuple[int, int]], list[int], list[int]],
    windows_: list[tuple[datetime, datetime]],
) -> None:
    _truncate(engine)
    sessions = sessionmaker(engine, expire_on_commit=False)
    specs, again, links, reclassified, deleted = history
    with sessions.begin() as session:
        stored = repo.store_mentions(
            session, [s.mention for s in specs], [s.classification for s in specs], now=NOW
        )
    ids = {s.mention.key: s.id for s in stored}
    id_of = [ids[s.mention.key] for s in specs]
    _check(sessions, windows_)
    # Storing the same mentions again (a re-import or a retried run) changes nothing.
    with sessions.begin() as session:
        assert repo.store_mentions(session, [specs[i].mention for i in again], now=NOW) == []
    # Near-duplicates join the cluster of another mention; some are moved back to their own.
    with sessions.begin() as session:
        repo.set_clusters(session, {id_of[a]: id_of[b] for a, b in links})
    with sessions.begin() as session:
        repo.set_clusters(session, {id_of[a]: id_of[a] for a, _ in links[::2]})
    with sessions.begin() as session:
        repo.reclassify(
            session,
            {id_of[i]: classification("negative", categories=["outage"]) for i in reclassified},
            now=NOW,
        )
    _check(sessions, windows_)
    with sessions.begin() as session:
        assert repo.delete_mentions(session, [id_of[i] for i in deleted]) == len(deleted)
    _check(sessions, windows_)


def test_rebuild_is_idempotent_and_clears_stale_rows(sessions: sessionmaker[Session]) -> None:
    items = [
        (
            mention("a", at=BASE + timedelta(hours=1, minutes=5)),
            classification("negative", categories=["outage"]),
        ),
        (mention("b", at=BASE + timedelta(days=1, hours=2), brands=("Rival",)), None),
    ]
    with sessions.begin() as session:
        repo.store_mentions(session, [m for m, _ in items], [c for _, c in items], now=NOW)
    with sessions() as session:
        before = _snapshot(session)
    # Rows for hours with no mentions at all (a stale or corrupted rollup) go; counts are restored.
    with sessions.begin() as session:
        session.add(RollupCountRow(hour=1, brand="Acme", sentiment="neutral", mentions=9, stories=9))
        session.execute(update(RollupCountRow).values(mentions=RollupCountRow.mentions + 5))
    steps: list[tuple[int, int]] = []
    assert rollups.rebuild(sessions, progress=lambda done, total: steps.append((done, total))) == 2
    assert steps == [(1, 2), (2, 2)]
    with sessions() as session:
        assert _snapshot(session) == before
    rollups.rebuild(sessions)
    with sessions() as session:
        assert _snapshot(session) == before
        (acme,) = [r for r in before[0] if r[1] == "Acme"]
        assert acme == (rollups.hour_of(BASE) + 1, "Acme", "negative", 1, 1)


def test_rebuild_of_an_empty_database_empties_the_rollups(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        session.add(RollupCategoryRow(hour=5, brand="", category="outage", mentions=3))
    assert rollups.rebuild(sessions) == 1
    with sessions() as session:
        assert _snapshot(session) == (set(), set())


def test_partial_hours_read_raw_rows(sessions: sessionmaker[Session]) -> None:
    at = BASE + timedelta(hours=5)
    items = [(mention(str(i), at=at + timedelta(minutes=m)), None) for i, m in enumerate((0, 20, 40, 65))]
    with sessions.begin() as session:
        repo.store_mentions(session, [m for m, _ in items], [c for _, c in items], now=NOW)
    with sessions() as session:
        inside = trends.volume(session, since=at + timedelta(minutes=10), until=at + timedelta(minutes=50))
        across = trends.volume(session, since=at + timedelta(minutes=30), until=at + timedelta(minutes=70))
    assert inside == {"Acme": [2]}
    assert across == {"Acme": [1, 1]}


def test_week_buckets_start_on_monday() -> None:
    wednesday = datetime(2026, 3, 4, 15, 30, tzinfo=UTC)
    assert trends.floor_bucket(wednesday, "week") == datetime(2026, 3, 2, tzinfo=UTC)
    starts = trends.bucket_starts(BASE, BASE + timedelta(days=9), "week")
    assert starts == [
        datetime(2026, 2, 23, tzinfo=UTC),
        datetime(2026, 3, 2, tzinfo=UTC),
        datetime(2026, 3, 9, tzinfo=UTC),
    ]


def test_unbounded_rebuild_fills_rollups_for_mentions_stored_before_them(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    # Migration 0009 runs exactly this on the upgrade connection, for installs that have history.
    items = [
        (
            mention(str(i), at=BASE + timedelta(hours=7 * i, minutes=i)),
            classification(categories=["question"]),
        )
        for i in range(10)
    ]
    with sessions.begin() as session:
        repo.store_mentions(session, [m for m, _ in items], [c for _, c in items], now=NOW)
    with sessions() as session:
        expected = _snapshot(session)
    with engine.begin() as connection:
        connection.execute(delete(RollupCountRow))
        connection.execute(delete(RollupCategoryRow))
        rollups.rebuild_window(connection, since=None, until=None)
    with sessions() as session:
        assert _snapshot(session) == expected
        assert sum(r[3] for r in expected[0]) == 10


def test_partial_hour_reads_start_from_the_time_index_on_sqlite(tmp_path: Path) -> None:
    # SQLite has no planner statistics unless someone runs ANALYZE; the raw read of a partial hour
    # must still walk the window's mentions, not every mention of the brand.
    engine = create_db_engine(f"sqlite:///{tmp_path / 'plan.db'}")
    upgrade(engine)
    sessions = sessionmaker(engine)
    with sessions.begin() as session:
        repo.store_mentions(
            session, [mention(str(i), at=BASE + timedelta(minutes=i)) for i in range(50)], now=NOW
        )
    statements: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "mention_brands" in statement and "GROUP BY" in statement:
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    with sessions() as session:
        trends.sentiment(
            session, since=BASE + timedelta(minutes=5), until=BASE + timedelta(minutes=20), brands=BRANDS
        )
    event.remove(engine, "before_cursor_execute", capture)
    assert statements
    with engine.connect() as connection:
        for statement, parameters in statements:
            plan = " | ".join(
                str(row[-1])
                for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            )
            assert "ix_mentions_published_at" in plan, plan
            assert "ix_mention_brands_brand" not in plan, plan
    engine.dispose()
