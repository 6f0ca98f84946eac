"""The bulk storing path behind `earshot import`, on SQLite and PostgreSQL.

``store_mentions_bulk`` writes through the raw driver (executemany on SQLite, COPY on
PostgreSQL). It must keep every guarantee of ``store_mentions``: nothing stored twice (within a
batch, across batches, against mentions the live path stored), the same rows, and rollups equal
to the raw aggregates in the same transaction.
"""

from __future__ import annotations

import gc
import io
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import BigInteger, Boolean, Engine, Float, Integer, Text, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from domain import Classification, Mention
from storage import bulk, rollups
from storage import mentions as repo
from storage.bulk_store import _new_deltas, store_mentions_bulk
from storage.db import session_factory
from storage.importer import import_items, parse_json_lines
from storage.mentions import StoredMention
from storage.models import AuthorRow, Base, ClassificationRow, MentionBrandRow, MentionRow, UtcDateTime
from storage.rollup_tables import RollupCategoryRow, RollupCountRow
from tests.databases import _truncate
from tests.web.factories import classification, mention

BASE = datetime(2026, 3, 1, tzinfo=UTC)
NOW = BASE + timedelta(days=3)
BRANDS = ("Acme", "Rival", "Zed")


def _snapshot(session: Session) -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    counts = {tuple(r) for r in session.execute(select(*RollupCountRow.__table__.columns))}
    categories = {tuple(r) for r in session.execute(select(*RollupCategoryRow.__table__.columns))}
    return counts, categories


def _assert_rollups_equal_raw(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        maintained = _snapshot(session)
    rollups.rebuild(sessions)
    with sessions() as session:
        assert _snapshot(session) == maintained


def _stored(session: Session) -> dict[tuple[str, str], tuple[Any, ...]]:
    """Every stored mention by key: what a reader sees, without the ids the backends hand out."""
    out: dict[tuple[str, str], tuple[Any, ...]] = {}
    # The stored form of the times too: SQLite compares them as text, so the format must match.
    as_text = select(MentionRow.source, MentionRow.external_id, MentionRow.published_at.cast(Text))
    stored_times = {(source, ext): at for source, ext, at in session.execute(as_text)}
    for row in session.scalars(select(MentionRow)).unique():
        c = row.classification
        out[(row.source, row.external_id)] = (
            row.text,
            row.published_at,
            stored_times[(row.source, row.external_id)],
            row.language,
            row.url,
            row.raw,
            row.queries,
            row.owned,
            row.author.handle if row.author else None,
            row.author.followers if row.author else None,
            sorted(b.brand for b in row.brands),
            None if c is None else (c.sentiment, c.categories, c.urgency, c.model_version, c.classified_at),
        )
    return out


def _item(index: int, draw: Any) -> tuple[Mention, Classification | None]:
    item = mention(
        f"m{index}",
        at=BASE + timedelta(minutes=draw(st.integers(0, 2 * 24 * 60)), seconds=7),
        brands=draw(st.lists(st.sampled_from(BRANDS), max_size=3, unique=True)),
        source=draw(st.sampled_from(["forum", "news"])),
        handle=draw(st.sampled_from(["ann", "bob", "cy"])),
        followers=draw(st.integers(0, 1000)),
    )
    item = replace(item, text=draw(st.sampled_from(["plain", "tab\there", "bell\x07 and nul\x00"])))
    if draw(st.booleans()):
        return item, None
    feeling = draw(st.sampled_from(["negative", "neutral", "positive"]))
    categories = draw(st.lists(st.sampled_from(["outage", "billing", "praise"]), max_size=2, unique=True))
    return item, classification(feeling, categories=categories)


@st.composite
def batches(draw: Any) -> tuple[list[tuple[Mention, Classification | None]], list[int], list[int]]:
    """Distinct mentions, positions stored first by the live path, positions repeated in the batch."""
    count = draw(st.integers(1, 30))
    items = [_item(i, draw) for i in range(count)]
    live = draw(st.lists(st.integers(0, count - 1), max_size=8, unique=True))
    repeated = draw(st.lists(st.integers(0, count - 1), max_size=8))
    return items, live, repeated


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=batches())
def test_bulk_store_stores_what_the_live_path_would_once_and_keeps_rollups(
    engine: Engine,
    batch: tuple[list[tuple[Mention, Classification | None]], list[int], list[int]],
) -> None:
    items, live, repeated = batch
    _truncate(engine)
    sessions = session_factory(engine)
    with sessions() as session, session.begin():
        repo.store_mentions(session, [items[i][0] for i in live], [items[i][1] for i in live], now=NOW)
    # Repeats carry different text: the first copy in the batch must win, as in store_mentions.
    copies = [(replace(items[i][0], text="a later copy"), items[i][1]) for i in repeated]
    todo = items + copies
    with sessions() as session, session.begin():
        stored = store_mentions_bulk(session, [m for m, _ in todo], [c for _, c in todo], now=NOW)
    assert sorted(s.mention.external_id for s in stored) == sorted(
        items[i][0].external_id for i in range(len(items)) if i not in live
    )
    with sessions() as session:
        bulk = _stored(session)
        assert len({s.id for s in stored}) == len(stored)
        assert {s.id for s in stored} <= set(session.scalars(select(MentionRow.id)))
    _assert_rollups_equal_raw(sessions)

    # The same mentions through the live path, on an empty database, give the same rows.
    _truncate(engine)
    with sessions() as session, session.begin():
        repo.store_mentions(session, [m for m, _ in items], [c for _, c in items], now=NOW)
    with sessions() as session:
        assert _stored(session) == bulk

    # Storing the whole batch again stores nothing; the live path still works after the bulk one.
    with sessions() as session, session.begin():
        assert store_mentions_bulk(session, [m for m, _ in todo], [c for _, c in todo], now=NOW) == []
        extra = replace(items[0][0], external_id="after-bulk")
        assert len(repo.store_mentions(session, [extra], now=NOW)) == 1
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(MentionRow)) == len(items) + 1
        authors = [tuple(r) for r in session.execute(select(AuthorRow.source_kind, AuthorRow.handle))]
        assert len(authors) == len(set(authors))
    _assert_rollups_equal_raw(sessions)


