"""Ingest throughput: collect -> dedup -> store for 100k demo-shaped mentions, SQLite and PostgreSQL.

Also measures, in the same run and on the same rows, batched storing against
one-row-at-a-time storing (one INSERT per mention, and one transaction per mention), and
`earshot import`'s parse-and-store path (``import_items`` over a JSON lines file with the
classification given) with the rollups maintained against the same import without them.

    python -m bench.ingest [--mentions 100000] [--single 5000] [--import-lines 50000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from collectors.base import CollectorContext
from collectors.demo import DemoCollector, DemoOptions
from collectors.matching import BrandMatcher, BrandSpec
from domain import Classification, Mention
from storage import mentions as repo
from storage import rollups
from storage.db import create_db_engine, session_factory, upgrade
from storage.importer import ImportReport, import_items, parse_json_lines

BRANDS = [
    BrandSpec("Lumora", ("lumora OR @lumora OR @LumoraSupport OR #lumoracloud",)),
    BrandSpec("Vantix", ("vantix OR @vantix OR #vantix",)),
    BrandSpec("Orbly", ("orbly OR @orbly OR #orbly",)),
]
BATCH = 1000


def collect(n: int) -> tuple[list[Mention], float]:
    """Collect ``n`` mentions from the looping demo source; return them and the seconds it took."""
    demo = DemoCollector(
        name="demo",
        options=DemoOptions(per_run=BATCH, backlog_fraction=0.0, loop=True),
        context=CollectorContext(matcher=BrandMatcher(BRANDS), now=lambda: datetime.now(UTC)),
    )
    out: list[Mention] = []
    cursor = None
    started = time.perf_counter()
    while len(out) < n:
        result = demo.fetch(cursor)
        cursor = result.cursor
        out.extend(result.mentions)
    return out[:n], time.perf_counter() - started


def ingest_batched(sessions: sessionmaker[Session], mentions: list[Mention]) -> float:
    """Dedup against the database and store in batches, one transaction per batch; seconds."""
    started = time.perf_counter()
    now = datetime.now(UTC)
    for start in range(0, len(mentions), BATCH):
        batch = mentions[start : start + BATCH]
        with sessions() as session, session.begin():
            known = repo.existing_keys(session, [m.key for m in batch])
            repo.store_mentions(session, [m for m in batch if m.key not in known], now=now)
    return time.perf_counter() - started


def ingest_row_at_a_time(
    sessions: sessionmaker[Session], mentions: list[Mention], *, commit_each: bool
) -> float:
    """Dedup and store each mention with its own statements (and, optionally, its own commit)."""
    started = time.perf_counter()
    now = datetime.now(UTC)
    session = sessions()
    try:
        if not commit_each:
            session.begin()
        for m in mentions:
            if commit_each:
                session.begin()
            if not repo.existing_keys(session, [m.key]):
                repo.store_mentions(session, [m], now=now)
            if commit_each:
                session.commit()
        if not commit_each:
            session.commit()
    finally:
        session.close()
    return time.perf_counter() - started


def _relabel(mentions: list[Mention], tag: str) -> list[Mention]:
    return [replace(m, source=f"demo-{tag}") for m in mentions]


@contextmanager
def sqlite_database() -> Iterator[str]:
    """A fresh SQLite file."""
    with tempfile.TemporaryDirectory() as folder:
        yield f"sqlite:///{folder}/bench.db"


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A throwaway database on the local PostgreSQL server."""
    name = f"earshot_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run_backend(label: str, url: str, mentions: list[Mention], single: int, collect_seconds: float) -> None:
    """Measure and print one backend's figures."""
    engine = create_db_engine(url)
    upgrade(engine)
    sessions = session_factory(engine)
    # A running database has planner statistics (autovacuum analyzes within a minute); a table
    # created seconds ago has none, and PostgreSQL then filters instead of using the unique index.
    # Warm up on 10k rows of another source and ANALYZE, as production would have.
    ingest_batched(sessions, _relabel(mentions[:10_000], "warmup"))
    with engine.begin() as connection:
        connection.execute(text("ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE mentions"))
    seconds = ingest_batched(sessions, mentions)
    again = ingest_batched(sessions, mentions)  # every mention is now a duplicate
    subset = mentions[:single]
    batched_subset = ingest_batched(sessions, _relabel(subset, "b"))
    per_row = ingest_row_at_a_time(sessions, _relabel(subset, "r"), commit_each=False)
    per_txn = ingest_row_at_a_time(sessions, _relabel(subset, "t"), commit_each=True)
    engine.dispose()
    n = len(mentions)
    print(
        f"{label:<10} collect+dedup+store {n:>7,} new: {n / (collect_seconds + seconds):>9,.0f} mentions/s "
        f"(store {n / seconds:,.0f}/s); re-ingest all duplicates: {n / again:,.0f}/s"
    )
    print(
        f"{'':<10} on {single:,} rows: batched {single / batched_subset:,.0f}/s, one INSERT per row "
        f"{single / per_row:,.0f}/s, one transaction per row {single / per_txn:,.0f}/s"
    )
    print(
        f"{'':<10} ratio batched / one-INSERT-per-row = {per_row / batched_subset:.1f}x; "
        f"batched / one-transaction-per-row = {per_txn / batched_subset:.1f}x"
    )


