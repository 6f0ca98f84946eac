"""The marketers' dashboard as an API: ``GET /api/analytics`` answers everything the overview
draws; ``GET /api/analytics/{table}.csv`` streams one chart's or table's data. Both take the view
parameters of the overview page (range, since, until, brand, vs, bucket), so a shared URL shows
the same numbers.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.responses import Response

from storage import trends
from web.analytics import (
    MAX_COMPARED,
    AnalyticsOut,
    AuthorOut,
    BrandSummary,
    CategoryChange,
    RangeName,
    TermOut,
    View,
    ViewError,
    authors,
    categories,
    dashboard,
    net_of,
    resolve_view,
    series_of,
    shares_of,
    stamp,
    summary,
    terms,
)
from web.context import Context, WebContext
from web.inputs import NAME_CHARS, UtcDatetime
from web.search import csv_response

router = APIRouter(prefix="/api/analytics", tags=["analytics"])

TableName = Literal[
    "volume", "sentiment", "net-sentiment", "share-of-voice", "summary", "categories", "authors", "terms"
]


def table_rows(
    ctx: WebContext, session: Session, view: View, table: str
) -> tuple[list[str], list[list[Any]]]:
    """One chart's or table's data as a CSV header and rows (long format for time series)."""
    if table in {"summary", "categories", "authors", "terms"}:
        items: list[BaseModel]
        if table == "summary":
            items = list(summary(ctx, session, view, *series_of(session, view)))
        elif table == "categories":
            items = list(categories(session, view, limit=100))
        elif table == "authors":
            items = list(authors(session, view, limit=100))
        else:
            items = list(terms(ctx, session, view, limit=100))
        header = list(type(items[0]).model_fields) if items else _EMPTY_HEADERS[table]
        return header, [[getattr(item, f) for f in header] for item in items]
    volume, feelings = series_of(session, view)
    starts = [stamp(s) for s in trends.bucket_starts(view.since, view.until, view.bucket)]
    if table == "volume":
        return ["bucket", "brand", "mentions"], [
            [s, b, n] for b, c in volume.items() for s, n in zip(starts, c, strict=True)
        ]
    if table == "share-of-voice":
        shares = shares_of(volume)
        rows = [
            [s, b, n, shares[b][i]]
            for b, c in volume.items()
            for i, (s, n) in enumerate(zip(starts, c, strict=True))
        ]
        return ["bucket", "brand", "mentions", "share_percent"], rows
    if table == "net-sentiment":
        rows = [
            [s, b, v]
            for b in view.brands
            for s, v in zip(starts, net_of(feelings.get(b, {}))[0], strict=True)
        ]
        return ["bucket", "brand", "net_sentiment"], rows
    rows = [
        [s, b, feeling, n]
        for b in view.brands
        for feeling, counts in feelings.get(b, {}).items()
        for s, n in zip(starts, counts, strict=True)
    ]
    return ["bucket", "brand", "sentiment", "mentions"], rows


_EMPTY_HEADERS = {
    "summary": list(BrandSummary.model_fields),
    "categories": list(CategoryChange.model_fields),
    "authors": list(AuthorOut.model_fields),
    "terms": list(TermOut.model_fields),
}


RangeParam = Annotated[RangeName | None, Query(alias="range", description="24h, 7d, 30d, 90d, 12m or custom")]
Brand = Annotated[str | None, Query(max_length=NAME_CHARS, description="the brand in focus")]
Versus = Annotated[list[str], Query(description="brands compared with it; default its competitors")]
BucketParam = Annotated[trends.Bucket | None, Query(description="default: by the range's length")]


def _view(ctx: WebContext, session: Session, **kwargs: Any) -> View:
    try:
        return resolve_view(ctx, session, **kwargs)
    except ViewError as exc:
        raise HTTPException(422, str(exc)) from None


def _checked(vs: list[str]) -> list[str]:
    if len(vs) > MAX_COMPARED or any(len(b) > NAME_CHARS for b in vs):
        raise HTTPException(422, f"compare at most {MAX_COMPARED} brands of {NAME_CHARS} characters")
    return vs


@router.get("", response_model=AnalyticsOut)
def overview(
    ctx: Context,
    range_name: RangeParam = None,
    since: UtcDatetime | None = None,
    until: UtcDatetime | None = None,
    brand: Brand = None,
    vs: Versus = [],  # noqa: B006  (FastAPI copies defaults per request)
    bucket: BucketParam = None,
) -> Response:
    """Volume, net sentiment and share of voice per brand over time, with the previous period."""
    with ctx.session_factory() as session:
        view = _view(
            ctx,
            session,
            range_name=range_name,
            since=since,
            until=until,
            brand=brand,
            vs=_checked(vs),
            bucket=bucket,
        )
        data = dashboard(ctx, session, view)
    # Serialised by pydantic-core in one step: FastAPI would validate the model again and encode
    # its thousands of points in Python (an hourly 30-day view has ~15,000 numbers).
    return Response(data.model_dump_json(), media_type="application/json")


@router.get("/{table}.csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def export_table(
    ctx: Context,
    table: TableName,
    range_name: RangeParam = None,
    since: UtcDatetime | None = None,
    until: UtcDatetime | None = None,
    brand: Brand = None,
    vs: Versus = [],  # noqa: B006
    bucket: BucketParam = None,
) -> Response:
    """One chart's or table's data as CSV (volume, sentiment, net-sentiment, share-of-voice, ...)."""
    with ctx.session_factory() as session:
        view = _view(
            ctx,
            session,
            range_name=range_name,
            since=since,
            until=until,
            brand=brand,
            vs=_checked(vs),
            bucket=bucket,
        )
        header, rows = table_rows(ctx, session, view, table)
    stem = f"earshot-{table}-{view.since:%Y%m%d}-{view.until:%Y%m%d}"
    return csv_response(stem, header, iter(rows))