def _line(index: int, **overrides: Any) -> str:
    record: dict[str, Any] = {
        "source": "oldtool",
        "external_id": f"x{index}",
        "text": f"post {index}",
        "language": "en",
        "published_at": (BASE + timedelta(minutes=37 * index)).isoformat(),
        "brands": [BRANDS[index % 3], BRANDS[(index + 1) % 3]][: 1 + index % 2],
        "author": {"handle": f"@u{index % 7}", "followers": index},
        "classification": {
            "sentiment": ["negative", "neutral", "positive"][index % 3],
            "categories": ["billing"],
        },
    }
    record.update(overrides)
    return json.dumps(record)


def _never(mentions: list[Mention]) -> list[Classification]:
    raise AssertionError("every line carries its classification")


def test_reimport_in_large_batches_stores_nothing_twice(sessions: sessionmaker[Session]) -> None:
    lines = [_line(i) for i in range(250)]
    lines.insert(40, _line(3, text="a later copy of line 3"))
    lines.insert(90, "{not json")
    data = ("\n".join(lines) + "\n").encode()

    def run(batch_size: int) -> Any:
        parsed = (item for _, item in parse_json_lines(io.BytesIO(data)))
        return import_items(
            sessions=sessions, items=parsed, classify=_never, now=lambda: NOW, batch_size=batch_size
        )

    first = run(100)
    assert (first.stored, first.duplicates, first.failed) == (250, 1, 1)
    assert first.errors[0].line == 91
    again = run(1000)
    assert (again.stored, again.duplicates, again.failed) == (0, 251, 1)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(MentionRow)) == 250
        assert session.scalar(select(MentionRow.text).where(MentionRow.external_id == "x3")) == "post 3"
        brand_rows = session.scalar(select(func.count()).select_from(MentionBrandRow))
        assert brand_rows == sum(1 + i % 2 for i in range(250))
        assert session.scalar(select(func.count()).select_from(ClassificationRow)) == 250
        assert session.scalar(select(func.sum(RollupCountRow.mentions))) == brand_rows
    _assert_rollups_equal_raw(sessions)


def test_a_key_stored_meanwhile_by_another_writer_is_skipped(
    sessions: sessionmaker[Session], monkeypatch: Any
) -> None:
    first, second = mention("raced", at=BASE), mention("fresh", at=BASE)
    with sessions() as session, session.begin():
        repo.store_mentions(session, [first], now=NOW)
    # As if the live path committed ``first`` between PostgreSQL's key check and its COPY.
    monkeypatch.setattr(bulk._PostgresWriter, "_stored_keys", lambda self, rows: set())
    with sessions() as session, session.begin():
        stored = store_mentions_bulk(session, [first, second], [None, classification("neutral")], now=NOW)
    assert [s.mention.external_id for s in stored] == ["fresh"]
    with sessions() as session:
        assert sorted(session.scalars(select(MentionRow.external_id))) == ["fresh", "raced"]
        assert session.scalar(select(func.count()).select_from(ClassificationRow)) == 1
    _assert_rollups_equal_raw(sessions)


