"""Weekly reports per team by email: charts as PNG images, key numbers against the week before, CSV attached.

The figures come from the dashboard's own assembly (``web.analytics.dashboard``) over the seven days
before the scheduled time, so a report and the overview page for that range show the same numbers.
Charts are drawn server-side by matplotlib's Agg canvas. The message is multipart: a text/plain
part, an HTML part with the charts inline (Content-ID), and the figures as CSV attachments. Every
string that may come from a stranger (mention text, author names, terms) is escaped for its part.
Each team's week is claimed in ``report_sends`` before sending, so it goes out once per week.
"""

from __future__ import annotations

import html
import io
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from alerting.channels.base import Channel
from alerting.channels.email import EmailChannel, _classify, _quietly_quit
from alerting.channels.render import escape_html, escape_plain, fit
from alerting.jobs import Job
from alerting.reports_config import ReportsConfig, ReportTeam
from alerting.windows import Weekday
from domain import DeliveryResult
from storage.report_queries import EngagedMention, claim_report, finish_report, most_engaged
from storage.trends import floor_bucket
from web.analytics import AnalyticsOut, BrandSummary, dashboard, resolve_view, stamp
from web.context import WebContext
from web.search import csv_lines

log = logging.getLogger(__name__)
WEEK = timedelta(days=7)
SECOND = timedelta(seconds=1)
# How often the job looks whether a report is due: the report goes out within this of its hour.
REPORT_CHECK_SECONDS = 300.0
CHARTS = ("volume", "net-sentiment", "share-of-voice")
_WEEKDAYS = list(Weekday)
_ID_CHARS = re.compile(r"[^A-Za-z0-9._-]")
QUOTE_CHARS = 280


class ReportError(ValueError):
    """A report that cannot be made: unknown team, or a channel that is not email."""


@dataclass(frozen=True)
class Report:
    """Everything one weekly report says."""

    team: str
    figures: AnalyticsOut
    engaged: list[EngagedMention]
    timezone: str
    link: str | None

    @property
    def title(self) -> str:
        """'Weekly report for TEAM: 02 Nov – 09 Nov 2026' in the report's time zone."""
        zone = ZoneInfo(self.timezone)
        # The last day named is the last one in the week: ``until`` itself is not.
        since, last = self.figures.since.astimezone(zone), (self.figures.until - SECOND).astimezone(zone)
        return f"Weekly report for {self.team}: {since:%d %b} – {last:%d %b %Y}"


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


def render_charts(report: Report) -> dict[str, bytes]:
    """The report's charts as PNG images, keyed by name (see ``CHARTS``)."""
    # Imported here: matplotlib is heavy and only report sending needs it.
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    f = report.figures
    # Positions, not date strings: matplotlib would read strings as categories and log about it.
    days = list(range(len(f.buckets)))

    def draw(title: str, plot: Callable[[Any], None]) -> bytes:
        # No pyplot: its global figure registry would keep every figure alive unless closed.
        fig = Figure(figsize=(7, 2.8), dpi=100, layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.subplots()
        ax.set_title(title, loc="left", fontsize=11)
        plot(ax)
        ax.set_xticks(days, [b.strftime("%a %d") for b in f.buckets], fontsize=8)
        ax.grid(alpha=0.3)
        if f.brands:
            # Beside the plot, so no line hides behind it.
            ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
        out = io.BytesIO()
        fig.savefig(out, format="png")
        return out.getvalue()

    def volume(ax: Any) -> None:
        for b in f.brands:
            ax.plot(days, f.volume.get(b, []), marker="o", label=b)
        ax.set_ylim(bottom=0)

    def net(ax: Any) -> None:
        for b in f.brands:
            ax.plot(
                days, [v if v is not None else float("nan") for v in f.net_sentiment[b]], marker="o", label=b
            )
        ax.set_ylim(-105, 105)
        ax.axhline(0, color="#888", linewidth=0.8)

    def share(ax: Any) -> None:
        rows = [[v or 0.0 for v in f.share_of_voice.get(b, [])] for b in f.brands]
        if rows:
            ax.stackplot(days, rows, labels=f.brands, alpha=0.85)
        ax.set_ylim(0, 100)

    # Brand names are text, never TeX: a "$" in a name must not start mathtext. (rc_context is
    # process-wide; reports are drawn by one job at a time.)
    with matplotlib.rc_context({"text.parse_math": False, "axes.unicode_minus": False}):
        return {
            "volume": draw("Mentions per day", volume),
            "net-sentiment": draw("Net sentiment per day (positive − negative, points)", net),
            "share-of-voice": draw("Share of voice per day (%)", share),
        }


SUMMARY_HEADER = list(BrandSummary.model_fields)
DAILY_HEADER = ["day", "brand", "mentions", "net_sentiment", "share_percent"]


def csv_files(report: Report) -> dict[str, str]:
    """The report's figures as CSV text: the key numbers per brand and the daily series."""
    f = report.figures
    summary = [[getattr(row, c) for c in SUMMARY_HEADER] for row in f.summary]
    daily = [
        [stamp(day), b, f.volume[b][i], f.net_sentiment[b][i], f.share_of_voice[b][i]]
        for b in f.brands
        for i, day in enumerate(f.buckets)
    ]
    return {
        "summary.csv": "".join(csv_lines(SUMMARY_HEADER, summary)),
        "daily.csv": "".join(csv_lines(DAILY_HEADER, daily)),
    }


def _signed(value: float | None, unit: str = "") -> str:
    return "–" if value is None else f"{value:+g}{unit}"


def _change(value: float | None) -> str:
    # None means something came from nothing: there is no percentage to give.
    return "new" if value is None else f"{value:+g}%"


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:g}"


