"""`earshot users` and `earshot tokens` as other tooling drives them, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from earshot.cli import app
from storage import accounts
from tests.web.conftest import build_app

runner = CliRunner()
PASSWORD = "correct horse battery staple"


@pytest.fixture
def config(engine: Engine, tmp_path: Path) -> Path:
    """A config file that points at the test database."""
    path = tmp_path / "earshot.yaml"
    url = engine.url.render_as_string(hide_password=False)
    path.write_text(f"database:\n  url: '{url}'\n", encoding="utf-8")
    return path


def earshot(config: Path, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    """Run the CLI; (exit code, stdout, stderr)."""
    result = runner.invoke(app, ["--config", str(config), *args], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_add_list_and_sign_in(config: Path, sessions: sessionmaker[Session]) -> None:
    code, out, err = earshot(
        config,
        *("users", "add", "ann", "--role", "responder", "--team", "support", "--team", "billing"),
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert code == 0, err
    assert out.strip() == "user #1 ann: responder in support, billing"
    code, out, _ = earshot(config, "users", "add", "robot", "--role", "viewer")
    assert code == 0 and "API tokens only" in out
    code, out, _ = earshot(config, "users", "list")
    assert code == 0
    assert [line.split()[1:4] for line in out.splitlines()] == [
        ["ann", "responder", "support,billing"],
        ["robot", "viewer", "-"],
    ]
    # The password read from stdin (without its line break) is the one that signs in.
    with TestClient(build_app(sessions), follow_redirects=False) as browser:
        response = browser.post("/login", data={"name": "ann", "password": PASSWORD})
        assert response.status_code == 303
        assert browser.get("/api/me").json()["teams"] == ["support", "billing"]


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("users", "add", "ann", "--role", "owner"), None, "--role must be one of viewer, responder, admin"),
        (("users", "add", "ann", "--role", "admin", "--password-stdin"), "short\n", "at least 10 characters"),
        (("users", "passwd", "nobody", "--password-stdin"), PASSWORD, "no user named 'nobody'"),
        (("users", "passwd", "nobody"), None, "--password-stdin"),
        (("tokens", "create", "nobody"), None, "no user named 'nobody'"),
        (("tokens", "revoke", "99"), None, "no token #99"),
    ],
)
def test_mistakes_are_one_clear_error(
    config: Path, args: tuple[str, ...], stdin: str | None, message: str
) -> None:
    code, _, err = earshot(config, *args, stdin=stdin)
    assert code == 2 and message in err and err.startswith("error: ")


def test_a_name_is_taken_once(config: Path) -> None:
    assert earshot(config, "users", "add", "ann", "--role", "admin")[0] == 0
    code, _, err = earshot(config, "users", "add", "ann", "--role", "viewer")
    assert code == 2 and "a user named 'ann' already exists" in err


def test_passwd_changes_the_password(config: Path, sessions: sessionmaker[Session]) -> None:
    earshot(config, "users", "add", "ann", "--role", "admin", "--password-stdin", stdin=PASSWORD)
    code, out, err = earshot(
        config, "users", "passwd", "ann", "--password-stdin", stdin="a new long password\r\n"
    )
    assert code == 0 and "sessions have ended" in out, err
    with TestClient(build_app(sessions), follow_redirects=False) as browser:
        assert browser.post("/login", data={"name": "ann", "password": PASSWORD}).status_code == 401
        assert (
            browser.post("/login", data={"name": "ann", "password": "a new long password"}).status_code == 303
        )


def test_token_create_prints_the_token_last_and_revoke_ends_it(
    config: Path, sessions: sessionmaker[Session]
) -> None:
    earshot(config, "users", "add", "robot", "--role", "viewer")
    code, out, err = earshot(config, "tokens", "create", "robot")
    assert code == 0, err
    token = out.splitlines()[-1]
    assert token.startswith("esk_") and token.strip() == token and len(token) > 40
    with sessions() as session:
        (stored,) = accounts.list_tokens(session, user_name="robot")
    assert token.startswith(stored.prefix) and stored.revoked_at is None
    app_ = build_app(sessions)
    with TestClient(app_, headers={"Authorization": f"Bearer {token}"}) as client:
        assert client.get("/api/me").json()["name"] == "robot"
        code, out, _ = earshot(config, "tokens", "list")
        assert code == 0 and "robot" in out and "live" in out and token not in out
        code, out, _ = earshot(config, "tokens", "revoke", str(stored.id))
        assert code == 0 and out.strip() == f"token #{stored.id} of robot revoked"
        assert client.get("/api/me").status_code == 401
    assert "revoked" in earshot(config, "tokens", "list", "--user", "robot")[1]
