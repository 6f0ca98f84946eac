"""`earshot report --send-now TEAM [--to EMAIL] [--out DIR]` as a user runs it, on SQLite and local SMTP."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Annotated, Any

import pytest
import typer
import yaml
from aiosmtpd.controller import Controller
from typer.testing import CliRunner

from alerting.reports import ReportError
from alerting.reports_config import ReportsConfig, ReportTeam
from earshot.commands import report as report_commands
from earshot.context import CliState
from earshot.settings import load_settings
from storage.db import create_db_engine, session_factory, upgrade
from tests.alerting.channels.helpers import closed_port
from tests.alerting.channels.smtp_peer import Recorder
from tests.web.factories import classification, mention, store

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()
DAY = timedelta(days=1)

# A root like earshot.cli's (which wires `report` the same way), so the real app is not mutated.
app = typer.Typer()


@app.callback()
def _root(ctx: typer.Context, config: Annotated[Path, typer.Option("--config")]) -> None:
    ctx.obj = CliState(config=config)


report_commands.register(app)


@pytest.fixture
def smtp() -> Iterator[tuple[Recorder, int]]:
    recorder = Recorder()
    port = closed_port()
    # The command points logging at the runner's stderr, closed once it returns; aiosmtpd's thread
    # would log a closed connection there afterwards.
    server_log = logging.getLogger("mail.log")
    server_log.disabled = True
    controller = Controller(recorder, hostname="127.0.0.1", port=port, ready_timeout=5)
    controller.start()
    yield recorder, port
    controller.stop()
    server_log.disabled = False


@pytest.fixture
def config(tmp_path: Path, smtp: tuple[Recorder, int]) -> Path:
    """The example config on a migrated SQLite file, team pr with an email channel, and a seeded week."""
    url = f"sqlite:///{tmp_path / 'earshot.db'}"
    data: dict[str, Any] = yaml.safe_load((ROOT / "earshot.example.yaml").read_text(encoding="utf-8"))
    data["database"]["url"] = url
    data["channels"].append(
        {
            "name": "pr-email",
            "kind": "email",
            "options": {
                "host": "127.0.0.1",
                "port": smtp[1],
                "security": "none",
                "sender": "Earshot <reports@example.com>",
                "recipients": ["pr@example.com"],
                "timeout": 2.0,
            },
        }
    )
    next(t for t in data["teams"] if t["name"] == "pr")["channels"].append("pr-email")
    path = tmp_path / "earshot.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    engine = create_db_engine(url)
    upgrade(engine)
    now = datetime.now(UTC)
    store(
        session_factory(engine),
        [
            (mention("l1", at=now - DAY, brands=("Lumora",)), classification("positive")),
            (mention("l2", at=now - 2 * DAY, brands=("Lumora",)), classification("negative")),
            (mention("l3", at=now - 3 * DAY, brands=("Lumora",)), classification("positive")),
            (mention("v1", at=now - 2 * DAY, brands=("Vantix",)), classification("neutral")),
            (mention("l0", at=now - 9 * DAY, brands=("Lumora",)), classification("negative")),
        ],
    )
    engine.dispose()
    return path


def _run(config: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--config", str(config), "report", *args])
    return result.exit_code, result.stdout, result.stderr


def _summary(text: str) -> dict[str, dict[str, str]]:
    return {r["brand"]: r for r in csv.DictReader(io.StringIO(text.lstrip("\ufeff")))}


def test_send_now_mails_the_team_its_report(config: Path, smtp: tuple[Recorder, int]) -> None:
    recorder, _ = smtp
    code, out, err = _run(config, "--send-now", "pr")
    assert code == 0, err
    assert out.startswith("report for pr sent to pr@example.com")
    [(envelope, message)] = recorder.messages
    assert envelope.rcpt_tos == ["pr@example.com"]
    assert str(message["Subject"]).startswith("[Earshot] Weekly report for pr: ")
    attachments = {p.get_filename(): p.get_content() for p in message.iter_attachments()}
    summary = _summary(attachments["summary.csv"])
    assert (summary["Lumora"]["mentions"], summary["Lumora"]["previous_mentions"]) == ("3", "1")
    assert summary["Lumora"]["net_sentiment"] == "33.3" and summary["Vantix"]["mentions"] == "1"
    assert (summary["Lumora"]["own"], summary["Vantix"]["own"]) == ("True", "False")


def test_to_sends_elsewhere(config: Path, smtp: tuple[Recorder, int]) -> None:
    recorder, _ = smtp
    code, _, err = _run(config, "--send-now", "pr", "--to", "me@example.com")
    assert code == 0, err
    assert [env.rcpt_tos for env, _ in recorder.messages] == [["me@example.com"]]


def test_out_writes_files_and_sends_nothing(config: Path, smtp: tuple[Recorder, int], tmp_path: Path) -> None:
    recorder, _ = smtp
    code, out, err = _run(config, "--send-now", "pr", "--out", str(tmp_path / "sample"))
    assert code == 0, err
    assert recorder.messages == []
    names = sorted(Path(line).name for line in out.splitlines())
    expected = [
        "daily.csv",
        "net-sentiment.png",
        "report.eml",
        "share-of-voice.png",
        "summary.csv",
        "volume.png",
    ]
    assert names == expected
    for png in (tmp_path / "sample").glob("*.png"):
        assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") and png.stat().st_size > 1000
    message = message_from_bytes((tmp_path / "sample" / "report.eml").read_bytes(), policy=policy.default)
    assert message["To"] == "pr@example.com"
    assert (
        _summary((tmp_path / "sample" / "summary.csv").read_text(encoding="utf-8"))["Lumora"]["mentions"]
        == "3"
    )


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--send-now", "nobody"], "error: unknown team 'nobody'; teams: legal, ops, pr, support"),
        (["--send-now", "support"], "error: team 'support' has no email channel"),
        (["--send-now", "pr", "--to", "not-an-address"], "error: not an email address: 'not-an-address'"),
        (["--out", "x"], "error: --to and --out go with --send-now TEAM"),
    ],
)
def test_clear_errors(config: Path, smtp: tuple[Recorder, int], args: list[str], error: str) -> None:
    code, _, err = _run(config, *args)
    assert code == 2 and err.startswith(error), err
    assert smtp[0].messages == []


def test_list_without_send_now(config: Path) -> None:
    assert _run(
        config,
    ) == (0, "no weekly report sent yet\n", "")


def test_a_reports_entry_wins_over_the_team_channels(config: Path) -> None:
    settings = load_settings(config)
    entry = ReportTeam(team="pr", channel="other-email", brands=["Vantix"])
    assert report_commands.report_team(settings, ReportsConfig(teams=[entry]), "pr") == entry
    assert report_commands.report_team(settings, ReportsConfig(), "pr").channel == "pr-email"
    with pytest.raises(ReportError, match="unknown team 'x'"):
        report_commands.report_team(settings, ReportsConfig(), "x")
