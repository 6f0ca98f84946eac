"""`earshot users` and `earshot tokens`: accounts and API tokens.

Other tooling drives these exactly as documented: `tokens create` prints the token alone on its
last line, and passwords are read from standard input, never from an argument (which would show
in the process list and the shell history).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from sqlalchemy.exc import OperationalError, ProgrammingError

from earshot.commands.alerts import db_session
from earshot.context import fail
from storage import accounts
from storage.accounts import AccountError
from web.auth import ROLES
from web.auth.accounts import add_user, change_password, create_token

users_app = typer.Typer(help="People who sign in, their role and teams.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens, sent as 'Authorization: Bearer TOKEN'.", no_args_is_help=True)


def _password_from_stdin() -> str:
    text = sys.stdin.read()
    # One trailing line break is how `echo` and here-strings end it; anything else is the password.
    return text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text


def _database_errors(exc: Exception) -> typer.Exit:
    orig = getattr(exc, "orig", None)
    reason = str(orig or exc).strip().splitlines()[0]
    return fail(f"database error: {reason} (run `earshot db upgrade`?)", 3)


@users_app.command("add")
def add(
    ctx: typer.Context,
    name: str,
    role: Annotated[str, typer.Option(help="admin, responder or viewer.")],
    team: Annotated[
        list[str] | None, typer.Option("--team", help="A team they work in; repeat for more.")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Create a user; without --password-stdin they can use API tokens only."""
    if role not in ROLES:
        raise fail(f"--role must be one of {', '.join(ROLES)}")
    password = _password_from_stdin() if password_stdin else None
    teams = tuple(dict.fromkeys(t.strip() for t in team or () if t.strip()))
    try:
        with db_session(ctx, write=True) as session:
            user = add_user(
                session, name=name, role=role, teams=teams, password=password, now=datetime.now(UTC)
            )
    except (AccountError, ValueError) as exc:
        raise fail(str(exc)) from None
    except (OperationalError, ProgrammingError) as exc:
        raise _database_errors(exc) from None
    where = f" in {', '.join(user.teams)}" if user.teams else ""
    how = "" if password is not None else " (no password: API tokens only)"
    typer.echo(f"user #{user.id} {user.name}: {user.role}{where}{how}")


@users_app.command("list")
def list_users(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List users by name, with their role and teams."""
    try:
        with db_session(ctx) as session:
            found = accounts.list_users(session)
    except (OperationalError, ProgrammingError) as exc:
        raise _database_errors(exc) from None
    for user in found:
        data: dict[str, Any] = {
            "id": user.id,
            "name": user.name,
            "role": user.role,
            "teams": list(user.teams),
            "password": user.password_hash is not None,
            "created_at": user.created_at.isoformat(),
        }
        if as_json:
            typer.echo(json.dumps(data, ensure_ascii=False))
        else:
            teams = ",".join(user.teams) or "-"
            note = "" if data["password"] else " (tokens only)"
            typer.echo(f"#{user.id:<4} {user.name:<24} {user.role:<10} {teams}{note}")
    if not found and not as_json:
        typer.echo(
            "no users yet: add one with `earshot users add NAME --role admin --password-stdin`", err=True
        )


@users_app.command("passwd")
def passwd(
    ctx: typer.Context,
    name: str,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the new password from standard input.")
    ] = False,
) -> None:
    """Set a user's password; their open sessions end."""
    if not password_stdin:
        raise fail("pass the new password on standard input with --password-stdin")
    password = _password_from_stdin()
    try:
        with db_session(ctx, write=True) as session:
            change_password(session, name=name, password=password)
    except (AccountError, ValueError) as exc:
        raise fail(str(exc)) from None
    except (OperationalError, ProgrammingError) as exc:
        raise _database_errors(exc) from None
    typer.echo(f"password of {name} changed; their sessions have ended")


@tokens_app.command("create")
def create(ctx: typer.Context, name: str) -> None:
    """Create an API token for user NAME; the token is printed once, alone on the last line."""
    try:
        with db_session(ctx, write=True) as session:
            token_id, token = create_token(session, name=name, now=datetime.now(UTC))
    except AccountError as exc:
        raise fail(str(exc)) from None
    except (OperationalError, ProgrammingError) as exc:
        raise _database_errors(exc) from None
    typer.echo(f"token #{token_id} for {name}; it is shown only now:")
    typer.echo(token)


@tokens_app.command("list")
def list_tokens(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option("--user", help="Only this user's tokens.")] = None,
) -> None:
    """List tokens (never the tokens themselves): id, owner, prefix, last use, revoked."""
    try:
        with db_session(ctx) as session:
            found = accounts.list_tokens(session, user_name=user)
    except (OperationalError, ProgrammingError) as exc:
        raise _database_errors(exc) from None
    for token in found:
        used = token.last_used_at.isoformat()[:16] if token.last_used_at else "never"
        state = f"revoked {token.revoked_at.isoformat()[:16]}" if token.revoked_at else "live"
        typer.echo(f"#{token.id:<4} {token.user_name:<24} {token.prefix}…  used {used}  {state}")
    if not found:
        typer.echo("no tokens", err=True)


@tokens_app.command("revoke")
def revoke(ctx: typer.Context, token_id: int) -> None:
    """Revoke token ID; requests with it get 401 from now on."""
    try:
        with db_session(ctx, write=True) as session:
            token = accounts.revoke_token(session, token_id=token_id, now=datetime.now(UTC))
    except AccountError as exc:
        raise fail(str(exc)) from None
    except (OperationalError, ProgrammingError) as exc:
        raise _database_errors(exc) from None
    typer.echo(f"token #{token.id} of {token.user_name} revoked")


def register(app: typer.Typer) -> None:
    """Add `earshot users` and `earshot tokens` to the root app."""
    app.add_typer(users_app, name="users")
    app.add_typer(tokens_app, name="tokens")
