"""The marketers' dashboard: which view a request asks for, and every figure of it.

A view is a window (a preset range or custom since/until), its bucket, a brand in focus and the
brands compared with it. For a view this computes volume, net sentiment and share of voice per
brand over time, each brand's figures against the previous period, categories, authors by reach
and emerging terms. The overview page and ``/api/analytics`` both call it, so a shared URL shows
the same numbers in either.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Literal, cast
from urllib.parse import urlencode

from pydantic import BaseModel
from sqlalchemy.orm import Session

from storage import analytics, trends
from storage.analytics_terms import emerging_terms
from storage.trend_tally import tally
from web.api.trends import MAX_BUCKETS
from web.context import WebContext

RangeName = Literal["24h", "7d", "30d", "90d", "12m", "custom"]
RANGES: dict[str, timedelta] = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
    "12m": timedelta(days=365),
}
RANGE_LABELS = {"24h": "24 hours", "7d": "7 days", "30d": "30 days", "90d": "90 days", "12m": "12 months"}
DEFAULT_RANGE = "7d"
MAX_COMPARED = 10
# Emerging terms read at most this many of the newest mentions on each side: a sample of a busy
# window that keeps the overview fast, and plenty for words that changed.
TERM_SAMPLE = 3000
# The baseline of emerging terms: the periods just before the window, this many of them.
BASELINE_PERIODS = 3


class ViewError(ValueError):
    """A view that cannot be shown: an empty window, too many buckets or brands."""


class View(BaseModel):
    """What the dashboard shows: a window, its bucket, a brand and the brands compared with it."""

    range: RangeName
    since: datetime
    until: datetime
    bucket: trends.Bucket
    brand: str | None
    brands: list[str]
    available: list[str]

    @property
    def previous(self) -> tuple[datetime, datetime]:
        """The period of the same length just before the window."""
        return self.since - (self.until - self.since), self.since

    def params(self) -> list[tuple[str, str]]:
        """The view as query parameters, so a link or a CSV reproduces it."""
        params: list[tuple[str, str]] = [("range", self.range)]
        if self.range == "custom":
            params += [("since", stamp(self.since)), ("until", stamp(self.until))]
        if self.brand:
            params.append(("brand", self.brand))
        return params + [("vs", b) for b in self.brands if b != self.brand]

    def query(self) -> str:
        """``params`` as a URL query string."""
        return urlencode(self.params())


class BrandSummary(BaseModel):
    """One brand's figures in the window and in the previous period; changes are None from zero."""

    brand: str
    own: bool
    mentions: int
    previous_mentions: int
    mentions_change: float | None
    net_sentiment: float | None
    previous_net_sentiment: float | None
    net_sentiment_change: float | None
    share: float
    previous_share: float | None
    share_change: float | None


class CategoryChange(BaseModel):
    """A category's mentions in the window against the previous period."""

    category: str
    mentions: int
    previous_mentions: int
    change: float | None


class TermOut(BaseModel):
    """An emerging term: its z-score and the mentions with it, in the window and the baseline."""

    term: str
    score: float
    mentions: int
    baseline_mentions: int


class AuthorOut(BaseModel):
    """An author by reach."""

    source_kind: str
    handle: str
    display_name: str
    followers: int | None
    url: str | None
    mentions: int
    engagement: int


class AnalyticsOut(View):
    """Everything the dashboard draws. Series are aligned with ``buckets``."""

    previous_since: datetime
    previous_until: datetime
    buckets: list[datetime]
    volume: dict[str, list[int]]
    net_sentiment: dict[str, list[float | None]]
    share_of_voice: dict[str, list[float | None]]
    sentiment: dict[str, list[int]]
    summary: list[BrandSummary]
    categories: list[CategoryChange]
    authors: list[AuthorOut]
    terms: list[TermOut]


def stamp(at: datetime) -> str:
    """A UTC time as YYYY-MM-DDTHH:MM:SS, as links and CSV files carry it."""
    return trends.utc(at).strftime("%Y-%m-%dT%H:%M:%S")


def change(current: float, previous: float) -> float | None:
    """Percent change from ``previous`` to ``current``; None when something came from nothing."""
    if not previous:
        return 0.0 if not current else None
    return round((current - previous) / previous * 100, 1)


def auto_bucket(span: timedelta) -> trends.Bucket:
    """Hours up to a week, days up to about four months, weeks beyond."""
    if span <= timedelta(days=7):
        return "hour"
    return "day" if span <= timedelta(days=120) else "week"


