"""Benchmarks stay runnable: `python -m bench` can call each one, and the ingest bench works end to end.

No timing is asserted; the figures are for people, printed by `make bench`.
"""

from __future__ import annotations

import importlib
import inspect

import pytest

from bench.__main__ import BENCHMARKS


@pytest.mark.parametrize("name", BENCHMARKS)
def test_every_benchmark_takes_argv(name: str) -> None:
    main = importlib.import_module(f"bench.{name}").main
    parameters = list(inspect.signature(main).parameters)
    assert parameters and parameters[0] == "argv", f"bench/{name}.py main() must take argv"


def test_ingest_bench_runs_on_both_backends(capsys: pytest.CaptureFixture[str], _postgres_url: str) -> None:
    from bench import ingest

    ingest.main(["--mentions", "300", "--single", "30"])
    out = capsys.readouterr().out
    assert "collected 300 demo-shaped mentions" in out
    assert out.count("ratio batched / one-INSERT-per-row") == 2
    assert "SQLite" in out and "PostgreSQL" in out


def test_analytics_bench_runs_on_both_backends(
    capsys: pytest.CaptureFixture[str], _postgres_url: str
) -> None:
    from bench import analytics

    analytics.main(["--mentions", "400", "--extra", "200", "--repeat", "1"])
    out = capsys.readouterr().out
    assert "SQLite" in out and "PostgreSQL" in out
    # Rollups must give the raw rows' answer on both backends.
    assert out.count("same answer") == 2 and " NO" not in out
