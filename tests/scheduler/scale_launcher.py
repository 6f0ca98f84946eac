"""Runs the `earshot` CLI in a subprocess with test-only plugins, for the scaled-out tests.

``python -m tests.scheduler.scale_launcher [--stall STAGE --marks DIR] [--hold FILE] -- <earshot arguments>``

It registers the ``counting`` collector (``bench.counting``: numbered mentions, one story each) and, with
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
from pathlib import Path
from typing import Any

from bench.counting import CountingCollector
from collectors.base import FetchResult
from collectors.registry import collectors


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
