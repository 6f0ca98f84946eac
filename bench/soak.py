"""Memory soak: the demo-shaped stream through the in-process pipeline at a target rate; RSS over time.

Builds Earshot from earshot.example.yaml as `earshot run` would (composition root, scheduler,
separate pools, periodic jobs, outbox), but with only the demo source, collecting ``--rate``
mentions per second, a throwaway database and a JSONL channel in a temporary folder. Every
``--every`` seconds it prints the process's resident memory, mentions stored so far, and the
near-duplicate index's size; at the end, how RSS moved over the second half of the run, which is
what levels off when every in-process structure is bounded.

    python -m bench.soak [--minutes 1] [--rate 200] [--every 10] [--classifier transformer]
    python -m bench.soak --minutes 30 --rate 200          # the full soak from issue 10
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from earshot.compose import App, build
from earshot.settings import Settings, load_settings
from scheduler.heartbeat import Heartbeat
from scheduler.runner import start, stop
from storage.db import create_db_engine, upgrade

EXAMPLE = Path(__file__).resolve().parents[1] / "earshot.example.yaml"
# The demo source runs this often; per_run is the rate times this.
TICK_SECONDS = 1.0


@dataclass(frozen=True)
class Sample:
    """One reading: seconds since start, resident MB, mentions stored, near-duplicate index size."""

    seconds: float
    rss_mb: float
    stored: int
    index: int


def rss_mb() -> float:
    """This process's resident set size now, in MB (peak RSS where /proc is missing)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak_kb / 1024 if sys.platform != "darwin" else peak_kb / 2**20
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def soak_settings(folder: Path, *, rate: int, classifier: str, database: str | None) -> Settings:
    """earshot.example.yaml with only the demo source, streaming ``rate`` mentions a second."""
    config: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    demo = next(s for s in config["sources"] if s["kind"] == "demo")
    demo.update(enabled=True, interval_seconds=TICK_SECONDS, jitter_seconds=0)
    demo["options"] = {"per_run": max(1, round(rate * TICK_SECONDS)), "backlog_fraction": 0.0, "loop": True}
    config["sources"] = [demo]
    config["database"] = {"url": database or f"sqlite:///{folder / 'soak.db'}"}
    config["classifier"]["kind"] = classifier
    # The example's two channels, both writing JSONL into the throwaway folder: every team,
    # escalation and digest keeps its references, and nothing floods the terminal.
    config["channels"] = [
        {"name": name, "kind": "jsonl", "options": {"path": str(folder / f"{name}.jsonl")}}
        for name in ("log", "alerts-file")
    ]
    config["log_level"] = "WARNING"
    path = folder / "earshot.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return load_settings(path, env={})


def soak(
    app: App,
    *,
    seconds: float,
    every: float,
    neardup_max: int | None = None,
    min_stored: int = 0,
    max_seconds: float | None = None,
    out: Any = sys.stdout,
) -> list[Sample]:
    """Run the scheduler for ``seconds``, printing a Sample every ``every`` seconds; return them.

    With ``min_stored``, go on past ``seconds`` until that many mentions are stored (a loaded
    machine is slower, not wrong), but never past ``max_seconds``.
    """
    components = app.components
    if neardup_max is not None:
        components.neardup_max_entries = neardup_max
    scheduler = start(components, deliver_interval_seconds=TICK_SECONDS, heartbeat=Heartbeat())
    samples: list[Sample] = []
    began = time.monotonic()
    print(f"{'seconds':>8} {'RSS MB':>8} {'stored':>9} {'per s':>7} {'index':>7}", file=out, flush=True)
    try:
        ceiling = max(seconds, max_seconds or seconds)
        while (elapsed := time.monotonic() - began) < ceiling:
            if elapsed >= seconds and components.counters.stored >= min_stored:
                break
            time.sleep(min(every, max(0.0, ceiling - elapsed)))
            gc.collect()  # reads live memory, not garbage waiting for the next collection
            sample = Sample(
                time.monotonic() - began, rss_mb(), components.counters.stored, components.neardup.size
            )
            samples.append(sample)
            print(
                f"{sample.seconds:8.0f} {sample.rss_mb:8.1f} {sample.stored:9,d} "
                f"{sample.stored / max(sample.seconds, 1e-9):7.0f} {sample.index:7,d}",
                file=out,
                flush=True,
            )
    finally:
        stop(scheduler, grace_seconds=10)
    return samples


def summary(samples: list[Sample]) -> str:
    """How RSS moved over the second half of the run, per 1,000 mentions stored."""
    if len(samples) < 2:
        return "too few samples for a trend; run longer or sample more often"
    middle, last = samples[len(samples) // 2], samples[-1]
    mentions = last.stored - middle.stored
    grew = last.rss_mb - middle.rss_mb
    per_k = f"{grew / mentions * 1000:+.2f} MB per 1,000 mentions" if mentions else "no mentions stored"
    peak = max(s.rss_mb for s in samples)
    return (
        f"second half: RSS {middle.rss_mb:.1f} -> {last.rss_mb:.1f} MB ({grew:+.1f} MB) over "
        f"{mentions:,} mentions ({per_k}); peak {peak:.1f} MB; {last.stored:,} mentions in "
        f"{last.seconds:.0f}s ({last.stored / max(last.seconds, 1e-9):.0f}/s)"
    )


def main(argv: list[str]) -> None:
    """Parse arguments, build Earshot over a throwaway database, soak, print the RSS trend."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--rate", type=int, default=200, help="target mentions per second")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between RSS samples")
    parser.add_argument("--classifier", default="transformer", help="transformer (as deployed) or baseline")
    parser.add_argument("--database", help="SQLAlchemy URL of an empty database (default: temporary SQLite)")
    parser.add_argument(
        "--neardup-max", type=int, help="cap on the near-duplicate index (default: Earshot's)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    # A run that overruns its 1 s tick is skipped and said so each time; the stored rate shows it.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="earshot-soak-") as tmp:
        settings = soak_settings(
            Path(tmp), rate=args.rate, classifier=args.classifier, database=args.database
        )
        engine = create_db_engine(settings.database.url)
        upgrade(engine)
        engine.dispose()
        app = build(settings)
        print(
            f"soak: demo stream at {args.rate}/s for {args.minutes:g} min, classifier {args.classifier}, "
            f"RSS at start {rss_mb():.1f} MB",
            flush=True,
        )
        try:
            samples = soak(app, seconds=args.minutes * 60, every=args.every, neardup_max=args.neardup_max)
        finally:
            app.close()
    print(summary(samples), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
