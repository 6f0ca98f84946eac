"""`earshot sources`: every failing part of a source is listed, with secrets in URLs redacted."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from earshot.cli import app
from storage.db import create_db_engine, session_factory
from storage.sources import record_failure, record_partial

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def test_sources_lists_failing_parts_redacted(tmp_path: Path) -> None:
    text = (ROOT / "earshot.example.yaml").read_text(encoding="utf-8")
    text = text.replace("sqlite:///./earshot.db", f"sqlite:///{tmp_path / 'earshot.db'}")
    text = text.replace("path: data/alerts.jsonl", f"path: {tmp_path / 'alerts.jsonl'}")
    config = tmp_path / "earshot.yaml"
    config.write_text(text, encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(app, ["--config", str(config), "db", "upgrade"]).exit_code == 0
    engine = create_db_engine(f"sqlite:///{tmp_path / 'earshot.db'}")
    failures = [
        f"https://feeds.example.com/{i}?api_key=SECRET: TemporarilyUnavailable: HTTP 503" for i in range(6)
    ]
    with session_factory(engine).begin() as session:
        record_partial(session, source="demo", kind="demo", items=4, failures=failures, now=NOW)
        record_failure(
            session, source="news", kind="rss", error="https://x.example.com/?token=SECRET: 503", now=NOW
        )
    engine.dispose()
    result = runner.invoke(app, ["--config", str(config), "sources"])
    assert result.exit_code == 0, result.output
    assert "SECRET" not in result.stdout
    lines = result.stdout.splitlines()
    demo = next(line for line in lines if line.startswith("demo "))
    assert "6 failing: https://feeds.example.com/0?api_key=REDACTED" in demo
    parts = [line.strip() for line in lines if "failing part:" in line]
    assert parts == [
        f"failing part: https://feeds.example.com/{i}?api_key=REDACTED: TemporarilyUnavailable: HTTP 503"
        for i in range(6)
    ]
    news = next(line for line in lines if line.startswith("news "))
    assert "https://x.example.com/?token=REDACTED: 503" in news
