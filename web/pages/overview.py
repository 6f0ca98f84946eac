"""The overview: a marketer's view of any range, a brand against its competitors, open alerts.

The range, brand and compared brands live in the query string, so a view can be bookmarked or
shared; every chart point links to the mentions it counts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session
from starlette.responses import Response

from storage import trends
from storage.mentions import list_mentions
from web.analytics import RANGE_LABELS, RANGES, AnalyticsOut, View, ViewError, dashboard, resolve_view, stamp
from web.context import Context, WebContext
from web.pages.analytics import saved_for
from web.pages.common import is_htmx, render
from web.schemas import MentionOut, mention_out
from web.search import FilterError, parse_time
from web.templating import neutralise

router = APIRouter(include_in_schema=False)

URGENT_LEVELS = ("critical", "high")
URGENT_LIMIT = 10
LABEL_FORMATS = {"hour": "%a %H:00", "day": "%b %d", "week": "%b %d"}


def latest_urgent(
    session: Session, *, since: datetime, until: datetime | None = None, limit: int = URGENT_LIMIT
) -> list[MentionOut]:
    """The newest high and critical mentions in the window, newest first."""
    rows = [
        row
        for level in URGENT_LEVELS
        for row in list_mentions(session, urgency=level, since=since, until=until, limit=limit)
    ]
    rows.sort(key=lambda row: (row.published_at, row.id), reverse=True)
    return [mention_out(row) for row in rows[:limit]]


def bucket_bounds(data: AnalyticsOut) -> list[tuple[str, str]]:
    """Each bucket's [since, until) clipped to the window: exactly the mentions its points count."""
    size = trends.BUCKET_SIZES[data.bucket]
    return [(stamp(max(start, data.since)), stamp(min(start + size, data.until))) for start in data.buckets]


def chart_data(data: AnalyticsOut) -> dict[str, Any]:
    """What app.js needs to draw the charts and link their points; embedded as JSON, never as script."""
    fmt = LABEL_FORMATS.get(data.bucket, "%b %d")

    def series(values: dict[str, list[Any]], key: str = "brand") -> list[dict[str, Any]]:
        # |tojson writes non-ASCII as \\u escapes, out of the template filter's reach: clean labels here.
        return [{"label": neutralise(name), key: name, "data": points} for name, points in values.items()]

    feelings = [
        {"label": s, "brand": data.brand, "sentiment": s, "data": counts}
        for s, counts in data.sentiment.items()
    ]
    return {
        "labels": [b.strftime(fmt) for b in data.buckets],
        "bounds": bucket_bounds(data),
        "volume": series(data.volume),
        "net": series({b: data.net_sentiment[b] for b in data.brands}),
        "share": series(data.share_of_voice),
        "sentiment": feelings,
    }


def _view_from(ctx: WebContext, session: Session, request: Request) -> tuple[View, str]:
    params = request.query_params
    try:
        name = params.get("range") or None
        if name is not None and name not in {*RANGES, "custom"}:
            raise FilterError("range must be one of 24h, 7d, 30d, 90d, 12m, custom")
        bucket = params.get("bucket") or None
        if bucket is not None and bucket not in trends.BUCKET_SIZES:
            raise FilterError(f"bucket must be one of {', '.join(trends.BUCKET_SIZES)}")
        since, until = parse_time(params.get("since"), "since"), parse_time(params.get("until"), "until")
        view = resolve_view(
            ctx,
            session,
            range_name=name,
            since=since,
            until=until,
            brand=(params.get("brand") or "").strip()[:128] or None,
            vs=[v[:128] for v in params.getlist("vs")],
            bucket=cast(trends.Bucket | None, bucket),
        )
        return view, ""
    except (FilterError, ViewError) as exc:
        return resolve_view(ctx, session, range_name=None, since=None, until=None, brand=None), str(exc)


def overview_context(ctx: WebContext, session: Session, request: Request) -> dict[str, Any]:
    """Everything the overview shows for the view in the request's query string."""
    view, error = _view_from(ctx, session, request)
    data = dashboard(ctx, session, view)
    view_query = view.query()
    return {
        "view": view,
        "data": data,
        "error": error,
        "ranges": RANGE_LABELS,
        "view_query": view_query,
        "window": {"since": stamp(view.since), "until": stamp(view.until)},
        "charts": chart_data(data),
        "open_alerts": trends.open_alerts_by_urgency(session),
        "urgent": latest_urgent(session, since=view.since, until=view.until),
        "saved": saved_for(request, session),
    }


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, ctx: Context) -> Response:
    """The overview page; htmx's refresh gets only its body."""
    with ctx.session_factory() as session:
        context = overview_context(ctx, session, request)
    name = "_overview.html" if is_htmx(request) else "overview.html"
    status = 422 if context["error"] else 200
    return render(request, ctx, name, {**context, "active": "overview"}, status_code=status)
