"""Trend queries on raw rows against the hourly rollups, SQLite and PostgreSQL, in one run.

Loads N mentions spread over 30 days and 5 brands (with sources, languages, sentiments,
categories and near-duplicate clusters) through the real storing path, which maintains the
rollups, then times each trend query both ways over a 30-day window and checks that both give
the same answer. Also times storing more mentions with and without rollup maintenance.

    python -m bench.analytics [--mentions 200000] [--repeat 3] [--postgres URL]

The issue's figure is 1,000,000 mentions (``--mentions 1000000``); the default, 200,000,
runs in a few minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from bench.ingest import postgres_database, sqlite_database, without_rollups
from domain import Author, Classification, Engagement, Mention, Sentiment, Urgency
from storage import mentions as repo
from storage import rollups, trends
from storage.db import create_db_engine, session_factory, upgrade
from storage.importer import import_items, parse_json_lines

BRANDS = ["Lumora", "Vantix", "Orbly", "Quenta", "Halvo"]
WEIGHTS = [40, 25, 15, 12, 8]
SOURCES = ["reddit", "mastodon", "news", "reviews", "forum"]
LANGUAGES = ["en", "en", "en", "de", "fr", "es", None]
CATEGORIES = ["outage", "billing", "praise", "question", "product_feedback", "customer_service"]
SENTIMENTS = list(Sentiment)
BATCH = 2000
END = datetime(2026, 11, 1, 12, 17, 23, tzinfo=UTC)
DAYS = 30


def generate(
    n: int, *, seed: int = 7, tag: str = "bench", days: float = DAYS
) -> list[tuple[Mention, Classification | None]]:
    """``n`` random mentions over the ``days`` before END, 90% of them classified."""
    rng = random.Random(seed)
    start = END - timedelta(days=days)
    out: list[tuple[Mention, Classification | None]] = []
    for i in range(n):
        brands = [rng.choices(BRANDS, WEIGHTS)[0]]
        if rng.random() < 0.1:
            brands.append(rng.choice(BRANDS))
        at = start + timedelta(seconds=rng.random() * days * 86400)
        language = rng.choice(LANGUAGES)
        mention = Mention(
            source=rng.choice(SOURCES),
            source_kind="bench",
            external_id=f"{tag}-{i}",
            text=f"post {i} about {' and '.join(brands)}",
            author=Author(handle=f"@user{rng.randrange(20_000)}", followers=rng.randrange(100_000)),
            published_at=at,
            collected_at=at,
            language=language,
            engagement=Engagement(likes=rng.randrange(50)),
            brands=tuple(dict.fromkeys(brands)),
        )
        classification = None
        if rng.random() < 0.9:
            classification = Classification(
                sentiment=rng.choice(SENTIMENTS),
                sentiment_scores={},
                urgency=Urgency.LOW,
                urgency_score=0.1,
                categories=tuple(rng.sample(CATEGORIES, rng.randrange(3))),
                language=language,
                model_version="bench",
            )
        out.append((mention, classification))
    # Chronological, as collectors deliver mentions and as exports list them: a batch then
    # touches a few hours' rollup rows, not one row per mention.
    out.sort(key=lambda item: item[0].published_at)
    return out


def load(sessions: sessionmaker[Session], items: list[tuple[Mention, Classification | None]]) -> float:
    """Store in batches as the pipeline does (store, then cluster ~15% as copies); seconds taken."""
    rng = random.Random(11)
    now = datetime.now(UTC)
    started = time.perf_counter()
    for start in range(0, len(items), BATCH):
        batch = items[start : start + BATCH]
        with sessions() as session, session.begin():
            stored = repo.store_mentions(session, [m for m, _ in batch], [c for _, c in batch], now=now)
            ids = [s.id for s in stored]
            copies = {i: rng.choice(ids[:k]) for k, i in enumerate(ids) if k and rng.random() < 0.15}
            repo.set_clusters(session, copies)
    return time.perf_counter() - started


Query = Callable[[Session, bool], Any]


def queries(since: datetime, until: datetime) -> list[tuple[str, Query]]:
    """The dashboard's trend queries over [since, until), each runnable on rollups or raw rows."""
    week = until - timedelta(days=7)
    return [
        (
            "volume by day",
            lambda s, r: trends.volume(s, since=since, until=until, bucket="day", use_rollups=r),
        ),
        (
            "volume by hour",
            lambda s, r: trends.volume(s, since=since, until=until, bucket="hour", use_rollups=r),
        ),
        (
            "sentiment by day",
            lambda s, r: trends.sentiment(s, since=since, until=until, bucket="day", use_rollups=r),
        ),
        (
            "share of voice",
            lambda s, r: trends.share_of_voice(s, brands=BRANDS, since=since, until=until, use_rollups=r),
        ),
        (
            "stories by day",
            lambda s, r: trends.volume(
                s, since=since, until=until, bucket="day", unit="stories", use_rollups=r
            ),
        ),
        (
            "volume by week",
            lambda s, r: trends.volume(s, since=since, until=until, bucket="week", use_rollups=r),
        ),
        ("top categories", lambda s, r: trends.top_categories(s, since=since, until=until, use_rollups=r)),
        ("busiest brands", lambda s, r: trends.busiest_brands(s, since=since, until=until, use_rollups=r)),
        (
            "sentiment by hour, 7 d",
            lambda s, r: trends.sentiment(s, since=week, until=until, bucket="hour", use_rollups=r),
        ),
    ]


