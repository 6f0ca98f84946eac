"""A deterministic collector for benchmarks and the scaled-out tests: numbered mentions, one story each.

``bench.distributed`` and ``tests.scheduler.scale_launcher`` register it as kind ``counting`` in
the `earshot` processes they start. Mention ``n`` of source ``s`` has the external id ``s-n``, an
author of its own, and a text whose extra words make it its own story (no near-duplicate of
another): an outage report, which raises one alert, or (``alert_every`` > 1) praise, which raises none.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar

from pydantic import Field

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


def _words(prefix: str, n: int) -> str:
    # The words carry ``prefix`` (the source's name) too, so two sources never tell one story.
    return " ".join(f"{WORDS[(n * 7 + k * 13 + len(prefix)) % len(WORDS)]}{n}{prefix}" for k in range(6))


def story(prefix: str, n: int) -> str:
    """An outage report whose extra words make it its own story (no near-duplicate of another)."""
    return f"lumora is down again {_words(prefix, n)}, sync stuck and 500 errors everywhere"


def praise(prefix: str, n: int) -> str:
    """A happy post of its own story: rated low, so it raises no alert at ``min_urgency: medium``."""
    return f"tried lumora for {_words(prefix, n)} this week, the new sync is lovely"


class CountingOptions(CollectorOptions):
    """How many mentions in all, how many one fetch returns, each author's followers, which report outages.

    Mention ``n`` is an outage report when ``n % alert_every == 0`` and praise otherwise, so a
    large ``alert_every`` makes a load that is mostly classifying and storing, as real streams are.
    """

    total: int = 20
    per_fetch: int = 20
    followers: int = 100
    alert_every: int = Field(default=1, ge=1)


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
                text=story(self.name, n) if n % self.options.alert_every == 0 else praise(self.name, n),
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
