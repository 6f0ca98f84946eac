"""`earshot silences add|list|expire` as a user runs them, on a migrated SQLite database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import pytest
import typer
from typer.testing import CliRunner

from earshot.commands import silences as silence_commands
from earshot.context import CliState
from storage.db import create_db_engine, upgrade

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()

# A root like earshot.cli's (which wires `silences` the same way), so the real app is not mutated.
app = typer.Typer()


@app.callback()
def _root(ctx: typer.Context, config: Annotated[Path, typer.Option("--config")]) -> None:
    ctx.obj = CliState(config=config)


silence_commands.register(app)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    text = (ROOT / "earshot.example.yaml").read_text(encoding="utf-8")
    text = text.replace("sqlite:///./earshot.db", f"sqlite:///{tmp_path / 'earshot.db'}")
    path = tmp_path / "earshot.yaml"
    path.write_text(text, encoding="utf-8")
    engine = create_db_engine(f"sqlite:///{tmp_path / 'earshot.db'}")
    upgrade(engine)
    engine.dispose()
    return path


def _run(config: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--config", str(config), "silences", *args])
    return result.exit_code, result.stdout, result.stderr


def test_add_list_expire(config: Path) -> None:
    code, out, err = _run(
        config,
        "add",
        "-m",
        "brand=Lumora",
        "-m",
        "text=~(?i)refund",
        "--for",
        "2h",
        "--comment",
        "known billing incident",
        "--by",
        "ann",
    )
    assert code == 0, err
    assert out.startswith("silence #1 active until ") and out.strip().endswith(
        "brand = Lumora, text =~ (?i)refund"
    )
    code, out, _ = _run(config, "list")
    assert (
        code == 0
        and "#1" in out
        and "active" in out
        and "by ann" in out
        and "(known billing incident)" in out
    )
    code, out, _ = _run(config, "list", "--json")
    (row,) = [json.loads(line) for line in out.splitlines()]
    assert row["matchers"] == {"brand": "= Lumora", "text": "=~ (?i)refund"} and row["state"] == "active"
    assert _run(config, "expire", "1", "--by", "bo")[:2] == (0, "silence #1 expired\n")
    code, out, err = _run(config, "list")
    assert (code, out, err.strip()) == (0, "", "no active or pending silences")
    code, out, _ = _run(config, "list", "--all", "--json")
    assert [json.loads(line)["expired_by"] for line in out.splitlines()] == ["bo"]


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["add", "-m", "Lumora", "--comment", "x"], "error: 'Lumora' is not 'field<op>value'"),
        (["add", "-m", "text=~(oops", "--comment", "x"], "error: text: invalid regular expression '(oops'"),
        (["add", "-m", "colour=red", "--comment", "x"], "error: unknown field 'colour'"),
        (["add", "-m", "brand=Lumora", "--comment", "x", "--for", "soon"], "error: 'soon' is not a duration"),
        (["add", "-m", "brand=Lumora", "--comment", " "], "error: a silence needs a comment"),
        (["expire", "42"], "error: silence #42 does not exist"),
    ],
)
def test_bad_input_is_one_clear_error(config: Path, args: list[str], error: str) -> None:
    code, out, err = _run(config, *args)
    assert code == 2 and err.startswith(error), err
    assert "Traceback" not in out + err


def test_unmigrated_database_is_a_clear_error(tmp_path: Path) -> None:
    text = (ROOT / "earshot.example.yaml").read_text(encoding="utf-8")
    path = tmp_path / "earshot.yaml"
    path.write_text(
        text.replace("sqlite:///./earshot.db", f"sqlite:///{tmp_path / 'empty.db'}"), encoding="utf-8"
    )
    code, _, err = _run(path, "list")
    assert code == 3 and "no such table: silences" in err and "earshot db upgrade" in err
