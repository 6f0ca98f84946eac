"""The store stage reads once per batch, not once per mention: silences, open alerts, installation id.

These reads were a query each per mention (and an ORM load each), which made storing, not
classifying, the pipeline's bottleneck. Counting statements is exact, unlike timing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from bench.counting import story
from collectors.base import FetchResult
from scheduler.pipeline import database_clusterer, run_source
from storage.models import AlertEventRow, AlertRow, DeliveryRow, MentionRow
from tests.factories import ScriptedCollector, components, mention

READS = {
    "silences": "FROM silences",
    "open alerts": "FROM alerts",
    "installation": "FROM installation",
    "near-duplicates": "FROM neardup_signatures",
}


@contextmanager
def _reads(engine: Engine) -> Iterator[Counter[str]]:
    seen: Counter[str] = Counter()

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        flat = " ".join(statement.split())
        for name, needle in READS.items():
            if flat.startswith("SELECT") and needle in flat:
                seen[name] += 1

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _store(sessions: sessionmaker[Session], engine: Engine, source: str, texts: list[str]) -> Counter[str]:
    batch = [mention(f"{source}-{n}", text, source=source, handle=f"user{n}") for n, text in enumerate(texts)]
    comps = components(sessions, {source: ScriptedCollector(source, [FetchResult(batch, {"n": 1})])})
    comps.cluster = database_clusterer(comps)  # the shared index scaled-out workers use
    with _reads(engine) as seen:
        report = run_source(comps, source)
    assert report.ok and report.new == len(texts)
    return seen


def test_storing_reads_the_same_whatever_the_batch_size(
    sessions: sessionmaker[Session], engine: Engine
) -> None:
    small = _store(sessions, engine, "small", [story("small", n) for n in range(2)])
    large = _store(sessions, engine, "large", [story("large", n) for n in range(12)])
    assert small == large and set(small) == set(READS)
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(AlertRow)) == 14
        assert s.scalar(select(func.count()).select_from(DeliveryRow)) == 14


def test_a_story_told_twice_in_one_batch_folds_into_the_alert_the_batch_raised(
    sessions: sessionmaker[Session], engine: Engine
) -> None:
    text = story("twice", 1)
    _store(sessions, engine, "twice", [text, text + " !", story("twice", 2)])
    with sessions() as s:
        counts = sorted(s.scalars(select(AlertRow.count)).all())
        folded = s.scalar(
            select(func.count()).select_from(AlertEventRow).where(AlertEventRow.action == "folded")
        )
    assert counts == [1, 2] and folded == 1
    with sessions() as s:
        clusters = s.scalars(select(MentionRow.cluster_id).order_by(MentionRow.id)).all()
    assert clusters[0] == clusters[1] != clusters[2]
