"""Weekly reports per team by email: charts as PNG images, key numbers against the week before, CSV attached.

The figures come from the dashboard's own assembly (``web.analytics.dashboard``) over the seven days
before the scheduled time, so a report and the overview page for that range show the same numbers.
The message is multipart: a text/plain part, an HTML part with the charts inline (Content-ID), and
the figures as CSV attachments; ``alerting.report_render`` draws the charts (matplotlib's Agg
canvas) and writes the parts, escaping every string that may come from a stranger.
Each team's week is claimed in ``report_sends`` before sending, so it goes out once per week.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, time, timedelta
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from alerting.channels.base import Channel
from alerting.channels.email import EmailChannel, _classify, _quietly_quit
from alerting.channels.render import escape_plain, fit
from alerting.jobs import Job
from alerting.report_render import CHARTS as CHARTS  # re-exported: callers name charts from here
from alerting.report_render import (
    Report,
    csv_files,
    render_charts,
    render_html,
    render_text,
)
from alerting.reports_config import ReportsConfig, ReportTeam
from alerting.windows import Weekday
from domain import DeliveryResult
from storage.report_queries import claim_report, finish_report, most_engaged
from storage.trends import floor_bucket
from web.analytics import dashboard, resolve_view
from web.context import WebContext

log = logging.getLogger(__name__)
WEEK = timedelta(days=7)
# How often the job looks whether a report is due: the report goes out within this of its hour.
REPORT_CHECK_SECONDS = 300.0
_WEEKDAYS = list(Weekday)
_ID_CHARS = re.compile(r"[^A-Za-z0-9._-]")


class ReportError(ValueError):
    """A report that cannot be made: unknown team, or a channel that is not email."""


def latest_due(config: ReportsConfig, now: datetime) -> datetime:
    """The most recent scheduled time (weekday at hour, local) at or before ``now``, in UTC."""
    zone = ZoneInfo(config.timezone)
    local_now = now.astimezone(zone)
    for back in range(8):
        day = local_now.date() - timedelta(days=back)
        if _WEEKDAYS[day.weekday()] != config.weekday:
            continue
        candidate = datetime.combine(day, time(config.hour), zone)
        if candidate <= local_now:
            return candidate.astimezone(UTC)
    raise AssertionError("a weekly schedule always has a time in the last 8 days")


def week_ending(at: datetime) -> datetime:
    """The end of the report week for a report made at ``at``: the UTC midnight before it.

    Whole UTC days give every daily point of the charts a full day, as the trend buckets are UTC days.
    """
    return floor_bucket(at, "day")


def build_report(
    session: Session,
    *,
    ctx: WebContext,
    team: ReportTeam,
    until: datetime,
    timezone: str = "UTC",
    base_url: str | None = None,
) -> Report:
    """The report of ``team`` for the week before ``until``: the dashboard's figures and top mentions."""
    brands = list(dict.fromkeys(team.brands))
    view = resolve_view(
        ctx,
        session,
        range_name="custom",
        since=until - WEEK,
        until=until,
        brand=brands[0] if brands else None,
        vs=brands[1:],
        bucket="day",
    )
    figures = dashboard(ctx, session, view)
    focus = [view.brand] if view.brand else []
    engaged = most_engaged(session, since=view.since, until=view.until, brands=focus, limit=5)
    link = f"{base_url.rstrip('/')}/?{view.query()}" if base_url else None
    return Report(team=team.team, figures=figures, engaged=engaged, timezone=timezone, link=link)


