"""The weekly report's content: the Report itself, its charts (PNG), text and HTML parts, and CSV.

Drawing and formatting only; building a report from the figures and sending it live in
``alerting.reports``. Every string that may come from a stranger is escaped for its part.
"""

from __future__ import annotations

import html
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from alerting.channels.render import escape_html, escape_plain, fit
from storage.report_queries import EngagedMention
from web.analytics import AnalyticsOut, BrandSummary, stamp
from web.search import csv_lines

SECOND = timedelta(seconds=1)
CHARTS = ("volume", "net-sentiment", "share-of-voice")
QUOTE_CHARS = 280


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
