"""The near-duplicate index in the database: shared by workers, bounded by the clustering window."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from collectors.base import FetchResult
from scheduler.pipeline import database_clusterer, run_source
from storage import neardup as neardup_repo
from storage.models import AlertRow, MentionRow
from tests.factories import Clock, ScriptedCollector, components, mention

STORY = "lumora is down again in europe, sync stuck and 500 errors everywhere since noon"
RETWEET = "RT @someone: lumora is down again in europe, sync stuck and 500 errors everywhere since noon"
OTHER = "lumora billing charged me twice this month and support never answered my ticket"


def _worker(sessions: sessionmaker[Session], name: str, texts: list[str], clock: Clock) -> object:
    batch = FetchResult(
        [mention(f"{name}-{n}", t, source=name, at=clock.now) for n, t in enumerate(texts)], {"n": 1}
    )
    comps = components(sessions, {name: ScriptedCollector(name, [batch])}, clock=clock)
    comps.cluster_window_hours = 1
    comps.cluster = database_clusterer(comps)
    return comps


def test_a_copy_stored_by_another_worker_joins_the_story(sessions: sessionmaker[Session]) -> None:
    clock = Clock()
    first = _worker(sessions, "a", [STORY], clock)
    second = _worker(sessions, "b", [RETWEET, OTHER], clock)
    assert run_source(first, "a").alerts == 1  # type: ignore[arg-type]
    report = run_source(second, "b")  # type: ignore[arg-type]
    assert (report.new, report.folded) == (2, 1)
    with sessions() as s:
        clusters = dict(s.execute(select(MentionRow.external_id, MentionRow.cluster_id)).all())
        ids = dict(s.execute(select(MentionRow.external_id, MentionRow.id)).all())
        assert clusters == {"a-0": ids["a-0"], "b-0": ids["a-0"], "b-1": ids["b-1"]}
        assert [a.count for a in s.scalars(select(AlertRow).order_by(AlertRow.id))] == [2, 1]
        assert neardup_repo.size(s) == 3


def test_the_index_forgets_what_left_the_window(sessions: sessionmaker[Session]) -> None:
    clock = Clock()
    assert run_source(_worker(sessions, "a", [STORY, OTHER], clock), "a").new == 2  # type: ignore[arg-type]
    clock.advance(hours=1, seconds=61)
    # A copy of a story older than the window is a new story, and the old rows are evicted.
    report = run_source(_worker(sessions, "b", [RETWEET], clock), "b")  # type: ignore[arg-type]
    assert (report.new, report.folded) == (1, 0)
    with sessions() as s:
        assert neardup_repo.size(s) == 1
    with sessions() as s, s.begin():
        assert neardup_repo.evict(s, now=clock.now + timedelta(hours=2), window=timedelta(hours=1)) == 1
    with sessions() as s:
        assert neardup_repo.size(s) == 0
