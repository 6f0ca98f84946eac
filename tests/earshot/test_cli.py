"""The `earshot` CLI as a user runs it: clear errors, exit codes, and the whole demo flow."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from earshot.cli import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _config(tmp_path: Path, **replace: str) -> Path:
    text = (ROOT / "earshot.example.yaml").read_text(encoding="utf-8")
    text = text.replace("sqlite:///./earshot.db", f"sqlite:///{tmp_path / 'earshot.db'}")
    text = text.replace("path: data/alerts.jsonl", f"path: {tmp_path / 'alerts.jsonl'}")
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "earshot.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _run(config: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--config", str(config), *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("replace", "expected"),
    [
        ({"kind: demo ": "kind: twiter "}, "sources[0].kind: unknown source kind 'twiter'"),
        (
            {"'lumora OR @lumora OR @LumoraSupport OR #lumoracloud'": "'(lumora OR @lumora'"},
            "brands[0].queries[0]: missing ')' for this '(' at position 0",
        ),
        ({"min_urgency: medium": "min_urgency: hgih"}, "alerting.min_urgency: 'hgih' is not one of low"),
        (
            {"per_run: 4 ": "per_run: -1 "},
            "sources[0].options.per_run: Input should be greater than or equal to 1",
        ),
        ({"kind: jsonl": "kind: carrier-pigeon"}, "channels[1].kind: unknown channel kind 'carrier-pigeon'"),
        ({"team: support\n": "team: nobody\n"}, "routes[3].team: unknown team 'nobody'"),
        (
            {"competitors: [Vantix, Orbly]": "competitors: [Acme]"},
            "brands[0].competitors[0]: 'Acme' is not a declared brand",
        ),
        (
            # A backreference: Python's re takes it, RE2 (linear time) cannot, so config check refuses it.
            {'followers: ">= 50000"}': "text: '=~ (\\w+) \\1'}"},
            "routes[2].match.text: invalid regular expression '(\\w+) \\1': invalid escape sequence: \\1 "
            "(patterns use RE2 syntax",
        ),
    ],
)
def test_config_check_reports_one_clear_line(tmp_path: Path, replace: dict[str, str], expected: str) -> None:
    config = _config(tmp_path, **replace)
    code, out, err = _run(config, "config", "check")
    assert code == 2
    assert expected in err, err
    assert "Traceback" not in err + out
    assert all(line.startswith("error: ") for line in err.strip().splitlines())


def test_unreachable_database_is_one_line_and_nonzero(tmp_path: Path) -> None:
    config = _config(tmp_path)
    bad = config.read_text().replace(
        f"sqlite:///{tmp_path / 'earshot.db'}", "postgresql://nobody@127.0.0.1:1/earshot"
    )
    config.write_text(bad)
    code, _, err = _run(config, "db", "upgrade")
    assert code == 3
    assert err.startswith("error: cannot connect to postgresql+psycopg://nobody@127.0.0.1:1/earshot")
    assert len(err.strip().splitlines()) == 1


def test_run_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    code, _, err = _run(_config(tmp_path), "collect", "--once", "demo")
    assert code == 3 and "run `earshot db upgrade`" in err


def test_demo_flow_end_to_end(tmp_path: Path) -> None:
    config = _config(tmp_path)
    assert _run(config, "config", "check")[0] == 0
    assert _run(config, "db", "upgrade")[0] == 0
    code, out, err = _run(config, "collect", "--once", "demo")
    assert code == 0, err
    assert out.startswith("demo: fetched ")
    code, out, _ = _run(config, "mentions", "--json", "--limit", "500")
    mentions = [json.loads(line) for line in out.splitlines()]
    assert len(mentions) > 250
    assert {b for m in mentions for b in m["brands"]} == {"Lumora", "Vantix", "Orbly"}
    assert all(m["sentiment"] in {"negative", "neutral", "positive"} for m in mentions)
    code, out, _ = _run(config, "mentions", "--brand", "Vantix", "--json", "--limit", "500")
    assert out and all("Vantix" in json.loads(line)["brands"] for line in out.splitlines())
    code, out, _ = _run(config, "alerts", "--json", "--limit", "500")
    alerts = [json.loads(line) for line in out.splitlines()]
    # The first run back-fills 48 hours; only the last alerting.max_age (6 h) of it may alert.
    assert alerts and len(alerts) < 40
    import sqlite3

    with sqlite3.connect(tmp_path / "earshot.db") as db:
        ages = db.execute(
            "SELECT (julianday(m.collected_at) - julianday(m.published_at)) * 24 FROM alerts a"
            " JOIN mentions m ON m.id = a.mention_id"
        ).fetchall()
    assert len(ages) == len(alerts) and max(h for (h,) in ages) <= 6.0
    delivered = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    notified = {d["alert_id"] for d in delivered} | {
        member["id"] for d in delivered if d["group"] for member in d["group"]["alerts"]
    }
    # Grouped routes hold new groups for group_wait; those alerts wait in the outbox, due later.
    with sqlite3.connect(tmp_path / "earshot.db") as db:
        held = {row[0] for row in db.execute("SELECT alert_id FROM deliveries WHERE status = 'pending'")}
    assert notified | held == {a["id"] for a in alerts}
    assert held <= {a["id"] for a in alerts if a["route"] == "outages-and-security"}
    first = alerts[-1]["id"]
    assert (
        _run(config, "alerts", "ack", str(first), "--by", "ann")[1].strip() == f"alert #{first}: acknowledged"
    )
    code, _, err = _run(config, "alerts", "ack", str(first))
    assert code == 2 and "only a firing alert can be acknowledged" in err
    assert "resolved" in _run(config, "alerts", "resolve", str(first), "--by", "ann")[1]
    assert "assigned to bob" in _run(config, "alerts", "assign", str(alerts[0]["id"]), "--to", "bob")[1]
    code, out, _ = _run(config, "sources")
    assert code == 0 and "demo" in out
    code, out, _ = _run(config, "collect", "demo")
    assert code == 0 and "new 4" in out
    code, _, err = _run(config, "collect", "nope")
    assert code == 2 and "no enabled source named 'nope'" in err


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["run"],
        ["db", "upgrade"],
        ["collect"],
        ["mentions"],
        ["alerts"],
        ["alerts", "ack"],
        ["config", "check"],
        ["sources"],
        ["classify"],
    ],
)
def test_every_command_has_help(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.stdout


def test_console_script_is_installed_and_fails_cleanly(tmp_path: Path) -> None:
    earshot = Path(sys.executable).parent / "earshot"
    done = subprocess.run(
        [str(earshot), "--config", str(tmp_path / "missing.yaml"), "config", "check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        == f"error: {tmp_path / 'missing.yaml'}: file not found (copy earshot.example.yaml, or pass --config)"
    )
