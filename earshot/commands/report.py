"""`earshot report`: send a team's weekly report now, write it to files, or list what was sent."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from alerting.channels.email import EmailChannel
from alerting.reports import ReportError, deliver, email_channel, make_message, week_ending
from alerting.reports_config import ReportsConfig, ReportTeam
from earshot.compose import build_channels
from earshot.context import clean_errors, fail, settings_for, setup_logging, state
from earshot.settings import Settings
from storage.db import create_db_engine, session_factory
from storage.report_queries import report_sends
from web.context import WebContext


def reports_config(settings: Settings) -> ReportsConfig:
    """The ``reports`` settings block, or the defaults while Settings has none."""
    config = getattr(settings, "reports", None)
    return config if isinstance(config, ReportsConfig) else ReportsConfig()


def report_team(settings: Settings, config: ReportsConfig, name: str) -> ReportTeam:
    """The team's report entry; a team without one reports to its first email channel."""
    entry = config.team(name)
    if entry is not None:
        return entry
    team = next((t for t in settings.teams if t.name == name), None)
    if team is None:
        known = sorted({t.team for t in config.teams} | {t.name for t in settings.teams})
        raise ReportError(f"unknown team {name!r}; teams: {', '.join(known) or 'none'}")
    kinds = {c.name: c.kind for c in settings.channels}
    channel = next((c for c in team.channels if kinds.get(c) == "email"), None)
    if channel is None:
        raise ReportError(f"team {name!r} has no email channel; add one or a reports entry for it")
    return ReportTeam(team=name, channel=channel)


def report_context(settings: Settings, sessions: sessionmaker[Session]) -> WebContext:
    """The dashboard context of reports: own brands (competitors are marked as such) and competitors."""
    own = tuple(name for name, competitor, _ in settings.brand_roles() if not competitor)
    return WebContext(
        session_factory=sessions,
        brands=own,
        competitors={b.name: tuple(b.competitors) for b in settings.brands},
    )


def _write(message: EmailMessage, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "report.eml"]
    written[0].write_bytes(message.as_bytes())
    # The charts and CSV files as they travel inside the message, for a quick look.
    for part in message.walk():
        name = part.get_filename()
        if name and part.get_content_type() in {"image/png", "text/csv"}:
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                written.append(out / Path(name).name)
                written[-1].write_bytes(payload)
    return written


def report(
    ctx: typer.Context,
    send_now: Annotated[
        str | None,
        typer.Option("--send-now", metavar="TEAM", help="Send TEAM's report for the last 7 whole days now."),
    ] = None,
    to: Annotated[
        list[str] | None,
        typer.Option("--to", metavar="EMAIL", help="Send to this address instead (repeatable)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", metavar="DIR", help="Write report.eml, charts and CSV here; send nothing."),
    ] = None,
) -> None:
    """Weekly reports: send one now (--send-now TEAM), or list the reports sent so far."""
    settings = settings_for(ctx)
    setup_logging(settings.log_level, state(ctx).verbose)
    if (to or out) and not send_now:
        raise fail("--to and --out go with --send-now TEAM")
    for address in to or []:
        if "@" not in parseaddr(address)[1] or "\n" in address:
            raise fail(f"not an email address: {address!r}")
    with clean_errors():
        engine = create_db_engine(settings.database.url)
    try:
        sessions = session_factory(engine)
        if not send_now:
            with sessions() as session:
                rows = report_sends(session)
            for r in rows:
                when = f"{r.period_until:%Y-%m-%d %H:%M}"
                typer.echo(f"{when} {r.team} {r.status} ({r.attempts}) {r.recipients} {r.detail}".rstrip())
            if not rows:
                typer.echo("no weekly report sent yet")
            return
        config = reports_config(settings)
        try:
            team = report_team(settings, config, send_now)
            channel: EmailChannel = email_channel(build_channels(settings), team.channel)
        except ReportError as exc:
            raise fail(str(exc)) from None
        web = report_context(settings, sessions)
        message = make_message(
            sessions,
            ctx=web,
            team=team,
            channel=channel,
            until=week_ending(datetime.now(UTC)),
            timezone=config.timezone,
            recipients=to,
        )
        if out is not None:
            for path in _write(message, out):
                typer.echo(str(path))
            return
        result = deliver(channel, message)
        if not result.ok:
            raise fail(f"report for {team.team} not sent: {result.reason}", 1)
        typer.echo(f"report for {team.team} sent to {message['To']}: {result.reason}")
    except (OperationalError, ProgrammingError) as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise fail(f"database error: {reason} (run `earshot db upgrade`?)", 3) from None
    finally:
        engine.dispose()


def register(app: typer.Typer) -> None:
    """Add `earshot report` to the root app."""
    app.command("report")(report)
