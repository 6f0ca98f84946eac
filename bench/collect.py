"""Collector throughput: parse -> match -> normalise on captured fixtures, and the brand matcher alone.

No network: each collector's own parsing and normalising functions run over
its test fixtures (JSON decoding included). The matcher runs 50 brand queries
over 100k synthetic mentions, with and without its word-set prefilter, so the
ratio between the two is measured in the same run.

    python -m bench.collect [--mentions 100000] [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from collectors.bluesky import post_to_mention
from collectors.bluesky_jetstream import event_to_mention, is_post_create, is_time_us
from collectors.errors import BadPayload
from collectors.hackernews import hit_to_mention
from collectors.mastodon import status_to_mention
from collectors.matching import BrandMatcher, BrandSpec
from collectors.reddit import thing_to_mention
from collectors.rss import FeedReader, FeedState, parse_feed
from collectors.twitter import tweet_to_mention

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "collectors" / "fixtures"
NOW = datetime(2025, 3, 6, 12, 0, tzinfo=UTC)
MATCH_ALL = BrandMatcher([BrandSpec("Acme", ("acme", "*"))])

BRAND_NAMES = [
    "acme",
    "globex",
    "initech",
    "umbrella",
    "hooli",
    "stark",
    "wayne",
    "wonka",
    "cyberdyne",
    "tyrell",
]
VOCAB = [
    "the",
    "a",
    "outage",
    "down",
    "support",
    "billing",
    "great",
    "terrible",
    "love",
    "hate",
    "new",
    "phone",
    "cloud",
    "app",
    "update",
    "release",
    "price",
    "refund",
    "help",
    "thanks",
    "why",
    "again",
    "today",
    "week",
    "launch",
    "recall",
    "bug",
    "crash",
    "slow",
    "fast",
    "service",
    "team",
    "account",
    "login",
]


def _read(kind: str, name: str) -> bytes:
    return (FIXTURES / kind / name).read_bytes()


def _rss_items() -> tuple[int, Callable[[], int]]:
    names = ("blog_rss2.xml", "releases_atom.xml", "no_ids_no_dates.xml", "latin1.xml")
    feeds = [(_read("rss", n), {"content-type": "application/rss+xml"}) for n in names]
    reader = FeedReader(source="bench", kind="rss", matcher=MATCH_ALL, now=NOW)

    def run() -> int:
        count = 0
        for body, headers in feeds:
            parsed = parse_feed(body, headers, "https://feeds.example.com/feed")
            count += len(reader.read(parsed, "https://feeds.example.com/feed", FeedState(), 500).mentions)
        return count

    return run(), run


def _json_items(
    kind: str, name: str, items: Callable[[Any], list[Any]], one: Callable[[Any, Any], Any]
) -> Any:
    raw = _read(kind, name)

    def run() -> int:
        body = json.loads(raw)
        return sum(one(item, body) is not None for item in items(body))

    return run(), run


def _jetstream_items(common: dict[str, Any]) -> tuple[int, Callable[[], int]]:
    lines = _read("bluesky_jetstream", "events.jsonl").decode("utf-8").splitlines()

    def run() -> int:
        count = 0
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue  # the fixture holds malformed messages on purpose
            if (
                not isinstance(event, dict)
                or not is_post_create(event)
                or not is_time_us(event.get("time_us"))
            ):
                continue
            try:
                mention = event_to_mention(
                    event, event["time_us"], kind="bluesky-jetstream", site_url="https://bsky.app", **common
                )
            except BadPayload:
                continue
            count += mention is not None
        return count

    return run(), run


def _collectors() -> dict[str, tuple[int, Callable[[], int]]]:
    common: dict[str, Any] = {"source": "bench", "matcher": MATCH_ALL, "now": NOW}
    return {
        "rss": _rss_items(),
        "hackernews": _json_items(
            "hackernews",
            "search_by_date.json",
            lambda b: b["hits"],
            lambda hit, _: hit_to_mention(
                hit, kind="hackernews", site_url="https://news.ycombinator.com", **common
            ),
        ),
        "twitter": _json_items(
            "twitter",
            "search_recent_page1.json",
            lambda b: b["data"],
            lambda tweet, body: tweet_to_mention(
                tweet,
                {u["id"]: u for u in body["includes"]["users"]},
                kind="twitter",
                site_url="https://x.com",
                **common,
            ),
        ),
        "reddit": _json_items(
            "reddit",
            "search_new.json",
            lambda b: [c["data"] for c in b["data"]["children"]],
            lambda data, _: thing_to_mention(
                data, kind="reddit", site_url="https://www.reddit.com", **common
            ),
        ),
        "mastodon": _json_items(
            "mastodon",
            "timeline_tag_acmefail.json",
            lambda b: b,
            lambda status, _: status_to_mention(
                status, instance_host="mastodon.social", kind="mastodon", **common
            ),
        ),
        "bluesky": _json_items(
            "bluesky",
            "search_posts.json",
            lambda b: b["posts"],
            lambda post, _: post_to_mention(post, {}, kind="bluesky", site_url="https://bsky.app", **common),
        ),
        "bluesky-jetstream": _jetstream_items(common),
    }


def _rate(run: Callable[[], int], seconds: float) -> tuple[float, int]:
    items = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        items += run()
    return items / elapsed, items


def brand_queries() -> list[BrandSpec]:
    """Fifty queries over ten brands, in every shape the language offers."""
    specs = []
    for i, name in enumerate(BRAND_NAMES):
        other = BRAND_NAMES[(i + 1) % len(BRAND_NAMES)]
        specs.append(
            BrandSpec(
                name.title(),
                (
                    f'{name} OR "{name} cloud"',
                    f"{name} (outage OR down OR crash) -{other}",
                    f"@{name}support OR #{name}fail",
                    f"{name} NEAR/3 refund",
                    f"({name} OR {name}app) lang:en -jobs",
                ),
            )
        )
    return specs


def synthetic_mentions(count: int, seed: int = 7) -> list[tuple[str, str]]:
    """Short post-like texts; about one in four names a brand, some with handles and hashtags."""
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        words = rng.choices(VOCAB, k=rng.randint(8, 30))
        if rng.random() < 0.25:
            brand = rng.choice(BRAND_NAMES)
            form = rng.choice(
                [brand.title(), brand.upper(), f"@{brand}support", f"#{brand}fail", f"{brand} cloud"]
            )
            words.insert(rng.randrange(len(words) + 1), form)
        texts.append((" ".join(words), rng.choice(["en", "en", "de", "fr"])))
    return texts


def _matcher_rate(matcher: BrandMatcher, texts: list[tuple[str, str]]) -> tuple[float, int]:
    started = time.perf_counter()
    matched = sum(bool(matcher.match(text, language=lang)) for text, lang in texts)
    return len(texts) / (time.perf_counter() - started), matched


def main(argv: list[str]) -> None:
    """Print items per second for every collector, then the matcher's rate with and without prefiltering."""
    parser = argparse.ArgumentParser(prog="python -m bench.collect")
    parser.add_argument("--mentions", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=1.0, help="time spent per collector")
    args = parser.parse_args(argv)

    print(f"{'collector':<18} {'items/run':>9} {'items/s':>12}")
    for kind, (per_run, run) in _collectors().items():
        rate, _ = _rate(run, args.seconds)
        print(f"{kind:<18} {per_run:>9} {rate:>12,.0f}")

    specs = brand_queries()
    texts = synthetic_mentions(args.mentions)
    queries = sum(len(s.queries) for s in specs)
    fast, matched = _matcher_rate(BrandMatcher(specs), texts)
    slow_sample = texts[: max(1, len(texts) // 5)]
    slow, slow_matched = _matcher_rate(BrandMatcher(specs, prefilter=False), slow_sample)
    fast_sample_matched = sum(bool(BrandMatcher(specs).match(t, language=lang)) for t, lang in slow_sample)
    assert slow_matched == fast_sample_matched, "the prefilter changed what matches"
    print(f"\nmatcher: {queries} queries over {len(texts):,} mentions ({matched:,} matched)")
    print(f"{'with word-set prefilter':<28} {fast:>12,.0f} mentions/s")
    print(f"{'regex on every atom':<28} {slow:>12,.0f} mentions/s  (on {len(slow_sample):,} of them)")
    print(f"{'prefilter speed-up':<28} {fast / slow:>12.1f}x")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
