"""`earshot silences`: mute alerts that match some matchers for a while, list and expire silences."""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError, ProgrammingError

from alerting import silences
from alerting.config import duration_seconds
from alerting.matchers import MatcherError, parse_cli_matcher
from earshot.commands.alerts import db_session
from earshot.context import fail

silences_app = typer.Typer(help="Silence alerts that match, for a while.", no_args_is_help=True)


@contextmanager
def _schema_errors() -> Iterator[None]:
    try:
        yield
    except (OperationalError, ProgrammingError) as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise fail(f"database error: {reason} (run `earshot db upgrade`?)", 3) from None


def _when(text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise fail(f"{text!r} is not an ISO date and time (2026-11-24T18:00+01:00)") from None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _row(row: Any, now: datetime) -> dict[str, Any]:
    return {
        "id": row.id,
        "state": silences.state(row, now),
        "matchers": dict(row.matchers),
        "starts_at": row.starts_at.isoformat(),
        "ends_at": row.ends_at.isoformat(),
        "created_by": row.created_by,
        "comment": row.comment,
        "expired_by": row.expired_by,
    }


@silences_app.command("add")
def add(
    ctx: typer.Context,
    match: Annotated[
        list[str],
        typer.Option(
            "--match",
            "-m",
            help="field<op>value, e.g. brand=Lumora, text=~(?i)refund, followers>=10000; repeat to AND.",
        ),
    ],
    comment: Annotated[str, typer.Option(help="Why; shown in every silenced alert's audit trail.")],
    duration: Annotated[str, typer.Option("--for", help="How long: 30m, 2h, 1d.")] = "2h",
    starts: Annotated[str | None, typer.Option("--starts", help="ISO start (default: now).")] = None,
    by: Annotated[str | None, typer.Option("--by", help="Author (default: your user name).")] = None,
) -> None:
    """Create a silence: matching alerts are stored but nobody is notified."""
    try:
        matchers = dict(parse_cli_matcher(m) for m in match)
        seconds = duration_seconds(duration)
    except (MatcherError, ValueError) as exc:
        raise fail(str(exc)) from None
    now = datetime.now(UTC)
    start = _when(starts) if starts else now
    with _schema_errors():
        try:
            with db_session(ctx, write=True) as session:
                row = silences.create_silence(
                    session,
                    matchers=matchers,
                    starts_at=start,
                    ends_at=start + timedelta(seconds=seconds),
                    author=by or getpass.getuser(),
                    comment=comment,
                    now=now,
                )
                text = f"silence #{row.id} {silences.state(row, now)} until {row.ends_at.isoformat()}: "
                text += silences.describe(row)
        except (silences.SilenceError, ValidationError) as exc:
            raise fail(str(exc)) from None
    typer.echo(text)


@silences_app.command("list")
def list_silences(
    ctx: typer.Context,
    show_all: Annotated[bool, typer.Option("--all", help="Include expired silences.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List pending and active silences (or all), newest first."""
    now = datetime.now(UTC)
    with _schema_errors(), db_session(ctx) as session:
        rows = silences.list_silences(session, now=now, include_expired=show_all)
        described = [(_row(r, now), silences.describe(r)) for r in rows]
    for data, matchers in described:
        if as_json:
            typer.echo(json.dumps(data, ensure_ascii=False))
        else:
            typer.echo(
                f"#{data['id']:<4} {data['state']:<8} until {data['ends_at'][:16]} by {data['created_by']}: "
                f"{matchers} ({data['comment']})"
            )
    if not described and not as_json:
        typer.echo("no silences" if show_all else "no active or pending silences", err=True)


@silences_app.command("expire")
def expire(
    ctx: typer.Context,
    silence_id: int,
    by: Annotated[str | None, typer.Option("--by", help="Who ends it (default: your user name).")] = None,
) -> None:
    """End a silence now."""
    with _schema_errors():
        try:
            with db_session(ctx, write=True) as session:
                silences.expire_silence(
                    session, silence_id=silence_id, actor=by or getpass.getuser(), now=datetime.now(UTC)
                )
        except silences.SilenceError as exc:
            raise fail(str(exc)) from None
    typer.echo(f"silence #{silence_id} expired")


def register(app: typer.Typer) -> None:
    """Add `earshot silences` to the root app."""
    app.add_typer(silences_app, name="silences")