def resolve_view(
    ctx: WebContext,
    session: Session,
    *,
    range_name: str | None,
    since: datetime | None,
    until: datetime | None,
    brand: str | None,
    vs: Iterable[str] = (),
    bucket: trends.Bucket | None = None,
) -> View:
    """The view a request asks for, defaults filled in; raises ViewError for one that cannot be shown."""
    name = range_name or ("custom" if since else DEFAULT_RANGE)
    # Whole seconds: drill-down links carry the bounds as text and must select the same rows.
    now = ctx.now().replace(microsecond=0)
    if name == "custom":
        end = trends.utc(until) if until else now
        start = trends.utc(since) if since else end - RANGES[DEFAULT_RANGE]
    else:
        end, start = now, now - RANGES[name]
    if start >= end:
        raise ViewError("since must be before until")
    chosen = bucket or auto_bucket(end - start)
    if (end - start) / trends.BUCKET_SIZES[chosen] > MAX_BUCKETS:
        raise ViewError(f"at most {MAX_BUCKETS} {chosen} buckets; use a shorter range or longer buckets")
    available = ctx.brands_in(session, since=start, until=end)
    focus = brand or (ctx.brands[0] if ctx.brands else (available[0] if available else None))
    picked = [b for b in dict.fromkeys(vs) if b and b != focus]
    if not picked and focus:
        picked = (
            [b for b in ctx.group(focus) if b != focus]
            if ctx.brands
            else [b for b in available if b != focus]
        )
    compared = ([focus] if focus else []) + picked
    if len(compared) > MAX_COMPARED:
        raise ViewError(f"compare at most {MAX_COMPARED} brands")
    return View(
        range=cast(RangeName, name),
        since=start,
        until=end,
        bucket=chosen,
        brand=focus,
        brands=compared,
        available=list(dict.fromkeys([*available, *compared])),
    )


def net(positive: int, neutral: int, negative: int) -> float | None:
    """Net sentiment in points, -100..100: (positive - negative) over classified mentions."""
    classified = positive + neutral + negative
    return round((positive - negative) / classified * 100, 1) if classified else None


def net_of(per_sentiment: dict[str, list[int]]) -> tuple[list[float | None], float | None]:
    """Net sentiment per bucket and over the whole window, from counts per sentiment."""
    pos, neu, neg = (per_sentiment.get(s, []) for s in ("positive", "neutral", "negative"))
    series = [net(p, u, n) for p, u, n in zip(pos, neu, neg, strict=True)]
    return series, net(sum(pos), sum(neu), sum(neg))


def shares_of(volume: dict[str, list[int]]) -> dict[str, list[float | None]]:
    """Each brand's percentage of the compared brands' mentions, per bucket (None when nobody spoke)."""
    totals = [sum(column) for column in zip(*volume.values(), strict=True)] if volume else []
    return {
        b: [round(n / t * 100, 2) if t else None for n, t in zip(counts, totals, strict=True)]
        for b, counts in volume.items()
    }


def summary(
    ctx: WebContext, session: Session, view: View, volume: dict[str, list[int]], feelings: dict[str, Any]
) -> list[BrandSummary]:
    """Each compared brand's mentions, net sentiment and share of voice, against the previous period."""
    before_since, before_until = view.previous
    # One query for the previous period, without buckets (only its totals are shown): its
    # mention counts are the sums over sentiments.
    before_feelings = period_sentiment(session, before_since, before_until, view.brands)
    before_counts = {b: _total(before_feelings.get(b, {})) for b in view.brands}
    before_total = sum(before_counts.values())
    total = sum(sum(v) for v in volume.values())
    rows = []
    for b in view.brands:
        mentions = sum(volume.get(b, []))
        share = mentions / total * 100 if total else 0.0
        old_mentions = before_counts[b]
        # With nobody mentioned before there was no share to compare with.
        old_share = old_mentions / before_total * 100 if before_total else None
        now_net = net_of(feelings.get(b, {}))[1]
        old_net = net_of(before_feelings.get(b, {}))[1]
        rows.append(
            BrandSummary(
                brand=b,
                own=ctx.is_own(b),
                mentions=mentions,
                previous_mentions=old_mentions,
                mentions_change=change(mentions, old_mentions),
                net_sentiment=now_net,
                previous_net_sentiment=old_net,
                net_sentiment_change=round(now_net - old_net, 1)
                if now_net is not None and old_net is not None
                else None,
                share=round(share, 2),
                previous_share=round(old_share, 2) if old_share is not None else None,
                share_change=round(share - old_share, 2) if old_share is not None else None,
            )
        )
    return rows


