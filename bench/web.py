"""Issue 12's web benchmark: import rate, trend endpoints, rollup cost and load on a real server.

For SQLite and PostgreSQL, in one run:
1. writes N mentions over 30 days x 5 brands as an import file (JSON lines, classification
   given) and loads it with `earshot import` (run in this process, start-up included, the
   example config pointed at this database), reporting mentions/s, then imports it again
   (all duplicates) through ``import_items``;
2. imports more mentions (``import_items``, same density) with the rollups maintained and, in alternating
   rounds, without them (``rollups.apply`` switched off), then rebuilds the rollups;
3. seeds 2,000 alerts and times 10 requests each (p50/p95, after one warm-up) of the trend
   endpoints, /api/analytics and the overview page over 30 days, by day and by hour, through an
   in-process ASGI client signed in with an API token;
4. starts uvicorn (one worker) on 127.0.0.1 and runs 20 concurrent clients for 20 s (httpx)
   against the list endpoints (/api/mentions, /api/alerts, /alerts, /mentions), then the overview.

    python -m bench.web [--mentions 200000] [--extra 20000] [--clients 20] [--seconds 20]
                        [--only sqlite|postgresql] [--postgres URL]

The issue's figures are at 1,000,000 mentions (``--mentions 1000000``); the default, 200,000,
takes about 10 minutes on a shared 2-core machine. Targets: import >= 30,000/s; p95 < 100 ms; rollups within
20% of storing without them; >= 200 requests/s on the list endpoints and >= 50 on the overview,
p95 < 300 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from bench.ingest import import_file, postgres_database, sqlite_database, without_rollups
from storage import rollups
from storage.db import create_db_engine, session_factory, upgrade
from storage.models import AlertRow, MentionRow
from web.app import create_app
from web.auth.accounts import add_user, create_token

BRANDS = ["Lumora", "Vantix", "Orbly", "Quenta", "Halvo"]
WEIGHTS = [40, 25, 15, 12, 8]
SOURCES = ["reddit", "mastodon", "news", "reviews", "forum"]
LANGUAGES = ["en", "en", "en", "de", "fr", "es", None]
CATEGORIES = ["outage", "billing", "praise", "question", "product_feedback", "customer_service"]
SENTIMENTS = ["negative", "neutral", "positive"]
END = datetime(2026, 11, 1, 12, 17, 23, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[1]
DAYS = 30
ALERTS = 2_000
LIST_PATHS = ["/api/mentions?limit=50", "/api/alerts", "/alerts", "/mentions"]
OVERVIEW_PATHS = ["/?range=30d"]


def write_history(path: Path, n: int, *, start: datetime, end: datetime, tag: str, seed: int) -> None:
    """An import file of ``n`` mentions published in [start, end), oldest first, as an export lists them."""
    rng = random.Random(seed)
    span = (end - start).total_seconds()
    offsets = sorted(rng.random() * span for _ in range(n))
    with path.open("w", encoding="utf-8") as out:
        for i, offset in enumerate(offsets):
            brands = [rng.choices(BRANDS, WEIGHTS)[0]]
            if rng.random() < 0.1:
                brands.append(rng.choice(BRANDS))
            brands = list(dict.fromkeys(brands))
            record = {
                "source": rng.choice(SOURCES),
                "external_id": f"{tag}-{i}",
                "url": f"https://social.example/{tag}/{i}",
                "text": f"post {i} about {' and '.join(brands)}",
                "language": rng.choice(LANGUAGES),
                "published_at": (start + timedelta(seconds=offset)).isoformat(),
                "brands": brands,
                "author": {"handle": f"@user{rng.randrange(20_000)}", "followers": rng.randrange(100_000)},
                "classification": {
                    "sentiment": rng.choice(SENTIMENTS),
                    "categories": rng.sample(CATEGORIES, rng.randrange(3)),
                },
            }
            out.write(json.dumps(record) + "\n")


def cli_import(url: str, path: Path, folder: Path) -> float:
    """`earshot import PATH` run in this process (example config, this database); seconds incl. start-up."""
    from earshot.cli import app

    config = (ROOT / "earshot.example.yaml").read_text(encoding="utf-8")
    config = config.replace("sqlite:///./earshot.db", url).replace("  kind: transformer", "  kind: baseline")
    config = config.replace("path: data/alerts.jsonl", f"path: {folder / 'alerts.jsonl'}")
    (folder / "earshot.yaml").write_text(config, encoding="utf-8")
    started = time.perf_counter()
    try:
        app(["--config", str(folder / "earshot.yaml"), "import", str(path)], standalone_mode=False)
    except SystemExit as exc:  # typer exits 1 when a line was bad
        raise RuntimeError(f"earshot import failed ({exc.code})") from exc
    finally:
        # The CLI set up INFO logging; the request timings below should not print a line each.
        logging.getLogger().setLevel(logging.WARNING)
    return time.perf_counter() - started


def seed_alerts(sessions: sessionmaker[Session], count: int) -> None:
    """Alerts for the inbox to list (imports raise none), pointing at random stored mentions."""
    rng = random.Random(5)
    with sessions() as session, session.begin():
        ids = list(session.scalars(select(MentionRow.id).order_by(func.random()).limit(count)))
        for i in range(count):
            at = END - timedelta(minutes=rng.randrange(DAYS * 24 * 60))
            session.add(
                AlertRow(
                    kind="mention",
                    mention_id=ids[i % len(ids)],
                    brand=rng.choices(BRANDS, WEIGHTS)[0],
                    title=f"bench alert {i}",
                    summary="a benchmark alert",
                    urgency=rng.choice(["low", "medium", "high", "critical"]),
                    status=rng.choice(["open", "open", "acknowledged", "resolved"]),
                    team="support",
                    route_name="bench",
                    route_snapshot={},
                    reason="benchmark",
                    group_key=f"bench:{i}",
                    created_at=at,
                    updated_at=at,
                )
            )


def bench_app(sessions: sessionmaker[Session]) -> FastAPI:
    """The dashboard and API over the benchmark database, its clock at the end of the data."""
    competitors = {b: [c for c in BRANDS if c != b] for b in BRANDS}
    return create_app(session_factory=sessions, brands=BRANDS, competitors=competitors, clock=lambda: END)


def api_token(sessions: sessionmaker[Session]) -> str:
    """A new admin user's API token."""
    with sessions() as session, session.begin():
        add_user(session, name="bench", role="admin", teams=(), password=None, now=END)
        return create_token(session, name="bench", now=END)[1]


