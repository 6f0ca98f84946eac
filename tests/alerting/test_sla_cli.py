"""`earshot alerts stats`: response-time figures per team from the configured database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from typer.testing import CliRunner

from earshot.commands import alerts as alert_commands
from earshot.context import CliState
from storage import cases
from storage.case_tables import CaseRow
from storage.db import create_db_engine, session_factory, upgrade
from tests.web.factories import alert

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()
app = typer.Typer()


@app.callback()
def _root(ctx: typer.Context, config: Annotated[Path, typer.Option("--config")]) -> None:
    ctx.obj = CliState(config=config)


alert_commands.register(app)


def test_stats_per_team(tmp_path: Path) -> None:
    db = tmp_path / "earshot.db"
    text = (ROOT / "earshot.example.yaml").read_text(encoding="utf-8")
    config = tmp_path / "earshot.yaml"
    config.write_text(text.replace("sqlite:///./earshot.db", f"sqlite:///{db}"), encoding="utf-8")
    engine = create_db_engine(f"sqlite:///{db}")
    upgrade(engine)
    opened = datetime.now(UTC) - timedelta(hours=2)
    with session_factory(engine).begin() as session:
        for minutes in (10, 20, 60):
            alert_id = alert(session, title=f"c{minutes}", team="support")
            session.get_one(CaseRow, alert_id).opened_at = opened
            cases.record_first_response(
                session, alert_id=alert_id, at=opened + timedelta(minutes=minutes), by="a"
            )
    engine.dispose()
    result = runner.invoke(app, ["--config", str(config), "alerts", "stats", "--json"])
    assert result.exit_code == 0, result.output
    [support] = [json.loads(line) for line in result.stdout.splitlines()]
    assert support["team"] == "support" and support["cases"] == 3 and support["answered"] == 3
    assert support["first_response_p50"] == 20 * 60 and support["first_response_p90"] == 52 * 60
    plain = runner.invoke(app, ["--config", str(config), "alerts", "stats"])
    assert "support" in plain.stdout and "first response p50 20m p90 52m" in plain.stdout