def test_json_text_encodes_as_json_dumps_whatever_it_remembers() -> None:
    encode = bulk.JsonText()
    values: list[Any] = [
        {"a": 1}, {"a": True}, {"a": 1.0}, {"a": "1"}, {1: "x"}, {True: "x"}, [1], [True], [1.0], ["1"],
        (1, "b"), [1, "b"], {}, [], (), None, {"n": {"deep": [1, None]}}, {"n": {"deep": [True, None]}},
    ]  # fmt: skip
    for _ in range(2):  # the second time round, every value is answered from memory
        assert [encode(v) for v in values] == [json.dumps(v) for v in values]


def test_sqlite_time_is_what_sqlalchemy_stores() -> None:
    dialect = sqlite.dialect()
    stored = UtcDateTime()
    process = stored.impl.dialect_impl(dialect).bind_processor(dialect)
    assert process is not None
    times = [
        datetime(2026, 3, 1, 9, 5, 7, tzinfo=UTC),
        datetime(2026, 3, 1, 9, 5, 7, 123, tzinfo=UTC),
        datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC),
        datetime(2026, 3, 1, 11, 5, 7, tzinfo=timezone(timedelta(hours=2))),
    ]
    for at in times:
        assert bulk.sqlite_time(at) == process(stored.process_bind_param(at, dialect))
    with pytest.raises(ValueError, match="naive"):
        bulk.sqlite_time(datetime(2026, 3, 1))


def test_upsert_rollups_adds_deltas_to_existing_rows(sessions: sessionmaker[Session]) -> None:
    for _ in range(2):
        with sessions() as session, session.begin():
            bulk.upsert_rollups(
                session,
                [(10, "Acme", "neutral", 2, 1), (11, "Acme", "neutral", 1, 1)],
                [(10, "Acme", "billing", 3), (10, "", "billing", 3)],
            )
    with sessions() as session:
        counts, categories = _snapshot(session)
    assert counts == {(10, "Acme", "neutral", 4, 2), (11, "Acme", "neutral", 2, 2)}
    assert categories == {(10, "Acme", "billing", 6), (10, "", "billing", 6)}


def test_a_failing_batch_stops_the_import_and_the_collector_is_restored(
    sessions: sessionmaker[Session],
) -> None:
    lines = [_line(i) for i in range(30)]
    lines[25] = _line(25, classification=None)  # needs the model, which fails
    data = ("\n".join(lines) + "\n").encode()

    def broken(mentions: list[Mention]) -> list[Classification]:
        raise RuntimeError("model failed")

    assert gc.isenabled()
    with pytest.raises(RuntimeError, match="model failed"):
        import_items(
            sessions=sessions,
            items=(item for _, item in parse_json_lines(io.BytesIO(data))),
            classify=broken,
            now=lambda: NOW,
            batch_size=10,
        )
    assert gc.isenabled()
    with sessions() as session:
        # Batches commit in file order: the two before the failing one are kept, nothing after.
        assert session.scalar(select(func.count()).select_from(MentionRow)) == 20
    _assert_rollups_equal_raw(sessions)


def test_new_mention_deltas_equal_what_the_rollups_module_computes() -> None:
    stored = [
        StoredMention(1, mention("a", at=BASE, brands=["Acme", "Rival", "Acme"]), classification("negative")),
        StoredMention(2, mention("b", at=BASE + timedelta(minutes=5), brands=["Acme"]), None),
        StoredMention(
            3,
            mention("c", at=BASE + timedelta(hours=1), brands=["Zed"]),
            classification("positive", categories=["billing", "outage"]),
        ),
        StoredMention(4, mention("d", at=BASE, brands=[]), classification("neutral", categories=["praise"])),
        StoredMention(5, mention("e", at=BASE, brands=["Acme", "Rival"]), classification("negative")),
    ]
    expected = rollups.Deltas.of(
        rollups.item_for(
            published_at=s.mention.published_at,
            brands=s.mention.brands,
            sentiment=None if s.classification is None else str(s.classification.sentiment),
            categories=None if s.classification is None else list(s.classification.categories),
            story=True,
        )
        for s in stored
    )
    assert _new_deltas(stored) == expected


def test_binary_copy_types_match_the_schema() -> None:
    """PostgreSQL's binary COPY needs each non-text column's exact type; a schema change must show."""
    expected = {
        BigInteger: "int8", Integer: "int4", Float: "float8", Boolean: "bool", UtcDateTime: "timestamptz",
    }  # fmt: skip
    tables = {
        "authors": bulk.AUTHOR_COLUMNS,
        "mentions": bulk.MENTION_COLUMNS,
        "mention_brands": bulk.BRAND_COLUMNS,
        "classifications": bulk.CLASSIFICATION_COLUMNS,
    }
    for table, columns in tables.items():
        for name in columns:
            column_type = Base.metadata.tables[table].c[name].type.dialect_impl(postgresql.dialect())
            wanted = next((t for kind, t in expected.items() if isinstance(column_type, kind)), "text")
            assert bulk._BINARY_TYPES.get(name, "text") == wanted, (table, name, column_type)