def endpoint_paths() -> list[tuple[str, str]]:
    """(label, path) of every timed request: 30 days, by day and by hour."""
    window = f"since={(END - timedelta(days=DAYS)).isoformat()}&until={END.isoformat()}".replace("+", "%2B")
    out: list[tuple[str, str]] = []
    for bucket in ("day", "hour"):
        out += [
            (f"trends/volume by {bucket}", f"/api/trends/volume?{window}&bucket={bucket}"),
            (f"trends/sentiment by {bucket}", f"/api/trends/sentiment?{window}&bucket={bucket}"),
            (f"/api/analytics by {bucket}", f"/api/analytics?range=30d&bucket={bucket}"),
            (f"overview page by {bucket}", f"/?range=30d&bucket={bucket}"),
        ]
    out += [
        ("trends/share-of-voice", f"/api/trends/share-of-voice?{window}"),
        ("trends/categories", f"/api/trends/categories?{window}"),
        ("trends/authors", f"/api/trends/authors?{window}"),
        ("trends/authors by reach", f"/api/trends/authors?{window}&order=reach"),
    ]
    return out


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def time_endpoints(app: FastAPI, token: str, repeat: int) -> list[tuple[str, float, float]]:
    """(label, p50 ms, p95 ms) per endpoint over ``repeat`` requests after one warm-up."""
    out = []
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(app, base_url="http://localhost", headers=headers) as client:
        for label, path in endpoint_paths():
            client.get(path).raise_for_status()
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                client.get(path).raise_for_status()
                times.append((time.perf_counter() - started) * 1000)
            out.append((label, statistics.median(times), _pct(times, 0.95)))
    return out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def served(url: str) -> Iterator[str]:
    """uvicorn serving the benchmark app over ``url`` on a loopback port; yields the base URL."""
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "bench.web", "--serve", url, "--port", str(port)])
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the benchmark server did not start")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


async def _load(
    base: str, token: str, paths: list[str], clients: int, seconds: float
) -> tuple[int, list[float], int]:
    latencies: list[float] = []
    failures = 0
    stop = time.perf_counter() + seconds
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=60) as client:

        async def one(offset: int) -> None:
            nonlocal failures
            i = offset
            while time.perf_counter() < stop:
                started = time.perf_counter()
                response = await client.get(paths[i % len(paths)])
                latencies.append((time.perf_counter() - started) * 1000)
                failures += response.status_code != 200
                i += 1

        started = time.perf_counter()
        await asyncio.gather(*(one(k) for k in range(clients)))
        elapsed = time.perf_counter() - started
    return round(len(latencies) / elapsed), latencies, failures


