"""Alerting: routing decisions per second, and mention-stored-to-webhook latency through the pipeline.

1. Routing: 100k classified mentions (synthetic, seeded) against 50 routes using every operator
   (lists, =, !=, =~, !~, >=, <=), ~10% of them `continue`, ending with the default route.
2. Latency: a mention goes through the real pipeline (run_source: classify, store, route, outbox
   in one transaction on SQLite) and the real outbox worker to the real webhook channel, which
   POSTs to an HTTP receiver on 127.0.0.1. Measured from the commit that stores the mention to
   the receiver reading the request, (a) delivering right after each run, and (b) with the
   outbox drained by APScheduler every ``--poll`` seconds, as `earshot run` does.

    python -m bench.alerting [--mentions 100000] [--routes 50] [--latency 200] [--poll 1.0]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import string
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

from pydantic import SecretStr

from alerting.channels.webhook import WebhookChannel, WebhookOptions
from alerting.config import AlertingConfig, RouteConfig, TeamConfig
from alerting.routing import Router
from classifiers.baseline import BaselineClassifier
from collectors.base import Collector, CollectorContext, CollectorOptions, Cursor, FetchResult
from collectors.matching import BrandMatcher, BrandSpec
from domain import CATEGORIES, Author, Classification, Engagement, Mention, Sentiment, Urgency
from scheduler.components import Components, SourceRuntime
from scheduler.delivery import deliver_due
from scheduler.pipeline import run_source
from scheduler.runner import build_scheduler
from storage.db import create_db_engine, session_factory, upgrade

BRANDS = ["Lumora", "Vantix", "Orbly"]
SOURCES = [("x-main", "twitter"), ("reddit-main", "reddit"), ("hn", "hackernews"), ("news", "rss")]
_VOCABULARY = "refund outage down crash billing charged twice love great broken slow support lawsuit recall"
WORDS = _VOCABULARY.split()


def synthetic(n: int, rng: random.Random) -> list[tuple[Mention, Classification]]:
    """``n`` mentions with plausible classifications, seeded so every run routes the same data."""
    now = datetime.now(UTC)
    out = []
    for i in range(n):
        source, kind = rng.choice(SOURCES)
        text = " ".join(rng.choices(WORDS, k=8)) + f" {rng.choice(BRANDS).lower()} #{i}"
        mention = Mention(
            source=source,
            source_kind=kind,
            external_id=str(i),
            text=text,
            author=Author(handle=f"user{i % 5000}", followers=int(rng.lognormvariate(6, 2))),
            published_at=now,
            collected_at=now,
            language=rng.choice(["en", "en", "en", "de", "fr", "es"]),
            engagement=Engagement(
                likes=rng.randrange(500), shares=rng.randrange(50), replies=rng.randrange(50)
            ),
            brands=(rng.choice(BRANDS),),
            queries=("lumora OR @lumora",),
        )
        classification = Classification(
            sentiment=rng.choice(list(Sentiment)),
            sentiment_scores={},
            urgency=rng.choice(list(Urgency)),
            urgency_score=rng.random(),
            categories=tuple(rng.sample(CATEGORIES, rng.randrange(0, 3))),
            language=mention.language,
            model_version="bench",
        )
        out.append((mention, classification))
    return out


def route_table(count: int, rng: random.Random) -> list[RouteConfig]:
    """``count`` routes (the last one the default) mixing every kind of matcher."""
    makers = [
        lambda: {"categories": rng.sample(CATEGORIES, 2)},
        lambda: {"categories": rng.choice(CATEGORIES), "urgency": rng.choice(["high", "critical"])},
        lambda: {"followers": f">= {rng.choice([1000, 10_000, 100_000])}", "sentiment": "negative"},
        lambda: {
            "text": f"=~ (?i)\\b({rng.choice(WORDS)}|{rng.choice(WORDS)})\\b",
            "brand": rng.choice(BRANDS),
        },
        lambda: {"language": "!= en", "engagement": f">= {rng.randrange(100, 400)}"},
        lambda: {"source": rng.choice(SOURCES)[1], "urgency": ">= medium", "text": "!~ (?i)love"},
        lambda: {"brand": [rng.choice(BRANDS)], "engagement": f"<= {rng.randrange(10, 100)}"},
        lambda: {"query": "=~ @lumora", "followers": "< 50", "categories": "!= spam"},
    ]
    routes = [
        RouteConfig.model_validate(
            {"name": f"r{i}", "team": "ops", "match": rng.choice(makers)(), "continue": rng.random() < 0.1}
        )
        for i in range(count - 1)
    ]
    return [*routes, RouteConfig(name="default", team="ops", default=True)]


def bench_routing(n: int, routes: int) -> None:
    """Print routing decisions per second for ``n`` mentions against ``routes`` and 5 routes."""
    rng = random.Random(7)
    items = synthetic(n, rng)
    teams = [TeamConfig(name="ops", channels=["log"])]
    rates = {}
    for count in (routes, 5):
        router = Router(route_table(count, random.Random(11)), teams)
        started = time.perf_counter()
        matched = sum(len(router.decide(m, c)) for m, c in items)
        seconds = time.perf_counter() - started
        rates[count] = n / seconds
        print(
            f"routing: {n:,} mentions x {count} routes in {seconds:.2f}s = {rates[count]:,.0f} decisions/s "
            f"({matched / n:.2f} routes matched per mention, {len(router.errors)} broken)"
        )
    print(f"routing: {routes} routes cost {rates[5] / rates[routes]:.1f}x the time of 5 routes")


class _Receiver(BaseHTTPRequestHandler):
    arrivals: ClassVar[dict[str, float]] = {}

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        arrived = time.perf_counter()
        url = json.loads(body)["alert"]["mention_url"] or ""
        self.arrivals.setdefault(url.rsplit("/", 1)[-1], arrived)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@contextmanager
def receiver() -> Iterator[str]:
    """A local webhook receiver; yields its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


