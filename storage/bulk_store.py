"""Storing large batches (imports) through the raw driver: ``store_mentions_bulk``.

The same guarantees as ``storage.mentions.store_mentions`` at a fraction of the per-row cost:
rows are built as plain tuples (``storage.bulk``'s column orders) and written with executemany
on SQLite and COPY on PostgreSQL. Functions take a session and never commit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from domain import Classification, Mention
from storage import bulk, rollups
from storage.mentions import StoredMention
from storage.rollup_tables import ALL_BRANDS


def store_mentions_bulk(
    session: Session,
    mentions: Sequence[Mention],
    classifications: Sequence[Classification | None] | None = None,
    *,
    now: datetime,
) -> list[StoredMention]:
    """``store_mentions`` for large batches (import): raw DBAPI writes, COPY on PostgreSQL.

    Same guarantees: a (source, external_id) already stored is skipped, the first copy in the
    batch wins, and the rollups are updated in this transaction for the new mentions only.
    """
    if not mentions:
        return []
    mentions = [bulk.cleaned(m) for m in mentions]
    classes = list(classifications) if classifications is not None else [None] * len(mentions)
    by_key: dict[tuple[str, str], int] = {}
    for index, m in enumerate(mentions):
        by_key.setdefault((m.source, m.external_id), index)  # a plain tuple: MentionKey costs more
    order = list(by_key.values())
    writer = bulk.writer(session)
    # Authors first: on SQLite that first write takes the database's write lock, so the ids
    # handed out below cannot race another writer.
    authors = writer.upsert_authors(_author_rows([mentions[i] for i in order], writer.time(now)))
    ids = writer.new_ids(len(order))
    rows = [_mention_row(row_id, mentions[i], authors, writer) for row_id, i in zip(ids, order, strict=True)]
    stored_ids = writer.insert_mentions(rows)
    inserted = [
        StoredMention(row_id, mentions[i], classes[i])
        for row_id, i in zip(ids, order, strict=True)
        if row_id in stored_ids
    ]
    writer.insert_rows(
        "mention_brands",
        bulk.BRAND_COLUMNS,
        [(s.id, b) for s in inserted for b in dict.fromkeys(s.mention.brands)],
    )
    classified_at = writer.time(now)
    # Imports share one Classification object between the lines that carry the same one: encode
    # each object once (the dict holds it, so its id is not reused meanwhile).
    encoded: dict[int, tuple[Classification, tuple[Any, ...]]] = {}
    class_rows: list[tuple[Any, ...]] = []
    for s in inserted:
        c = s.classification
        if c is None:
            continue
        known = encoded.get(id(c))
        if known is None:
            known = encoded[id(c)] = (c, _classification_values(c, classified_at, writer))
        class_rows.append((s.id, *known[1]))
    writer.insert_rows("classifications", bulk.CLASSIFICATION_COLUMNS, class_rows)
    rollups.apply(session, _new_deltas(inserted))
    return inserted


def _author_rows(mentions: Sequence[Mention], updated_at: Any) -> list[tuple[Any, ...]]:
    latest: dict[tuple[str, str], tuple[Any, ...]] = {}
    for m in mentions:
        a = m.author
        kind = m.source_kind or m.source
        latest[(kind, a.handle)] = (kind, a.handle, a.display_name[:255], a.followers, a.url, updated_at)
    # Sorted so concurrent writers lock author rows in the same order (no deadlocks).
    return [latest[k] for k in sorted(latest)]


def _mention_row(
    row_id: int, m: Mention, authors: dict[tuple[str, str], int], writer: bulk.Writer
) -> tuple[Any, ...]:
    # The order of bulk.MENTION_COLUMNS.
    kind = m.source_kind or m.source
    e = m.engagement
    published = writer.time(m.published_at)
    collected = published if m.collected_at == m.published_at else writer.time(m.collected_at)
    return (
        row_id, m.source, kind, m.external_id, m.url, m.title, m.text, m.language,
        authors.get((kind, m.author.handle)), published, collected,
        e.likes, e.shares, e.replies, e.views, writer.json(m.queries), writer.json(m.raw), m.owned,
    )  # fmt: skip


def _classification_values(c: Classification, classified_at: Any, writer: bulk.Writer) -> tuple[Any, ...]:
    # bulk.CLASSIFICATION_COLUMNS after mention_id; the same values as classification_values.
    j = writer.json
    return (
        str(c.sentiment), j(c.sentiment_scores), str(c.urgency), float(c.urgency_score),
        j(c.categories), j(c.category_scores), c.language, c.model_version, c.model_sha256,
        j(c.signals), c.reduced_confidence, classified_at,
    )  # fmt: skip


def _new_deltas(inserted: Sequence[StoredMention]) -> rollups.Deltas:
    """What ``rollups.Deltas.of`` gives for newly stored mentions (each its own story), in one pass."""
    # Mentions first grouped by what they count towards (a few thousand groups per batch), so the
    # per-brand and per-category expansion runs once per group rather than once per mention.
    groups: Counter[tuple[int, tuple[str, ...], str, tuple[str, ...]]] = Counter()
    for s in inserted:
        m, c = s.mention, s.classification
        hour = rollups.hour_of(m.published_at)
        if c is None:
            groups[(hour, m.brands, rollups.UNCLASSIFIED, ())] += 1
        else:
            groups[(hour, m.brands, c.sentiment, c.categories)] += 1
    counts: Counter[tuple[rollups.CountKey, str]] = Counter()
    categories: Counter[rollups.CategoryKey] = Counter()
    for (hour, brands, feeling, names), n in groups.items():
        sentiment = str(feeling)
        named = [str(name) for name in names]
        for brand in dict.fromkeys(brands):
            key = (hour, brand, sentiment)
            counts[(key, "mentions")] += n
            counts[(key, "stories")] += n  # stored without a cluster: each starts its own story
            for name in named:
                categories[(hour, brand, name)] += n
        for name in named:
            categories[(hour, ALL_BRANDS, name)] += n
    return rollups.Deltas(counts, categories)
