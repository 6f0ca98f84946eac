"""Runs the `earshot` CLI in a subprocess with test-only plugins, for the scaled-out tests.

``python -m tests.scheduler.scale_launcher [--stall STAGE --marks DIR] [--hold FILE] -- <earshot arguments>``

It registers a ``counting`` collector (deterministic mentions, one distinct story each) and, with
``--stall``, makes this process stop for good in the middle of one stage's work, after writing
``DIR/<stage>-<pid>``, so a test can SIGKILL it there. ``--hold FILE`` imports everything, then
waits for FILE to exist before it runs the command: a stand-by process that takes over at once.
Where each stage stalls:
- collect: after the fetch, before the batch is published;
- classify: after classifying, before the classified batch is published;
- store: inside the store transaction (at the cursor write), before commit;
- deliver: after the channel sent the notification, before it is marked delivered.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from collectors.base import Collector, CollectorOptions, Cursor, FetchResult
from collectors.registry import collectors
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


def story(prefix: str, n: int) -> str:
    """An outage report whose extra words make it its own story (no near-duplicate of another)."""
    words = [WORDS[(n * 7 + k * 13 + len(prefix)) % len(WORDS)] + str(n) for k in range(6)]
    return f"lumora is down again {' '.join(words)}, sync stuck and 500 errors everywhere"


class CountingOptions(CollectorOptions):
    """How many mentions in all, and how many one fetch returns."""

    total: int = 20
    per_fetch: int = 20


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
                text=story(self.name, n),
                author=Author(handle=f"user{n}", followers=100),
                published_at=now,
                collected_at=now,
                brands=("Lumora",),
                queries=("lumora",),
                language="en",
            )
            for n in range(start, end)
        ]
        return FetchResult(mentions=mentions, cursor={"n": end}, fetched=len(mentions))


def _stall(marks: Path, stage: str) -> None:
    (marks / f"{stage}-{os.getpid()}").write_text("entered", encoding="utf-8")
    threading.Event().wait()  # forever: the test kills this process here


def _install_stall(stage: str, marks: Path) -> None:
    import scheduler.stages as stages
    import storage.sources as sources
    from alerting.channels.jsonl import JsonLinesChannel

    if stage == "collect":
        real_collect = stages.collect

        def collect(*args: Any, **kwargs: Any) -> FetchResult:
            result = real_collect(*args, **kwargs)
            _stall(marks, stage)
            return result

        stages.collect = collect
    elif stage == "classify":
        real_classify = stages.classify

        def classify(*args: Any, **kwargs: Any) -> Any:
            result = real_classify(*args, **kwargs)
            _stall(marks, stage)
            return result

        stages.classify = classify
    elif stage == "store":

        def set_cursor(*_args: Any, **_kwargs: Any) -> None:
            _stall(marks, stage)

        sources.set_cursor = set_cursor
    elif stage == "deliver":
        real_send = JsonLinesChannel._send

        def send(self: JsonLinesChannel, notification: Any) -> Any:
            result = real_send(self, notification)
            _stall(marks, stage)
            return result

        JsonLinesChannel._send = send  # type: ignore[method-assign]
    else:
        raise SystemExit(f"unknown stage {stage}")


def main(argv: list[str]) -> None:
    """Register the fakes, install the stall if asked, and run the CLI with the rest."""
    collectors.register("counting", CountingCollector)
    split = argv.index("--")
    options, rest = argv[:split], argv[split + 1 :]
    if "--stall" in options:
        stage = options[options.index("--stall") + 1]
        marks = Path(options[options.index("--marks") + 1])
        _install_stall(stage, marks)
    from earshot.cli import app

    if "--hold" in options:
        # Imported (the slow part) but not started until the test says so: a stand-by worker.
        go = Path(options[options.index("--hold") + 1])
        while not go.exists():
            time.sleep(0.1)
    app(rest, prog_name="earshot")


if __name__ == "__main__":
    main(sys.argv[1:])
