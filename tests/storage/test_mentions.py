"""Storing mentions is idempotent and batched; queries filter correctly. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from classifiers.base import ClassifierInput
from classifiers.baseline import BaselineClassifier
from domain import MentionKey
from storage import mentions as repo
from storage.models import AuthorRow, ClassificationRow, MentionBrandRow, MentionRow
from tests.factories import T0, mention
from tests.web.factories import classification as factory_classification


def _count(session: Session, model: type) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_store_is_idempotent_within_and_across_batches(sessions: sessionmaker[Session]) -> None:
    batch = [
        mention("1", "lumora is down"),
        mention("2", "love lumora"),
        mention("1", "lumora is down (copy)"),
    ]
    classes = BaselineClassifier().predict_batch([ClassifierInput(m.text) for m in batch])
    with sessions() as s, s.begin():
        first = repo.store_mentions(s, batch, classes, now=T0)
    with sessions() as s, s.begin():
        second = repo.store_mentions(s, batch, classes, now=T0)
    assert sorted(m.mention.external_id for m in first) == ["1", "2"]
    assert second == []
    with sessions() as s:
        assert _count(s, MentionRow) == 2
        assert _count(s, ClassificationRow) == 2
        assert _count(s, MentionBrandRow) == 2
        stored = s.scalars(select(MentionRow).where(MentionRow.external_id == "1")).one()
        assert stored.text == "lumora is down"  # the first copy in a batch wins
        assert stored.classification is not None and stored.classification.sentiment == "negative"


def test_same_external_id_on_two_sources_is_two_mentions(sessions: sessionmaker[Session]) -> None:
    with sessions() as s, s.begin():
        repo.store_mentions(
            s, [mention("9", "lumora", source="a"), mention("9", "lumora", source="b")], now=T0
        )
    with sessions() as s:
        assert repo.existing_keys(s, [MentionKey("a", "9"), MentionKey("b", "9"), MentionKey("c", "9")]) == {
            MentionKey("a", "9"),
            MentionKey("b", "9"),
        }


def test_authors_are_upserted_with_latest_followers(sessions: sessionmaker[Session]) -> None:
    with sessions() as s, s.begin():
        repo.store_mentions(s, [mention("1", "lumora", handle="ann", followers=10)], now=T0)
    with sessions() as s, s.begin():
        repo.store_mentions(s, [mention("2", "lumora again", handle="ann", followers=25)], now=T0)
    with sessions() as s:
        authors = s.scalars(select(AuthorRow)).all()
        assert [(a.handle, a.followers) for a in authors] == [("ann", 25)]
        assert {m.author_id for m in s.scalars(select(MentionRow))} == {authors[0].id}


def test_large_batches_cross_chunk_boundaries(sessions: sessionmaker[Session]) -> None:
    batch = [mention(str(i), f"lumora post {i}", handle=f"u{i % 700}") for i in range(1_300)]
    with sessions() as s, s.begin():
        stored = repo.store_mentions(s, batch, now=T0)
    assert len(stored) == 1_300
    with sessions() as s:
        assert _count(s, MentionRow) == 1_300
        assert _count(s, AuthorRow) == 700
        assert len(repo.existing_keys(s, [m.key for m in batch])) == 1_300


def test_the_stored_key_lookup_probes_the_unique_index_whatever_the_statistics(
    sessions: sessionmaker[Session], engine: Engine
) -> None:
    # Without statistics (a new or fast-growing table), an IN list planned as a scan of the
    # source's rows, which grew with the table; each key must be an index probe instead.
    batch = [mention(str(i), f"lumora post {i}", handle=f"u{i % 50}") for i in range(3_000)]
    with sessions() as s, s.begin():
        repo.store_mentions(s, batch, now=T0)
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        if "external_id" in statement and statement.lstrip().startswith("SELECT"):
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with sessions() as s:
            wanted = [MentionKey("fake", str(i)) for i in range(0, 3_000, 3)] + [MentionKey("fake", "x")]
            assert repo.existing_keys(s, wanted) == set(wanted[:-1])
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert len(seen) == 3  # one query per chunk of 500 keys, not per key
    if engine.dialect.name != "postgresql":
        return
    statement, parameters = seen[0]
    with engine.connect() as connection:
        plan = "\n".join(connection.exec_driver_sql(f"EXPLAIN {statement}", parameters).scalars())
    assert "uq_mentions_source_external_id" in plan and "Nested Loop" in plan, plan
    assert "Seq Scan on mentions" not in plan and "Bitmap Heap Scan" not in plan, plan


def test_list_mentions_filters(sessions: sessionmaker[Session]) -> None:
    batch = [
        mention("1", "lumora is down, outage everywhere", at=T0),
        mention("2", "I love lumora", at=T0 + timedelta(hours=1)),
        mention("3", "vantix is great", brands=("Vantix",), at=T0 + timedelta(hours=2)),
        mention("4", "lumora question: how do I share a folder?", source="other", at=T0 + timedelta(hours=3)),
    ]
    classes = BaselineClassifier().predict_batch([ClassifierInput(m.text) for m in batch])
    with sessions() as s, s.begin():
        repo.store_mentions(s, batch, classes, now=T0)
    with sessions() as s:

        def ids(**filters: object) -> list[str]:
            return [m.external_id for m in repo.list_mentions(s, **filters)]  # type: ignore[arg-type]

        assert ids() == ["4", "3", "2", "1"]  # newest first
        assert ids(brand="Vantix") == ["3"]
        assert ids(source="other") == ["4"]
        assert ids(sentiment="negative") == ["1"]
        assert ids(category="outage") == ["1"]
        assert ids(since=T0 + timedelta(minutes=30), brand="Lumora") == ["4", "2"]
        assert ids(search="FOLDER") == ["4"]
        assert ids(limit=2) == ["4", "3"]
        assert ids(limit=2, offset=2) == ["2", "1"]


def test_search_covers_titles_and_treats_wildcards_literally(sessions: sessionmaker[Session]) -> None:
    from dataclasses import replace

    batch = [
        replace(mention("1", "plain body"), title="Lumora outage report"),
        mention("2", "lumora is 100% down"),
        mention("3", "lumora is 1000 down"),
        mention("4", "file_name broke lumora"),
        mention("5", "filename broke lumora"),
    ]
    with sessions() as s, s.begin():
        repo.store_mentions(s, batch, now=T0)
    with sessions() as s:
        assert [m.external_id for m in repo.list_mentions(s, search="OUTAGE REPORT")] == ["1"]
        assert [m.external_id for m in repo.list_mentions(s, search="100%")] == ["2"]
        assert [m.external_id for m in repo.list_mentions(s, search="file_name")] == ["4"]


def test_offsets_are_stored_as_utc(sessions: sessionmaker[Session]) -> None:
    from datetime import timezone

    plus_two = timezone(timedelta(hours=2))
    with sessions() as s, s.begin():
        repo.store_mentions(s, [mention("1", "lumora", at=T0.astimezone(plus_two))], now=T0)
    with sessions() as s:
        (row,) = repo.list_mentions(s)
        assert row.published_at == T0 and row.published_at.utcoffset() == timedelta(0)


def test_classifications_keep_the_model_version_and_checksum(sessions: sessionmaker[Session]) -> None:
    (c,) = BaselineClassifier().predict_batch([ClassifierInput("lumora is down")])
    digest = "ab" * 32
    with sessions() as s, s.begin():
        repo.store_mentions(
            s,
            [mention("v1", "lumora is down")],
            [replace(c, model_version="m-2.0", model_sha256=digest)],
            now=T0,
        )
    with sessions() as s:
        row = s.scalars(select(ClassificationRow)).one()
        assert (row.model_version, row.model_sha256) == ("m-2.0", digest)


def test_reclassify_replaces_the_classification(sessions: sessionmaker[Session]) -> None:
    batch = [mention("1", "lumora is down"), mention("2", "lumora question")]
    classes = BaselineClassifier().predict_batch([ClassifierInput(m.text) for m in batch])
    with sessions() as s, s.begin():
        stored = repo.store_mentions(s, batch, [classes[0], None], now=T0)
    ids = {m.mention.external_id: m.id for m in stored}
    fresh = replace(classes[0], categories=("praise",), model_version="v2")
    with sessions() as s, s.begin():
        repo.reclassify(s, {ids["1"]: fresh, ids["2"]: fresh}, now=T0 + timedelta(hours=1))
    with sessions() as s:
        rows = s.scalars(select(ClassificationRow).order_by(ClassificationRow.mention_id)).all()
        assert [(r.mention_id, r.model_version, r.categories) for r in rows] == [
            (ids["1"], "v2", ["praise"]),
            (ids["2"], "v2", ["praise"]),
        ]


def test_delete_mentions_removes_their_rows(sessions: sessionmaker[Session]) -> None:
    batch = [mention("1", "lumora", brands=("Lumora", "Vantix")), mention("2", "lumora again")]
    classes = BaselineClassifier().predict_batch([ClassifierInput(m.text) for m in batch])
    with sessions() as s, s.begin():
        stored = repo.store_mentions(s, batch, classes, now=T0)
    gone = next(m.id for m in stored if m.mention.external_id == "1")
    with sessions() as s, s.begin():
        assert repo.delete_mentions(s, [gone, 999_999]) == 1
    with sessions() as s:
        assert [m.external_id for m in s.scalars(select(MentionRow))] == ["2"]
        assert _count(s, MentionBrandRow) == 1
        assert _count(s, ClassificationRow) == 1


def test_urgency_filter_alone_and_with_sentiment_and_category(sessions: sessionmaker[Session]) -> None:
    labels = [
        ("1", "negative", "high", ("outage",)),
        ("2", "positive", "high", ()),
        ("3", "negative", "low", ("outage",)),
        ("4", "negative", "critical", ("outage",)),
    ]
    with sessions() as s, s.begin():
        repo.store_mentions(
            s,
            [mention(ext, f"lumora {ext}") for ext, *_ in labels] + [mention("5", "lumora unclassified")],
            [factory_classification(feel, urgency, categories) for _, feel, urgency, categories in labels]
            + [None],
            now=T0,
        )

    def ids(**filters: Any) -> list[str]:
        with sessions() as s:
            return sorted(row.external_id for row in repo.list_mentions(s, **filters))

    assert ids(urgency="high") == ["1", "2"]
    assert ids(urgency="high", sentiment="negative") == ["1"]
    assert ids(urgency="high", category="outage") == ["1"]
    assert ids(urgency="critical", sentiment="positive") == []
    assert ids(sentiment="negative") == ["1", "3", "4"]
