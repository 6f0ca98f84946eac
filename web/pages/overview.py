"""The overview page: volume, sentiment and share of voice charts, open alerts, urgent mentions."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session
from starlette.responses import Response

from storage import trends
from storage.mentions import list_mentions
from web.api.trends import SentimentOut, ShareOfVoiceOut, VolumeOut, Window, share_of_voice_of, volume_of
from web.context import Context, WebContext
from web.pages.common import is_htmx, render
from web.schemas import MentionOut, mention_out
from web.templating import neutralise

router = APIRouter(include_in_schema=False)

WINDOW = timedelta(hours=48)
URGENT_LEVELS = ("critical", "high")
URGENT_LIMIT = 10


def latest_urgent(session: Session, *, since: datetime, limit: int = URGENT_LIMIT) -> list[MentionOut]:
    """The newest high and critical mentions since ``since``, newest first."""
    rows = [
        row
        for level in URGENT_LEVELS
        for row in list_mentions(session, urgency=level, since=since, limit=limit)
    ]
    rows.sort(key=lambda row: (row.published_at, row.id), reverse=True)
    return [mention_out(row) for row in rows[:limit]]


def _labels(buckets: list[datetime]) -> list[str]:
    return [b.strftime("%a %H:00") for b in buckets]


def chart_data(volume: VolumeOut, sentiment: SentimentOut, share: ShareOfVoiceOut) -> dict[str, Any]:
    """What app.js needs to draw the three charts; embedded as JSON, never as script."""
    sentiment_totals = {
        label: [
            sum(values) for values in zip(*(per[label] for per in sentiment.series.values()), strict=True)
        ]
        if sentiment.series
        else [0] * len(sentiment.buckets)
        for label in trends.SENTIMENTS
    }
    return {
        "volume": {
            "labels": _labels(volume.buckets),
            # |tojson writes non-ASCII as \u escapes, out of the template filter's reach: clean here.
            "series": [{"label": neutralise(b), "data": counts} for b, counts in volume.series.items()],
        },
        "sentiment": {
            "labels": _labels(sentiment.buckets),
            "series": [{"label": label, "data": counts} for label, counts in sentiment_totals.items()],
        },
        "share": {
            "labels": [neutralise(item.brand) for item in share.items],
            "data": [item.mentions for item in share.items],
        },
    }


def overview_context(ctx: WebContext, session: Session) -> dict[str, Any]:
    """Everything the overview shows, for the last 48 hours."""
    now = ctx.now()
    span = Window(since=now - WINDOW, until=now)
    volume = volume_of(ctx, session, span, "hour")
    # Sentiment is about us: own brands only, unless none are configured.
    own = list(ctx.brands) or list(volume.series)
    sentiment_series = trends.sentiment(
        session, since=span.since, until=span.until, bucket="hour", brands=own
    )
    sentiment = SentimentOut(
        **span.model_dump(), bucket="hour", buckets=volume.buckets, series=sentiment_series
    )
    share = share_of_voice_of(ctx, session, span)
    return {
        "span": span,
        "brands": list(volume.series),
        "own_brands": own,
        "charts": chart_data(volume, sentiment, share),
        "share": share.items,
        "open_alerts": trends.open_alerts_by_urgency(session),
        "urgent": latest_urgent(session, since=span.since),
        "top_categories": trends.top_categories(session, since=span.since, until=span.until, limit=8),
        "top_authors": trends.top_authors(session, since=span.since, until=span.until, limit=8),
    }


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, ctx: Context) -> Response:
    """The overview page; htmx's 30-second refresh gets only its body."""
    with ctx.session_factory() as session:
        context = overview_context(ctx, session)
    name = "_overview.html" if is_htmx(request) else "overview.html"
    return render(request, ctx, name, {**context, "active": "overview"})