def load(base: str, token: str, paths: list[str], clients: int, seconds: float) -> str:
    """One load phase's summary line: requests/s, p50, p95, failures."""
    rate, latencies, failures = asyncio.run(_load(base, token, paths, clients, seconds))
    return (
        f"{rate:>6,} req/s  p50 {_pct(latencies, 0.5):>7.0f} ms  p95 {_pct(latencies, 0.95):>7.0f} ms"
        f"  ({len(latencies):,} requests, {failures} not 200)"
    )


def run_backend(label: str, url: str, args: argparse.Namespace) -> None:
    """Every measurement for one database, printed as it goes."""
    engine = create_db_engine(url)
    upgrade(engine)
    sessions = session_factory(engine)
    start = END - timedelta(days=DAYS)
    with tempfile.TemporaryDirectory() as folder:
        history = Path(folder) / "history.jsonl"
        write_history(history, args.mentions, start=start, end=END, tag="h", seed=7)
        seconds = cli_import(url, history, Path(folder))
        with sessions() as session:
            stored = session.scalar(select(func.count()).select_from(MentionRow)) or 0
        again, again_seconds = import_file(sessions, history, fresh=False)
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))
        print(
            f"\n{label}: `earshot import` stored {stored:,} mentions over {DAYS} days x {len(BRANDS)} brands "
            f"in {seconds:.1f}s = {stored / seconds:,.0f} mentions/s (target 30,000; "
            f"{stored / seconds / 30_000:.2f}x); re-import (import_items): {again.duplicates:,} already "
            f"stored, {again.stored} stored, {args.mentions / again_seconds:,.0f} lines/s",
            flush=True,
        )
        # More mentions at the main load's density, rollups on and off in alternating rounds so a
        # busy moment on a shared machine does not land on one side only.
        on = off = 0.0
        rounds = 6
        per = args.extra // rounds
        span = timedelta(days=DAYS) * per / args.mentions
        for r in range(rounds if per else 0):
            for maintained in (r % 2 == 0, r % 2 == 1):
                path = Path(folder) / f"extra-{r}-{maintained}.jsonl"
                begin = END + span * (2 * r + maintained)
                write_history(path, per, start=begin, end=begin + span, tag=f"x{r}{maintained}", seed=r)
                if maintained:
                    on += import_file(sessions, path)[1]
                else:
                    with without_rollups():
                        off += import_file(sessions, path)[1]
    rollups.rebuild(sessions)  # the rounds without rollups left them short; the endpoints read them
    total = per * rounds
    if total:  # --extra 0 skips the comparison (only the endpoints are timed)
        print(
            f"import {total:,} more: {total / on:,.0f}/s with rollups, {total / off:,.0f}/s without; "
            f"rollups add {100 * (on / off - 1):.0f}% to import time (target within 20%)",
            flush=True,
        )
    seed_alerts(sessions, ALERTS)
    token = api_token(sessions)
    print(f"{'endpoint, 30 days':<32} {'p50 ms':>8} {'p95 ms':>8}  p95 vs 100 ms target")
    for name, p50, p95 in time_endpoints(bench_app(sessions), token, args.repeat):
        print(f"{name:<32} {p50:>8.1f} {p95:>8.1f}  {p95 / 100:.2f}x")
    with served(url) as base:
        lists = load(base, token, LIST_PATHS, args.clients, args.seconds)
        print(f"{args.clients} clients x {args.seconds:.0f}s, list endpoints: {lists}", flush=True)
        overview = load(base, token, OVERVIEW_PATHS, args.clients, args.seconds)
        print(f"{args.clients} clients x {args.seconds:.0f}s, overview 30 d:  {overview}", flush=True)
    engine.dispose()


def serve(url: str, port: int) -> None:
    """Run uvicorn with the benchmark app (the load phase's server process)."""
    import uvicorn

    engine = create_db_engine(url)
    uvicorn.run(bench_app(session_factory(engine)), host="127.0.0.1", port=port, log_level="warning")


def main(argv: list[str]) -> None:
    """Parse arguments and run both backends (or serve, for the load phase)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--mentions", type=int, default=200_000)
    parser.add_argument(
        "--extra",
        type=int,
        default=20_000,
        help="mentions imported per side of the rollups on/off comparison",
    )
    parser.add_argument("--repeat", type=int, default=10, help="timed requests per endpoint")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--only", choices=["sqlite", "postgresql"], default=None)
    parser.add_argument("--serve", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.port)
        return
    backends: list[Literal["sqlite", "postgresql"]] = [args.only] if args.only else ["sqlite", "postgresql"]
    for backend in backends:
        if backend == "sqlite":
            with sqlite_database() as url:
                run_backend("SQLite", url, args)
        else:
            with postgres_database(args.postgres) as url:
                run_backend("PostgreSQL", url, args)


if __name__ == "__main__":
    main(sys.argv[1:])
