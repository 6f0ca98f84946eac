"""Replies: posted replies per second through fake X, Reddit, Bluesky and Mastodon servers, and latency.

Each reply goes through the whole reply service on SQLite (a temp file): claim as ``posting``
and commit, the source's SDK (tweepy, praw, atproto, Mastodon.py) POSTing to a fake API on
127.0.0.1 that answers with captured payloads, then the commit that records the remote id, the
audit event and the case's first response. Drafting is done beforehand and not timed. The
fakes answer at once, so the figures are Earshot's and the SDKs' overhead, not the networks'.

    python -m bench.replies [--replies 200]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import sessionmaker

from alerting import replies as service
from alerting import reply_posting as posting
from storage.db import create_db_engine, upgrade
from tests.collectors.repliers.desk import RESPONDER, desk_for, seed_alert
from tests.collectors.repliers.fakes import FAKES, serving


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def bench_kind(kind: str, replies: int, workdir: Path) -> tuple[float, float, float, int]:
    """Post ``replies`` replies to one fake source; (per second, p50 ms, p95 ms, POSTs seen)."""
    engine = create_db_engine(f"sqlite:///{workdir / f'{kind}.db'}")
    upgrade(engine)
    sessions = sessionmaker(engine, expire_on_commit=False)
    fake = FAKES[kind]()
    with serving(fake) as base:
        target = fake.target()
        desk = desk_for(target.source, fake.account(base))
        alert_id = seed_alert(sessions, target)
        now = datetime.now(UTC)
        drafts = [
            service.draft_reply(
                sessions, desk=desk, alert_id=alert_id, actor=RESPONDER, text=fake.text, now=now
            ).id
            for _ in range(replies)
        ]
        posting.send_reply(
            sessions, desk=desk, reply_id=drafts.pop(), actor=RESPONDER, now=now
        )  # warm-up: sign-in
        latencies = []
        started = time.perf_counter()
        for reply_id in drafts:
            begin = time.perf_counter()
            posted = posting.send_reply(sessions, desk=desk, reply_id=reply_id, actor=RESPONDER, now=now)
            latencies.append((time.perf_counter() - begin) * 1000)
            assert posted.remote_id, f"{kind}: reply #{reply_id} has no remote id"
        elapsed = time.perf_counter() - started
        desk.pool.close()
    engine.dispose()
    return len(drafts) / elapsed, percentile(latencies, 0.5), percentile(latencies, 0.95), len(fake.posts())


def main(argv: list[str]) -> None:
    """Post replies to each fake source and print replies per second and p50/p95 posting latency."""
    parser = argparse.ArgumentParser(prog="python -m bench.replies", description=__doc__.splitlines()[0])
    parser.add_argument("--replies", type=int, default=200, help="replies posted per source")
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the fakes' request log
    print(f"{args.replies} replies per source, one at a time, through the reply service on SQLite")
    print(f"{'source':<10} {'replies/s':>10} {'p50 ms':>8} {'p95 ms':>8} {'POSTs':>6}")
    rates = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in sorted(FAKES):
            rate, p50, p95, posts = bench_kind(kind, args.replies, Path(tmp))
            rates.append(rate)
            print(f"{kind:<10} {rate:>10.1f} {p50:>8.1f} {p95:>8.1f} {posts:>6}", flush=True)
    print(f"slowest / fastest source throughput: {min(rates) / max(rates):.2f}")
    print(f"median across sources: {statistics.median(rates):.1f} replies/s")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
