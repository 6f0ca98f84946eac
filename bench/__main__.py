"""Run every benchmark in bench/, or the ones named: python -m bench ingest alerting."""

from __future__ import annotations

import importlib
import sys
import time

BENCHMARKS = [
    "ingest",
    "collect",
    "alerting",
    "classify",
    "alert_quality",
    "analytics",
    "replies",
    "web",
    "soak",
]


def main(argv: list[str]) -> int:
    """Run the named benchmarks (default: all) in order."""
    names = argv or BENCHMARKS
    for name in names:
        if name not in BENCHMARKS:
            print(f"unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}", file=sys.stderr)
            return 2
    for name in names:
        print(f"\n=== bench/{name}.py ===", flush=True)
        started = time.perf_counter()
        module = importlib.import_module(f"bench.{name}")
        module.main([])
        print(f"(bench/{name}.py took {time.perf_counter() - started:.1f}s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
