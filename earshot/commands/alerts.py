"""`earshot alerts`: list, acknowledge, resolve, assign, re-send dead letters, response-time stats."""

from __future__ import annotations

import getpass
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session

from alerting import lifecycle, sla
from earshot.context import clean_errors, fail, settings_for
from storage import alerts as alert_repo
from storage.db import create_db_engine, session_factory

alerts_app = typer.Typer(help="List alerts and act on them.", invoke_without_command=True)


@contextmanager
def db_session(ctx: typer.Context, *, write: bool = False) -> Iterator[Session]:
    """A session on the configured database; with ``write``, one transaction committed at the end."""
    settings = settings_for(ctx)
    with clean_errors():
        engine = create_db_engine(settings.database.url)
    try:
        with session_factory(engine)() as session:
            if write:
                with session.begin():
                    yield session
            else:
                yield session
    finally:
        engine.dispose()


@alerts_app.callback()
def list_alerts(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="firing, acknowledged or resolved.")] = None,
    team: Annotated[str | None, typer.Option(help="Only this team's alerts.")] = None,
    failed: Annotated[bool, typer.Option("--failed", help="Show dead-lettered deliveries instead.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List alerts, newest first (or, with --failed, deliveries that gave up)."""
    if ctx.invoked_subcommand is not None:
        return
    with db_session(ctx) as session:
        if failed:
            rows: list[dict[str, Any]] = [
                {
                    "delivery": d.id,
                    "alert": d.alert_id,
                    "channel": d.channel,
                    "action": d.action,
                    "attempts": d.attempts,
                    "error": d.last_error,
                }
                for d in alert_repo.failed_deliveries(session, limit=limit)
            ]
        else:
            rows = [
                {
                    "id": a.id,
                    "created_at": a.created_at.isoformat(),
                    "status": a.status,
                    "urgency": a.urgency,
                    "team": a.team,
                    "route": a.route_name,
                    "brand": a.brand,
                    "count": a.count,
                    "title": a.title,
                    "reason": a.reason,
                    "assignee": a.assignee,
                }
                for a in alert_repo.list_alerts(session, status=status, team=team, limit=limit)
            ]
    for row in rows:
        if as_json:
            typer.echo(json.dumps(row, ensure_ascii=False))
        elif failed:
            typer.echo(
                f"delivery #{row['delivery']} alert #{row['alert']} -> {row['channel']} ({row['action']}), "
                f"{row['attempts']} attempts: {row['error']}"
            )
        else:
            extra = f" x{row['count']}" if row["count"] > 1 else ""
            typer.echo(
                f"#{row['id']:<5} {row['created_at'][:16]} {row['status']:<12} {row['urgency']:<8} "
                f"{row['team']:<9} {row['title']}{extra}"
            )
    if not rows and not as_json:
        typer.echo("no dead-lettered deliveries" if failed else "no alerts match", err=True)


def _act(ctx: typer.Context, action: Callable[..., Any], alert_id: int, **kwargs: Any) -> None:
    try:
        with db_session(ctx, write=True) as session:
            row = action(session, alert_id=alert_id, now=datetime.now(UTC), **kwargs)
            status, assignee = row.status, row.assignee
    except lifecycle.LifecycleError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"alert #{alert_id}: {status}" + (f", assigned to {assignee}" if assignee else ""))


_BY = typer.Option("--by", help="Who is acting (default: your user name).")


@alerts_app.command("ack")
def ack(ctx: typer.Context, alert_id: int, by: Annotated[str | None, _BY] = None, note: str = "") -> None:
    """Acknowledge a firing alert; stops its escalation."""
    _act(ctx, lifecycle.acknowledge, alert_id, actor=by or getpass.getuser(), note=note)


@alerts_app.command("resolve")
def resolve(ctx: typer.Context, alert_id: int, by: Annotated[str | None, _BY] = None, note: str = "") -> None:
    """Resolve an alert."""
    _act(ctx, lifecycle.resolve, alert_id, actor=by or getpass.getuser(), note=note)


@alerts_app.command("assign")
def assign(
    ctx: typer.Context,
    alert_id: int,
    to: Annotated[str, typer.Option("--to", help="Who should handle it.")],
    by: Annotated[str | None, _BY] = None,
) -> None:
    """Assign an alert to someone."""
    _act(ctx, lifecycle.assign, alert_id, assignee=to, actor=by or getpass.getuser())


def _span(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 60:.0f}m"


@alerts_app.command("stats")
def stats(
    ctx: typer.Context,
    days: Annotated[int, typer.Option(min=1, max=366, help="Cases opened in the last DAYS days.")] = 30,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per team.")] = False,
) -> None:
    """First-response and resolution p50/p90 per team, against each team's SLA."""
    settings = settings_for(ctx)
    teams = {t.name: t for t in settings.teams}
    until = datetime.now(UTC)
    with db_session(ctx) as session:
        figures = sla.team_stats(session, teams=teams, since=until - timedelta(days=days), until=until)
    for f in figures:
        if as_json:
            typer.echo(json.dumps(asdict(f)))
            continue
        target = (
            f" (SLA {_span(f.first_response_target)} / {_span(f.resolution_target)})"
            if (f.first_response_target or f.resolution_target)
            else ""
        )
        typer.echo(
            f"{f.team:<10} {f.cases:>5} cases  first response p50 {_span(f.first_response_p50)} "
            f"p90 {_span(f.first_response_p90)}  resolution p50 {_span(f.resolution_p50)} "
            f"p90 {_span(f.resolution_p90)}{target}"
        )
    if not figures and not as_json:
        typer.echo(f"no cases in the last {days} days", err=True)


@alerts_app.command("resend")
def resend(ctx: typer.Context, delivery_id: int) -> None:
    """Put a dead-lettered delivery back in the outbox."""
    with db_session(ctx, write=True) as session:
        ok = alert_repo.resend(session, delivery_id, now=datetime.now(UTC))
    if not ok:
        raise fail(f"delivery #{delivery_id} is not dead-lettered (see `earshot alerts --failed`)")
    typer.echo(f"delivery #{delivery_id} queued again")


def register(app: typer.Typer) -> None:
    """Add `earshot alerts` to the root app."""
    app.add_typer(alerts_app, name="alerts")
