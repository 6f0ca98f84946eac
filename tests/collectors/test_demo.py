"""The demo source: a bundled realistic stream, backlog then live trickle, looping with fresh ids."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

import pytest

from collectors.base import CollectorContext
from collectors.demo import BUNDLED, DemoCollector, DemoOptions, load_items
from collectors.errors import BadPayload
from collectors.matching import BrandMatcher, BrandSpec
from tests.factories import Clock

BRANDS = [
    BrandSpec("Lumora", ("lumora OR @lumora OR #lumoracloud",)),
    BrandSpec("Vantix", ("vantix",)),
    BrandSpec("Orbly", ("orbly",)),
]


def _collector(clock: Clock, **options: object) -> DemoCollector:
    return DemoCollector(
        name="demo",
        options=DemoOptions.model_validate(options),
        context=CollectorContext(matcher=BrandMatcher(BRANDS), now=clock),
    )


def test_bundled_file_is_a_realistic_stream() -> None:
    items = load_items(BUNDLED)
    assert len(items) >= 300
    assert len({i["id"] for i in items}) == len(items)
    languages = Counter(i["lang"] for i in items)
    assert languages["en"] > 300 and len(languages) >= 4
    scenarios = Counter(i["scenario"] for i in items)
    for needed in ("outage", "security", "safety", "legal", "praise", "question", "spam", "news"):
        assert scenarios[needed] > 0, needed
    assert all(0 <= i["t"] <= 2880 for i in items)


def test_first_run_replays_backlog_back_dated_then_trickles() -> None:
    clock = Clock()
    demo = _collector(clock, per_run=5, backlog_fraction=0.5, loop=False)
    items = load_items(BUNDLED)
    first = demo.fetch(None)
    assert first.fetched == len(items) // 2
    assert len(first.mentions) > 0.9 * first.fetched  # nearly every line names a tracked brand
    assert max(m.published_at for m in first.mentions) <= clock()
    assert min(m.published_at for m in first.mentions) < clock() - timedelta(hours=12)
    assert {b for m in first.mentions for b in m.brands} == {"Lumora", "Vantix", "Orbly"}
    clock.advance(minutes=1)
    second = demo.fetch(first.cursor)
    assert second.fetched == 5
    assert all(clock() - timedelta(minutes=1) <= m.published_at <= clock() for m in second.mentions)
    assert not {m.external_id for m in second.mentions} & {m.external_id for m in first.mentions}


def test_stream_loops_with_fresh_ids_or_stops() -> None:
    clock = Clock()
    demo = _collector(clock, per_run=1000, backlog_fraction=1.0, loop=True)
    cursor = demo.fetch(None).cursor
    looped = demo.fetch(cursor)
    assert looped.mentions and all(m.external_id.endswith("~1") for m in looped.mentions)
    stopped = _collector(clock, per_run=1000, backlog_fraction=1.0, loop=False)
    done = stopped.fetch(stopped.fetch(None).cursor)
    assert done.mentions == [] and done.fetched == 0


def test_mentions_carry_author_engagement_and_raw() -> None:
    demo = _collector(Clock(), backlog_fraction=1.0)
    by_id = {m.external_id: m for m in demo.fetch(None).mentions}
    raw = json.loads(BUNDLED.read_text(encoding="utf-8").splitlines()[0])
    m = by_id[raw["id"]]
    assert m.author.handle == raw["author"]["handle"]
    assert m.author.followers == raw["author"]["followers"]
    assert m.engagement.likes == raw["likes"] and m.raw == raw
    assert m.source == "demo" and m.source_kind == "demo"


def test_malformed_demo_file_is_a_clear_error(tmp_path: pytest.TempPathFactory) -> None:
    path = tmp_path / "bad.jsonl"  # type: ignore[operator]
    path.write_text('{"id": "1", "t": 0, "text": "ok lumora"}\n{not json\n', encoding="utf-8")
    with pytest.raises(BadPayload, match=r"bad.jsonl:2"):
        load_items(path)