def compose(
    report: Report, *, sender: str, recipients: Sequence[str], subject_prefix: str = "[Earshot]"
) -> EmailMessage:
    """The report as an email: text, HTML with inline charts, and the CSV attachments."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "earshot.invalid"
    key = _ID_CHARS.sub("", f"{report.team}-{report.figures.until:%Y%m%d%H%M}")
    msg = EmailMessage()
    msg["Subject"] = fit(
        f"{subject_prefix} {report.title}".strip(), 200, lambda s: escape_plain(s).replace("\n", " ")
    )
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(usegmt=True)
    # The same report always has the same id, so a resend is recognisable as one.
    msg["Message-ID"] = f"<earshot-report-{key}@{domain}>"
    msg["Auto-Submitted"] = "auto-generated"
    charts = render_charts(report)
    cids = {name: f"{name}.{key}@{domain}" for name in charts}
    # Quoted-printable keeps the text parts 7-bit, as the email channel does (no 8BITMIME needed).
    msg.set_content(render_text(report), cte="quoted-printable")
    msg.add_alternative(render_html(report, cids), subtype="html", cte="quoted-printable")
    html_part = msg.get_body(preferencelist=("html",))
    assert html_part is not None  # added just above
    for name, png in charts.items():
        html_part.add_related(
            png, maintype="image", subtype="png", cid=f"<{cids[name]}>", filename=f"{name}.png"
        )
    for filename, text in csv_files(report).items():
        msg.add_attachment(text, subtype="csv", filename=filename, cte="base64")
    return msg


def email_channel(channels: Mapping[str, Channel], name: str) -> EmailChannel:  # type: ignore[type-arg]
    """The email channel called ``name``; raises ReportError when it is missing or not email."""
    channel = channels.get(name)
    if not isinstance(channel, EmailChannel):
        raise ReportError(
            f"reports need an email channel; {name!r} is {'missing' if channel is None else channel.kind}"
        )
    return channel


def deliver(channel: EmailChannel, message: EmailMessage) -> DeliveryResult:
    """Send ``message`` with the email channel's SMTP settings (transport, TLS, login)."""
    smtp = None
    try:
        smtp = channel._connect()
        options = channel.options
        if options.username and options.password is not None:
            smtp.login(options.username, options.password.get_secret_value())
        refused = smtp.send_message(message)
    except Exception as exc:  # smtplib raises a zoo of types; the channel classifies them
        if smtp is not None:
            smtp.close()
        return _classify(exc)
    _quietly_quit(smtp)
    if refused:
        return DeliveryResult.delivered(f"accepted, but refused for: {', '.join(sorted(refused))}")
    return DeliveryResult.delivered("accepted by SMTP server")


def make_message(
    sessions: sessionmaker[Session],
    *,
    ctx: WebContext,
    team: ReportTeam,
    channel: EmailChannel,
    until: datetime,
    timezone: str,
    recipients: Sequence[str] | None = None,
) -> EmailMessage:
    """Build ``team``'s report for the week before ``until`` as the message its channel would send."""
    with sessions() as session:
        report = build_report(
            session, ctx=ctx, team=team, until=until, timezone=timezone, base_url=channel.base_url
        )
    options = channel.options
    return compose(
        report,
        sender=options.sender,
        recipients=recipients or options.recipients,
        subject_prefix=options.subject_prefix,
    )


def send_due(
    *,
    sessions: sessionmaker[Session],
    config: ReportsConfig,
    channels: Mapping[str, Channel],  # type: ignore[type-arg]
    ctx: WebContext,
    now: datetime,
) -> dict[str, DeliveryResult]:
    """Send each team's report for the latest scheduled week that nobody sent yet; results by team."""
    until = week_ending(latest_due(config, now))
    results: dict[str, DeliveryResult] = {}
    for team in config.teams:
        try:
            channel = email_channel(channels, team.channel)
        except ReportError as exc:  # a config check catches this; the other teams still get theirs
            log.error("weekly report for %s: %s", team.team, exc)
            continue
        recipients = ", ".join(channel.options.recipients)
        # The claim commits before anything is sent: a second process sees it and skips.
        with sessions.begin() as session:
            if not claim_report(
                session, team=team.team, since=until - WEEK, until=until, recipients=recipients, now=now
            ):
                continue
        try:
            message = make_message(
                sessions, ctx=ctx, team=team, channel=channel, until=until, timezone=config.timezone
            )
            result = deliver(channel, message)
        except Exception as exc:  # one team's broken report must not stop the others
            log.exception("weekly report for %s failed", team.team)
            result = DeliveryResult.failed(f"{type(exc).__name__}: {exc}")
        with sessions.begin() as session:
            finish_report(session, team=team.team, until=until, sent=result.ok, detail=result.reason, now=now)
        results[team.team] = result
        log.info("weekly report for %s: %s %s", team.team, result.outcome, result.reason)
    return results


def weekly_report_job(
    *,
    sessions: sessionmaker[Session],
    config: ReportsConfig,
    channels: Mapping[str, Channel],  # type: ignore[type-arg]
    brands: Sequence[str],
    competitors: Mapping[str, Sequence[str]],
    clock: Callable[[], datetime],
) -> Job:
    """The periodic job that sends each team's weekly report once, at the configured weekday and hour."""
    ctx = WebContext(
        session_factory=sessions,
        brands=tuple(brands),
        competitors={b: tuple(c) for b, c in competitors.items()},
        clock=clock,
    )

    def run() -> dict[str, DeliveryResult]:
        return send_due(sessions=sessions, config=config, channels=channels, ctx=ctx, now=clock())

    return Job("weekly reports", REPORT_CHECK_SECONDS, run)
