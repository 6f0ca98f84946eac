"""Where the marketers' dashboard spends its time: each part of ``web.analytics.dashboard`` timed alone.

Loads N mentions over 30 days x 5 brands (``bench.web``'s import file, through the import path,
so the rollups are maintained) into a database that is kept between runs, then times each part
of the dashboard for 30 days by day and by hour: the series, the previous-period summary,
categories, authors by reach and emerging terms, and the whole ``dashboard`` call.

    python -m bench.dashboard [--mentions 200000] [--repeat 5] [--only sqlite|postgresql]
                              [--sqlite PATH] [--postgres URL] [--profile]

``--profile`` prints the top of a cProfile of one ``dashboard`` call per bucket.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from bench.ingest import import_file
from bench.web import BRANDS, DAYS, END, ROOT, write_history
from storage.db import create_db_engine, session_factory, upgrade
from storage.models import MentionRow
from web import analytics as dash
from web.context import WebContext


def loaded(url: str, mentions: int) -> sessionmaker[Session]:
    """Sessions over ``url``, loaded with ``mentions`` benchmark mentions unless it already holds them."""
    engine = create_db_engine(url)
    upgrade(engine)
    sessions = session_factory(engine)
    with sessions() as session:
        stored = session.scalar(select(func.count()).select_from(MentionRow)) or 0
    if stored < mentions:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "history.jsonl"
            write_history(
                path,
                mentions - stored,
                start=END - timedelta(days=DAYS),
                end=END,
                tag=f"d{stored}",
                seed=stored,
            )
            started = time.perf_counter()
            import_file(sessions, path)
            print(
                f"loaded {mentions - stored:,} mentions in {time.perf_counter() - started:.0f}s", flush=True
            )
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))
    return sessions


def context(sessions: sessionmaker[Session]) -> WebContext:
    """The benchmark app's context: five brands, each the others' competitor, the clock at END."""
    competitors = {b: tuple(c for c in BRANDS if c != b) for b in BRANDS}
    return WebContext(
        session_factory=sessions, brands=tuple(BRANDS), competitors=competitors, clock=lambda: END
    )


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """(p50, max) milliseconds of ``repeat`` calls after one warm-up."""
    fn()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), max(times)


def parts(ctx: WebContext, session: Session, view: dash.View) -> dict[str, Callable[[], Any]]:
    """Each part of the dashboard as a call of its own."""
    return {
        "resolve_view": lambda: dash.resolve_view(
            ctx, session, range_name="30d", since=None, until=None, brand=None, bucket=view.bucket
        ),
        "series (sentiment, window)": lambda: dash.series_of(session, view),
        "summary (previous period)": lambda: dash.summary(ctx, session, view, *dash.series_of(session, view)),
        "categories (+previous)": lambda: dash.categories(session, view),
        "authors by reach": lambda: dash.authors(session, view),
        "emerging terms": lambda: dash.terms(ctx, session, view),
        "dashboard (all)": lambda: dash.dashboard(ctx, session, view),
    }


def run(label: str, sessions: sessionmaker[Session], repeat: int, profile: bool) -> None:
    """Time every part for 30 days by day and by hour, printed as it goes."""
    ctx = context(sessions)
    print(f"\n{label}: {'part, 30 days':<30} {'bucket':>6} {'p50 ms':>8} {'max ms':>8}")
    for bucket in ("day", "hour"):
        with sessions() as session:
            view = dash.resolve_view(
                ctx, session, range_name="30d", since=None, until=None, brand=None, bucket=bucket
            )
            for name, fn in parts(ctx, session, view).items():
                p50, worst = timed(fn, repeat)
                print(f"{label}: {name:<30} {bucket:>6} {p50:>8.1f} {worst:>8.1f}", flush=True)
            if profile:
                profiler = cProfile.Profile()
                profiler.enable()
                dash.dashboard(ctx, session, view)
                profiler.disable()
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)


def run_http(label: str, sessions: sessionmaker[Session], repeat: int) -> None:
    """p50/p95 of /api/analytics and the overview page, 30 days by day and by hour, in-process."""
    from fastapi.testclient import TestClient

    from bench.web import _pct, bench_app
    from web.auth.accounts import add_user, create_token

    with sessions() as session, session.begin():
        # A new user per run: the database is kept between runs.
        name = f"bench-{uuid.uuid4().hex[:8]}"
        add_user(session, name=name, role="admin", teams=(), password=None, now=END)
        token = create_token(session, name=name, now=END)[1]
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(bench_app(sessions), base_url="http://localhost", headers=headers) as client:
        for bucket in ("day", "hour"):
            for name, path in (("/api/analytics", "/api/analytics"), ("overview page", "/")):
                url = f"{path}?range=30d&bucket={bucket}"
                client.get(url).raise_for_status()
                times = []
                for _ in range(repeat):
                    started = time.perf_counter()
                    client.get(url).raise_for_status()
                    times.append((time.perf_counter() - started) * 1000)
                p50, p95 = statistics.median(times), _pct(times, 0.95)
                print(
                    f"{label}: {name + ' by ' + bucket:<30} {p50:>8.1f} {p95:>8.1f} (p50, p95 ms)", flush=True
                )


def run_terms(repeat: int) -> None:
    """Emerging terms over the demo source's real texts, 3,000 a side as the dashboard reads them."""
    import json
    import random

    from storage import analytics_terms

    lines = (ROOT / "collectors" / "data" / "demo_mentions.jsonl").read_text(encoding="utf-8").splitlines()
    demo = [json.loads(line)["text"] for line in lines if line.strip()]
    rng = random.Random(3)
    # Distinct texts, as stored mentions are: a demo text with a number of its own.
    texts = [f"{rng.choice(demo)} #{i}" for i in range(6000)]

    def once() -> None:
        analytics_terms.emerging_terms(texts[:3000], texts[3000:], exclude=BRANDS)

    cold = []
    for _ in range(repeat):
        # (Older trees have no cache; ``getattr`` lets this file time them too, for before/after.)
        getattr(getattr(analytics_terms, "content_words", None), "cache_clear", lambda: None)()
        started = time.perf_counter()
        once()
        cold.append((time.perf_counter() - started) * 1000)
    warm, _ = timed(once, repeat)
    print(
        f"emerging terms, 2 x 3,000 demo texts: {statistics.median(cold):.1f} ms cold, "
        f"{warm:.1f} ms warm (p50)"
    )


