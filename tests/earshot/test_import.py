"""`earshot import` and `earshot db rollup` as a user runs them, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from earshot.cli import app
from storage import trends
from storage.models import AlertRow, ClassificationRow, DeliveryRow, MentionRow
from storage.rollup_tables import RollupCountRow

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()
DAY = datetime(2026, 10, 1, tzinfo=UTC)


def _config(tmp_path: Path, engine: Engine) -> Path:
    text = (ROOT / "earshot.example.yaml").read_text(encoding="utf-8")
    url = engine.url.render_as_string(hide_password=False)
    text = text.replace("sqlite:///./earshot.db", url)
    text = text.replace("path: data/alerts.jsonl", f"path: {tmp_path / 'alerts.jsonl'}")
    # The keyword classifier: fast, and what it says about a text is predictable.
    text = text.replace("  kind: transformer", "  kind: baseline")
    path = tmp_path / "earshot.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _run(config: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--config", str(config), *args])
    return result.exit_code, result.stdout, result.stderr


def _line(external_id: str, **overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "source": "oldtool",
        "external_id": external_id,
        "url": f"https://social.example/{external_id}",
        "text": f"lumora post {external_id}",
        "language": "en",
        "published_at": (DAY + timedelta(hours=int(external_id) % 48, minutes=7)).isoformat(),
        "brands": ["Lumora"],
        "author": {"handle": f"@user{external_id}", "display_name": "User", "followers": 10},
    }
    record.update(overrides)
    return record


def _write(path: Path, lines: list[Any]) -> Path:
    path.write_text(
        "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n",
        encoding="utf-8",
    )
    return path


def _count(sessions: sessionmaker[Session], model: type) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


OUTAGE = "lumora is down for everyone, total outage, nothing works, urgent!!"


def test_import_reports_bad_lines_and_stores_the_good_ones(
    tmp_path: Path, engine: Engine, sessions: sessionmaker[Session]
) -> None:
    config = _config(tmp_path, engine)
    history = _write(
        tmp_path / "history.jsonl",
        [
            _line("1", text=OUTAGE),
            _line("2", classification={"sentiment": "positive", "urgency": "low", "categories": ["praise"]}),
            "{not json",
            _line("3", published_at="last tuesday"),
            "",
            _line("4", author={"display_name": "no handle"}),
            [1, 2],
            _line("5", classification={"sentiment": "furious"}),
            _line("6", brands=["Lumora", "Vantix"], author={"handle": "@LumoraSupport", "followers": 9000}),
        ],
    )
    code, out, err = _run(config, "import", str(history))
    assert code == 1
    assert f"{history}: stored 3, already stored 0, classified 2, bad lines 5" in out
    reported = [line for line in err.splitlines() if line.startswith(f"{history}:")]
    assert [line.split(":")[1] for line in reported] == ["3", "4", "6", "7", "8"]
    assert "invalid JSON" in reported[0]
    assert "published_at" in reported[1]
    assert "author.handle: Field required" in reported[2]
    assert "expected a JSON object, got list" in reported[3]
    assert "classification.sentiment" in reported[4]
    with sessions() as session:
        rows = {m.external_id: m for m in session.scalars(select(MentionRow))}
        assert sorted(rows) == ["1", "2", "6"]
        given = rows["2"].classification
        assert given is not None and given.model_version == "import" and given.categories == ["praise"]
        assert given.sentiment == "positive"
        modelled = rows["1"].classification
        assert modelled is not None and modelled.model_version.startswith("baseline")
        assert modelled.sentiment == "negative" and "outage" in modelled.categories
        # Owned accounts are recognised as in the live pipeline: kept out of top authors.
        assert rows["6"].owned and not rows["1"].owned
        assert rows["1"].published_at == DAY + timedelta(hours=1, minutes=7)
    # An outage complaint from history raises nothing (live, the outages route would page ops).
    assert _count(sessions, AlertRow) == 0
    assert _count(sessions, DeliveryRow) == 0
    assert not (tmp_path / "alerts.jsonl").exists()


def test_reimport_stores_nothing_twice_and_rollups_follow(
    tmp_path: Path, engine: Engine, sessions: sessionmaker[Session]
) -> None:
    config = _config(tmp_path, engine)
    lines = [_line(str(i)) for i in range(60)] + [_line("5", text="a later copy of 5")]
    history = _write(tmp_path / "history.jsonl", lines)
    code, out, _ = _run(config, "import", "--batch-size", "7", str(history))
    assert code == 0, out
    assert "stored 60, already stored 1, classified 60, bad lines 0" in out
    code, out, _ = _run(config, "import", str(history))
    assert code == 0
    assert "stored 0, already stored 61, classified 0, bad lines 0" in out
    assert _count(sessions, MentionRow) == 60
    assert _count(sessions, ClassificationRow) == 60
    with sessions() as session:
        assert session.scalar(select(MentionRow.text).where(MentionRow.external_id == "5")) == "lumora post 5"
        until = DAY + timedelta(days=2, minutes=30)
        by_hour = trends.volume(session, since=DAY, until=until, brands=["Lumora"])
        assert by_hour == trends.volume(session, since=DAY, until=until, brands=["Lumora"], use_rollups=False)
        assert sum(by_hour["Lumora"]) == 60
        before = sorted(tuple(r) for r in session.execute(select(*RollupCountRow.__table__.columns)))
    code, out, _ = _run(config, "db", "rollup", "--rebuild")
    assert code == 0, out
    assert "rollups: " in out and "60 brand mention(s)" in out
    with sessions() as session:
        after = sorted(tuple(r) for r in session.execute(select(*RollupCountRow.__table__.columns)))
    assert after == before


def test_csv_with_a_column_mapping(tmp_path: Path, engine: Engine, sessions: sessionmaker[Session]) -> None:
    config = _config(tmp_path, engine)
    export = tmp_path / "export.csv"
    export.write_text(
        "Mention Id,Date,Full Text,Author,Reach,Sentiment,Tags,Brand\n"
        'a1,2026-10-01T09:30:00Z,"lumora, again: ""down""\nsecond line",'
        "@ann,1500,Negative,outage;billing,Lumora\n"
        "a2,2026-10-01T10:30:00Z,vantix is fine,@bo,,neutral,,Vantix;Lumora\n"
        "a3,not a date,lumora,@cy,1,positive,,Lumora\n",
        encoding="utf-8",
    )
    maps = ["Mention Id=external_id", "Date=published_at", "Full Text=text", "Author=author_handle"]
    maps += ["Reach=author_followers", "Sentiment=sentiment", "Tags=categories", "Brand=brands"]
    args = [arg for m in maps for arg in ("--map", m)]
    code, out, err = _run(config, "import", *args, "--set", "source=brandwatch", str(export))
    assert code == 1
    assert "stored 2, already stored 0, classified 0, bad lines 1" in out
    # The bad record starts on physical line 5: the quoted text of a1 spans two lines.
    assert f"{export}:5: published_at" in err
    with sessions() as session:
        rows = {m.external_id: m for m in session.scalars(select(MentionRow))}
        assert rows["a1"].text == 'lumora, again: "down"\nsecond line'
        assert rows["a1"].source == "brandwatch" and rows["a1"].author is not None
        assert (rows["a1"].author.handle, rows["a1"].author.followers) == ("@ann", 1500)
        a1 = rows["a1"].classification
        assert a1 is not None and (a1.sentiment, a1.categories) == ("negative", ["outage", "billing"])
        # Own brand first, as the live pipeline orders them.
        assert [b.brand for b in rows["a2"].brands] == ["Lumora", "Vantix"]
        a2 = rows["a2"].classification
        assert a2 is not None and (a2.sentiment, a2.categories) == ("neutral", [])


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--map", "Date=when"], "--map 'Date=when': use COLUMN=FIELD"),
        (["--set", "colour=blue"], "--set 'colour=blue': use FIELD=VALUE"),
        (["--format", "json", "--map", "Date=published_at"], "--map and --set apply to CSV files only"),
    ],
)
def test_bad_csv_options_are_one_clear_error(
    tmp_path: Path, engine: Engine, args: list[str], expected: str
) -> None:
    config = _config(tmp_path, engine)
    export = tmp_path / "export.csv"
    export.write_text("Date\n2026-10-01\n", encoding="utf-8")
    code, _, err = _run(config, "import", *args, str(export))
    assert code == 2
    assert err.startswith("error: ") and expected in err


def test_csv_missing_mapped_column_is_reported(tmp_path: Path, engine: Engine) -> None:
    config = _config(tmp_path, engine)
    export = tmp_path / "export.csv"
    export.write_text("When,Text\n2026-10-01,lumora\n", encoding="utf-8")
    code, out, err = _run(config, "import", "--map", "Date=published_at", str(export))
    assert code == 1
    assert f"{export}:1: header has no column 'Date'" in err
    assert "stored 0" in out
