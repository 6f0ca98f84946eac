"""A deterministic collector for benchmarks and the scaled-out tests: numbered mentions, one story each.

``bench.distributed`` and ``tests.scheduler.scale_launcher`` register it as kind ``counting`` in
the `earshot` processes they start. Mention ``n`` of source ``s`` has the external id ``s-n``, an
author of its own, and an outage report whose extra words make it its own story (no near-duplicate
of another), so every mention raises one alert.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar

from collectors.base import Collector, CollectorOptions, Cursor, FetchResult
from domain import Author, Mention

WORDS = [
    "amber",
    "basil",
    "cedar",
    "delta",
    "ember",
    "fjord",
    "garnet",
    "harbor",
    "indigo",
    "jasper",
    "kestrel",
    "lagoon",
    "marble",
    "nectar",
    "onyx",
    "prairie",
    "quartz",
    "raven",
    "sierra",
    "tundra",
    "umber",
    "velvet",
    "willow",
    "xenon",
    "yonder",
    "zephyr",
    "atlas",
    "beacon",
    "canyon",
    "dune",
    "echo",
    "falcon",
    "glacier",
    "heron",
    "island",
    "jungle",
    "koala",
    "lotus",
    "meadow",
    "nimbus",
    "orchid",
    "pebble",
]


def story(prefix: str, n: int) -> str:
    """An outage report whose extra words make it its own story (no near-duplicate of another).

    The words carry ``prefix`` (the source's name) too, so two sources never tell one story.
    """
    words = [f"{WORDS[(n * 7 + k * 13 + len(prefix)) % len(WORDS)]}{n}{prefix}" for k in range(6)]
    return f"lumora is down again {' '.join(words)}, sync stuck and 500 errors everywhere"


class CountingOptions(CollectorOptions):
    """How many mentions in all, how many one fetch returns, and each author's followers."""

    total: int = 20
    per_fetch: int = 20
    followers: int = 100


class CountingCollector(Collector[CountingOptions]):
    """Mentions 0..total-1 of this source, ``per_fetch`` at a time, the cursor counting them."""

    kind: ClassVar[str] = "counting"
    options_model: ClassVar[type[CollectorOptions]] = CountingOptions

    def fetch(self, cursor: Cursor | None) -> FetchResult:
        """The next ``per_fetch`` mentions after the cursor."""
        start = int((cursor or {}).get("n", 0))
        end = min(self.options.total, start + self.options.per_fetch)
        now = datetime.now(UTC)
        mentions = [
            Mention(
                source=self.name,
                source_kind=self.kind,
                external_id=f"{self.name}-{n}",
                text=story(self.name, n),
                # One author per mention: sources sharing authors in lockstep would make every
                # concurrent store wait on the same author rows, which real streams rarely do.
                author=Author(handle=f"{self.name}-user{n}", followers=self.options.followers),
                published_at=now,
                collected_at=now,
                brands=("Lumora",),
                queries=("lumora",),
                language="en",
            )
            for n in range(start, end)
        ]
        return FetchResult(mentions=mentions, cursor={"n": end}, fetched=len(mentions))