def summary_lines(report: Report) -> list[str]:
    """The key numbers as one line per brand, plain text (escape for the target format)."""
    return [
        f"{r.brand}: {r.mentions} mentions ({_change(r.mentions_change)} on the week before), "
        f"net sentiment {_number(r.net_sentiment)} ({_signed(r.net_sentiment_change, ' pts')}), "
        f"share of voice {r.share:g}% ({_signed(r.share_change, ' pts')})"
        for r in report.figures.summary
    ]


def render_text(report: Report) -> str:
    """The text/plain part."""
    f = report.figures
    lines = [report.title, "", *summary_lines(report)]
    if f.terms:
        lines += ["", "Emerging terms: " + ", ".join(t.term for t in f.terms[:10])]
    if f.categories:
        lines += [
            "",
            "Categories: "
            + ", ".join(f"{c.category} {c.mentions} ({_change(c.change)})" for c in f.categories),
        ]
    if f.authors:
        lines += ["", "Top authors by reach:"]
        lines += [
            f"  {a.handle} ({_number(a.followers)} followers, {a.mentions} mention{'s' * (a.mentions != 1)})"
            for a in f.authors[:5]
        ]
    if report.engaged:
        lines += ["", "Most engaged mentions:"]
        lines += [
            f"  {m.author or '?'} ({m.engagement}): {fit(m.text, QUOTE_CHARS, lambda s: s)}"
            for m in report.engaged
        ]
    if report.link:
        lines += ["", f"Dashboard: {report.link}"]
    lines += ["", "The figures are attached as CSV (summary.csv, daily.csv)."]
    return escape_plain("\n".join(lines)) + "\n"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    # Every cell arrives already escaped.
    head = "".join(f'<th align="left" style="padding:2px 10px 2px 0">{h}</th>' for h in header)
    body = "".join(
        "<tr>" + "".join(f'<td style="padding:2px 10px 2px 0">{c}</td>' for c in row) + "</tr>\n"
        for row in rows
    )
    return f'<table style="border-collapse:collapse;font-size:13px">\n<tr>{head}</tr>\n{body}</table>\n'


def render_html(report: Report, cids: Mapping[str, str]) -> str:
    """The text/html part; ``cids`` maps a chart name to its Content-ID (without angle brackets)."""
    esc, f = escape_html, report.figures
    key_rows = [
        [
            esc(r.brand) + (" (own)" if r.own else ""),
            f"{r.mentions} <small>{_change(r.mentions_change)}</small>",
            f"{_number(r.net_sentiment)} <small>{_signed(r.net_sentiment_change, ' pts')}</small>",
            f"{r.share:g}% <small>{_signed(r.share_change, ' pts')}</small>",
        ]
        for r in f.summary
    ]
    parts = [
        '<!DOCTYPE html>\n<html><body style="font-family:sans-serif;font-size:14px;max-width:720px">\n',
        f"<h2>{esc(report.title)}</h2>\n",
        "<p>Against the week before.</p>\n",
        _table(["Brand", "Mentions", "Net sentiment", "Share of voice"], key_rows),
    ]
    parts += [
        f'<p><img src="cid:{cids[name]}" alt="{esc(name)} chart" width="700"></p>\n'
        for name in CHARTS
        if name in cids
    ]
    if f.terms:
        parts.append(f"<h3>Emerging terms</h3>\n<p>{esc(', '.join(t.term for t in f.terms[:10]))}</p>\n")
    if f.categories:
        rows = [[esc(c.category), str(c.mentions), _change(c.change)] for c in f.categories]
        parts += ["<h3>Categories</h3>\n", _table(["Category", "Mentions", "Change"], rows)]
    if f.authors:
        rows = [
            [esc(a.handle), esc(a.display_name), _number(a.followers), str(a.mentions)] for a in f.authors[:5]
        ]
        parts += [
            "<h3>Top authors by reach</h3>\n",
            _table(["Author", "Name", "Followers", "Mentions"], rows),
        ]
    if report.engaged:
        rows = [
            [esc(m.author or "?"), str(m.engagement), fit(m.text, QUOTE_CHARS, esc)] for m in report.engaged
        ]
        parts += ["<h3>Most engaged mentions</h3>\n", _table(["Author", "Engagement", "Mention"], rows)]
    if report.link:
        # A URL is escaped as an attribute only: the text escaper would alter an @ in it.
        parts.append(
            f'<p><a href="{html.escape(report.link, quote=True)}">Open this view in Earshot</a></p>\n'
        )
    parts.append(
        '<p style="color:#888;font-size:12px">The figures are attached as CSV.</p>\n</body></html>\n'
    )
    return "".join(parts)


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
