"""Ingest throughput: collect -> dedup -> store for 100k demo-shaped mentions, SQLite and PostgreSQL.

Also measures, in the same run and on the same rows, batched storing against
one-row-at-a-time storing (one INSERT per mention, and one transaction per mention).

    python -m bench.ingest [--mentions 100000] [--single 5000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from collectors.base import CollectorContext
from collectors.demo import DemoCollector, DemoOptions
from collectors.matching import BrandMatcher, BrandSpec
from domain import Mention
from storage import mentions as repo
from storage.db import create_db_engine, session_factory, upgrade

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


def main(argv: list[str]) -> None:
    """Parse arguments and run both backends."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mentions", type=int, default=100_000)
    parser.add_argument("--single", type=int, default=5_000, help="rows for the one-at-a-time comparison")
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args(argv)
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