def write_import_file(path: Path, n: int, *, days: float = 30, seed: int = 1) -> None:
    """``n`` JSON lines over ``days`` x 5 brands, classification given (bench/web.py's shape)."""
    rng = random.Random(seed)
    end = datetime(2026, 11, 1, tzinfo=UTC)
    brands = ["Lumora", "Vantix", "Orbly", "Quenta", "Halvo"]
    categories = ["outage", "billing", "praise", "question", "product_feedback", "customer_service"]
    offsets = sorted(rng.random() * days * 86_400 for _ in range(n))
    with path.open("w", encoding="utf-8") as out:
        for i, offset in enumerate(offsets):
            named = list(dict.fromkeys(rng.choices(brands, [40, 25, 15, 12, 8], k=1 + (rng.random() < 0.1))))
            record = {
                "source": rng.choice(["reddit", "mastodon", "news", "reviews", "forum"]),
                "external_id": f"imp-{i}",
                "url": f"https://social.example/imp/{i}",
                "text": f"post {i} about {' and '.join(named)}",
                "language": rng.choice(["en", "en", "de", None]),
                "published_at": (end - timedelta(days=days, seconds=-offset)).isoformat(),
                "brands": named,
                "author": {"handle": f"@user{rng.randrange(20_000)}", "followers": rng.randrange(100_000)},
                "classification": {
                    "sentiment": rng.choice(["negative", "neutral", "positive"]),
                    "categories": rng.sample(categories, rng.randrange(3)),
                },
            }
            out.write(json.dumps(record) + "\n")


def _no_model(mentions: list[Mention]) -> list[Classification]:
    raise AssertionError("every benchmark line carries its classification")


def import_file(
    sessions: sessionmaker[Session], path: Path, *, fresh: bool = True
) -> tuple[ImportReport, float]:
    """Parse and store ``path`` as `earshot import` does (its default batch size); report and seconds.

    ``fresh``: every line must be new (a benchmark file); otherwise only free of bad lines.
    """
    started = time.perf_counter()
    with path.open("rb") as stream:
        report = import_items(
            sessions=sessions,
            items=(item for _, item in parse_json_lines(stream)),
            classify=_no_model,
            now=lambda: datetime.now(UTC),
        )
    seconds = time.perf_counter() - started
    if report.errors or (fresh and report.duplicates):
        raise RuntimeError(f"benchmark import went wrong: {report}")
    return report, seconds


@contextmanager
def without_rollups() -> Iterator[None]:
    """Benchmark only: storing with rollup maintenance switched off."""
    original = rollups.apply
    rollups.apply = lambda session, deltas: None
    try:
        yield
    finally:
        rollups.apply = original


def run_import(label: str, database: Callable[[], AbstractContextManager[str]], path: Path, n: int) -> None:
    """Import rate with and without rollups (alternating rounds, fresh database each), and re-import."""
    rates: dict[bool, list[float]] = {True: [], False: []}
    again = 0.0
    for _round in range(2):
        for maintained in (True, False):
            with database() as url:
                engine = create_db_engine(url)
                upgrade(engine)
                sessions = session_factory(engine)
                with nullcontext() if maintained else without_rollups():
                    rates[maintained].append(n / import_file(sessions, path)[1])
                if maintained:
                    report, seconds = import_file(sessions, path, fresh=False)
                    if report.stored:
                        raise RuntimeError(f"a re-import stored {report.stored} mentions again")
                    again = n / seconds
                engine.dispose()
    best = {k: max(v) for k, v in rates.items()}
    print(
        f"{label:<10} import {n:,} lines: {best[True]:,.0f}/s with rollups, {best[False]:,.0f}/s without "
        f"(rollups cost {1 - best[True] / best[False]:.0%}; best of 2 each); re-import (all duplicates) "
        f"{again:,.0f}/s; target 30,000/s: {best[True] / 30_000:.2f}x"
    )


def main(argv: list[str]) -> None:
    """Parse arguments and run both backends."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mentions", type=int, default=100_000)
    parser.add_argument("--single", type=int, default=5_000, help="rows for the one-at-a-time comparison")
    parser.add_argument("--import-lines", type=int, default=50_000, help="lines per import run (0: skip)")
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args(argv)
    if args.import_lines:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "history.jsonl"
            # The density (1,000,000 mentions over 30 days): rollup rows per batch, and so
            # the rollups' share of the cost, depend on how many hours a batch spans.
            write_import_file(path, args.import_lines, days=30 * args.import_lines / 1_000_000)
            run_import("SQLite", sqlite_database, path, args.import_lines)
            run_import("PostgreSQL", lambda: postgres_database(args.postgres), path, args.import_lines)
    if not args.mentions:
        return
    mentions, collect_seconds = collect(args.mentions)
    print(
        f"collected {len(mentions):,} demo-shaped mentions in {collect_seconds:.1f}s "
        f"({len(mentions) / collect_seconds:,.0f}/s through parse -> match -> normalise)"
    )
    with sqlite_database() as url:
        run_backend("SQLite", url, mentions, args.single, collect_seconds)
    with postgres_database(args.postgres) as url:
        run_backend("PostgreSQL", url, mentions, args.single, collect_seconds)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