def period_sentiment(
    session: Session, since: datetime, until: datetime, brands: list[str]
) -> dict[str, dict[str, list[int]]]:
    """Mentions per brand per sentiment over the whole period, each as a one-bucket series."""
    per_brand: dict[str, dict[str, list[int]]] = {}
    for (brand, _, feeling), n in tally(
        session, since, until, bucket=None, brands=brands, by_sentiment=True
    ).items():
        if feeling is not None:
            per_brand.setdefault(brand, {s: [0] for s in trends.SENTIMENTS})[feeling][0] += n
    return per_brand


def categories(session: Session, view: View, limit: int = 10) -> list[CategoryChange]:
    """The brand's top categories in the window, each against the previous period."""
    now = trends.top_categories(session, since=view.since, until=view.until, brand=view.brand, limit=limit)
    before_since, before_until = view.previous
    before = dict(
        trends.top_categories(session, since=before_since, until=before_until, brand=view.brand, limit=100)
    )
    return [
        CategoryChange(
            category=c, mentions=n, previous_mentions=before.get(c, 0), change=change(n, before.get(c, 0))
        )
        for c, n in now
    ]


def authors(session: Session, view: View, limit: int = 10) -> list[AuthorOut]:
    """The brand's authors with the most reach in the window, owned accounts left out."""
    brands = [view.brand] if view.brand else None
    top = analytics.top_authors_by_reach(
        session, since=view.since, until=view.until, brands=brands, limit=limit
    )
    return [AuthorOut(**{f: getattr(a, f) for f in AuthorOut.model_fields}) for a in top]


def terms(ctx: WebContext, session: Session, view: View, limit: int = 15) -> list[TermOut]:
    """What distinguishes the brand's mentions in the window from the periods before it."""
    brands = [view.brand] if view.brand else None
    span = view.until - view.since
    window = analytics.texts_in(session, since=view.since, until=view.until, brands=brands, limit=TERM_SAMPLE)
    baseline = analytics.texts_in(
        session,
        since=view.since - BASELINE_PERIODS * span,
        until=view.since,
        brands=brands,
        limit=TERM_SAMPLE,
    )
    names = [*view.available, *ctx.tracked(), *ctx.competitors]
    found = emerging_terms(window, baseline, exclude=names, limit=limit)
    return [
        TermOut(term=t.term, score=t.score, mentions=t.mentions, baseline_mentions=t.baseline_mentions)
        for t in found
    ]


def dashboard(ctx: WebContext, session: Session, view: View) -> AnalyticsOut:
    """Every figure of the dashboard for ``view``."""
    volume, feelings = series_of(session, view)
    before_since, before_until = view.previous
    return AnalyticsOut(
        **view.model_dump(),
        previous_since=before_since,
        previous_until=before_until,
        buckets=trends.bucket_starts(view.since, view.until, view.bucket),
        volume=volume,
        net_sentiment={b: net_of(feelings.get(b, {}))[0] for b in view.brands},
        share_of_voice=shares_of(volume),
        sentiment=feelings.get(view.brand, {}) if view.brand else {},
        summary=summary(ctx, session, view, volume, feelings),
        categories=categories(session, view),
        authors=authors(session, view),
        terms=terms(ctx, session, view),
    )


def series_of(session: Session, view: View) -> tuple[dict[str, list[int]], dict[str, Any]]:
    """Volume and sentiment per compared brand per bucket of the view.

    One query: a bucket's volume is the sum of its sentiments (unclassified included), exactly
    what ``trends.volume`` would count.
    """
    feelings = trends.sentiment(
        session, since=view.since, until=view.until, bucket=view.bucket, brands=view.brands
    )
    volume = {b: _per_bucket(feelings.get(b, {}), len(view_buckets(view))) for b in view.brands}
    return volume, feelings


def view_buckets(view: View) -> list[datetime]:
    """Starts of the view's buckets."""
    return trends.bucket_starts(view.since, view.until, view.bucket)


def _per_bucket(per_sentiment: dict[str, list[int]], size: int) -> list[int]:
    return (
        [sum(column) for column in zip(*per_sentiment.values(), strict=True)] if per_sentiment else [0] * size
    )


def _total(per_sentiment: dict[str, list[int]]) -> int:
    return sum(sum(counts) for counts in per_sentiment.values())