def main(argv: list[str]) -> None:
    """Parse arguments, load (once) and time each backend."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--mentions", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", choices=["sqlite", "postgresql"], default=None)
    parser.add_argument("--sqlite", default=str(Path(tempfile.gettempdir()) / "earshot-dashboard-bench.db"))
    parser.add_argument(
        "--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/earshot_dashboard_bench"
    )
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--http", action="store_true", help="also time the endpoints (in-process client)")
    args = parser.parse_args(argv)
    run_terms(args.repeat)
    if args.only in (None, "sqlite"):
        sessions = loaded(f"sqlite:///{args.sqlite}", args.mentions)
        run("SQLite", sessions, args.repeat, args.profile)
        if args.http:
            run_http("SQLite", sessions, args.repeat)
    if args.only in (None, "postgresql"):
        admin = create_engine(
            create_engine(args.postgres).url.set(database="postgres"), isolation_level="AUTOCOMMIT"
        )
        name = create_engine(args.postgres).url.database
        with admin.connect() as connection:
            if not connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}):
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        sessions = loaded(args.postgres, args.mentions)
        run("PostgreSQL", sessions, args.repeat, args.profile)
        if args.http:
            run_http("PostgreSQL", sessions, args.repeat)


if __name__ == "__main__":
    main(sys.argv[1:])