class _OneAtATimeOptions(CollectorOptions):
    """No options."""


class _OneAtATime(Collector[_OneAtATimeOptions]):
    """Returns the mention it is handed before each run."""

    kind: ClassVar[str] = "bench"
    options_model: ClassVar[type[CollectorOptions]] = _OneAtATimeOptions
    next_mention: Mention | None = None

    def fetch(self, cursor: Cursor | None) -> FetchResult:
        mentions = [self.next_mention] if self.next_mention else []
        return FetchResult(mentions=mentions, cursor={"n": len(mentions)})


def _outage(i: int) -> Mention:
    now = datetime.now(UTC)
    # Distinct wording per mention so near-duplicate folding does not merge them into one alert.
    rng = random.Random(i)
    words = " ".join("".join(rng.choices(string.ascii_lowercase, k=7)) for _ in range(12))
    return Mention(
        source="bench",
        source_kind="bench",
        external_id=str(i),
        text=f"lumora is down, 500 errors: {words}",
        author=Author(handle=f"user{i}", followers=100),
        published_at=now,
        collected_at=now,
        url=f"https://social.example/{i}",
        brands=("Lumora",),
    )


def _components(directory: Path, url: str) -> tuple[Components, _OneAtATime]:
    engine = create_db_engine(f"sqlite:///{directory / 'bench.db'}")
    upgrade(engine)
    brands = BrandMatcher([BrandSpec("Lumora", ("lumora",))])
    collector = _OneAtATime(
        name="bench", options=_OneAtATimeOptions(), context=CollectorContext(matcher=brands)
    )
    hook = WebhookChannel(
        name="hook", options=WebhookOptions(url=SecretStr(url), secret=SecretStr("bench-secret-0123456789"))
    )
    teams = [TeamConfig(name="ops", channels=["hook"])]
    components = Components(
        sessions=session_factory(engine),
        sources={"bench": SourceRuntime("bench", "bench", collector, 60, 0)},
        classifier=BaselineClassifier(),
        router=Router([RouteConfig(name="default", team="ops", default=True)], teams),
        channels={"hook": hook},
        alerting=AlertingConfig(min_urgency=Urgency.LOW),
    )
    return components, collector


def _percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    p50 = statistics.median(ordered)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, max {ordered[-1] * 1000:.1f} ms"


def bench_latency(n: int, poll: float) -> None:
    """Print stored-to-received latency, delivering at once and on an APScheduler poll."""
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp, receiver() as url:
        components, collector = _components(Path(tmp), url)
        stored: dict[str, float] = {}
        _Receiver.arrivals.clear()
        for i in range(n):  # (a) deliver right after each run
            collector.next_mention = _outage(i)
            if run_source(components, "bench").alerts:
                stored[str(i)] = time.perf_counter()
                deliver_due(components)
        results["deliver after each run"] = [_Receiver.arrivals[k] - t for k, t in stored.items()]
        scheduler = build_scheduler(components, deliver_interval_seconds=poll)
        scheduler.remove_job("source:bench")  # the scheduler runs only the outbox; this loop collects
        scheduler.start()
        try:
            stored.clear()
            for i in range(n, n + n // 2):  # (b) the outbox drained every `poll` seconds
                collector.next_mention = _outage(i)
                if run_source(components, "bench").alerts:
                    stored[str(i)] = time.perf_counter()
                time.sleep(poll / 10)  # mentions arrive spread over the poll cycle
            deadline = time.perf_counter() + poll * 3 + 5
            while len(stored.keys() - _Receiver.arrivals.keys()) and time.perf_counter() < deadline:
                time.sleep(0.05)
        finally:
            scheduler.shutdown(wait=True)
        missing = stored.keys() - _Receiver.arrivals.keys()
        # A delivery can land between the commit and run_source returning; count it as 0, not less.
        results[f"outbox polled every {poll:g}s"] = [
            max(0.0, _Receiver.arrivals[k] - t) for k, t in stored.items() if k not in missing
        ]
        for channel in components.channels.values():
            channel.close()
    for label, values in results.items():
        print(f"latency stored -> webhook received, {label}: {len(values)} alerts, {_percentiles(values)}")
    direct, polled = (statistics.median(v) for v in results.values())
    print(f"latency: polling every {poll:g}s makes p50 {polled / direct:.0f}x")


def main(argv: list[str]) -> None:
    """Run both measurements and print the figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.alerting", description=__doc__.splitlines()[0])
    parser.add_argument("--mentions", type=int, default=100_000)
    parser.add_argument("--routes", type=int, default=50)
    parser.add_argument("--latency", type=int, default=200, help="alerts measured delivering at once")
    parser.add_argument("--poll", type=float, default=1.0, help="outbox poll interval for the second run")
    args = parser.parse_args(argv)
    bench_routing(args.mentions, args.routes)
    bench_latency(args.latency, args.poll)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