def _time(sessions: sessionmaker[Session], query: Query, use_rollups: bool, repeat: int) -> tuple[float, Any]:
    with sessions() as session:
        answer = query(session, use_rollups)  # warm the caches and the statement cache
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            query(session, use_rollups)
            times.append(time.perf_counter() - started)
    return statistics.median(times), answer


def run_backend(label: str, url: str, n: int, repeat: int, extra: int) -> None:
    """Load, time every query both ways, and print one backend's table."""
    engine = create_db_engine(url)
    upgrade(engine)
    sessions = session_factory(engine)
    items = generate(n)
    seconds = load(sessions, items)
    with engine.begin() as connection:
        connection.execute(text("ANALYZE"))
    with sessions() as session:
        summary = rollups.summary(session)
    print(
        f"\n{label}: {n:,} mentions over {DAYS} days x {len(BRANDS)} brands stored in {seconds:.1f}s "
        f"({n / seconds:,.0f}/s, rollups maintained); rollup rows {summary.rows:,}"
    )
    print(
        f"{'query (30 days unless said)':<28} {'raw ms':>9} {'rollup ms':>10} {'raw/rollup':>11}  same answer"
    )
    since = END + timedelta(minutes=3) - timedelta(days=DAYS)
    for name, query in queries(since, END + timedelta(minutes=3)):
        raw, raw_answer = _time(sessions, query, False, repeat)
        fast, fast_answer = _time(sessions, query, True, repeat)
        same = "yes" if raw_answer == fast_answer else "NO"
        print(f"{name:<28} {raw * 1000:>9.1f} {fast * 1000:>10.2f} {raw / fast:>10.0f}x  {same}")
    with sessions() as session:
        started = time.perf_counter()
        trends.top_authors(session, since=since, until=END, limit=10)
        print(f"{'top authors (raw rows only)':<28} {(time.perf_counter() - started) * 1000:>9.1f}")
    # As dense as the main load, so a batch spans as many hours as live ones do; alternating
    # rounds so a busy moment on a shared machine does not land on one side only.
    dense = DAYS * extra / n
    on = off = 0.0
    rounds = max(2, extra // BATCH)
    for r in range(rounds):
        with_items = generate(extra // rounds, seed=100 + r, tag=f"with{r}", days=dense / rounds)
        without_items = generate(extra // rounds, seed=200 + r, tag=f"without{r}", days=dense / rounds)
        for maintained in (r % 2 == 0, r % 2 == 1):
            if maintained:
                on += load(sessions, with_items)
            else:
                with without_rollups():
                    off += load(sessions, without_items)
    print(
        f"storing {extra:,} more (store + cluster): {extra / on:,.0f}/s with rollups, "
        f"{extra / off:,.0f}/s without; rollups add {100 * (on / off - 1):.0f}% to storing time"
    )
    imported = import_file(sessions, generate(extra, seed=23, tag="import", days=dense))
    print(f"`earshot import` path (JSON lines, classification given): {extra / imported:,.0f} mentions/s")
    engine.dispose()


def import_file(sessions: sessionmaker[Session], items: list[tuple[Mention, Classification | None]]) -> float:
    """Write ``items`` as an import file, then parse and store it as `earshot import` does; seconds."""
    lines = []
    for m, c in items:
        record: dict[str, Any] = {
            "source": m.source,
            "external_id": m.external_id,
            "text": m.text,
            "language": m.language,
            "published_at": m.published_at.isoformat(),
            "brands": list(m.brands),
            "author": {"handle": m.author.handle, "followers": m.author.followers},
        }
        if c is not None:
            record["classification"] = {"sentiment": str(c.sentiment), "categories": list(c.categories)}
        else:
            record["classification"] = {"sentiment": "neutral"}
        lines.append(json.dumps(record))
    data = ("\n".join(lines) + "\n").encode()
    started = time.perf_counter()
    items_in = (item for _, item in parse_json_lines(io.BytesIO(data)))
    report = import_items(
        sessions=sessions, items=items_in, classify=_no_model, now=lambda: datetime.now(UTC)
    )
    seconds = time.perf_counter() - started
    assert report.stored == len(items) and not report.errors, report
    return seconds


def _no_model(mentions: list[Mention]) -> list[Classification]:
    raise AssertionError("every benchmark line carries its classification")


def main(argv: list[str]) -> None:
    """Parse arguments and run both backends."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--mentions", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per query (median)")
    parser.add_argument("--extra", type=int, default=20_000, help="mentions for the storing comparison")
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--only", choices=["sqlite", "postgresql"], default=None)
    args = parser.parse_args(argv)
    backends: list[Literal["sqlite", "postgresql"]] = [args.only] if args.only else ["sqlite", "postgresql"]
    for backend in backends:
        if backend == "sqlite":
            with sqlite_database() as url:
                run_backend("SQLite", url, args.mentions, args.repeat, args.extra)
        else:
            with postgres_database(args.postgres) as url:
                run_backend("PostgreSQL", url, args.mentions, args.repeat, args.extra)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
