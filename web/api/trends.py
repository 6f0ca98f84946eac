"""Trend endpoints: volume and sentiment per bucket, share of voice, top categories and authors."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel
from sqlalchemy.orm import Session

from storage import analytics, trends
from web.context import Context, WebContext
from web.inputs import Name, UtcDatetime

router = APIRouter(prefix="/api/trends", tags=["trends"])

# About three months of hourly buckets; more would be a slow query and an unreadable chart.
MAX_BUCKETS = 2400


class Window(BaseModel):
    """The period a trend covers: [since, until)."""

    since: datetime
    until: datetime


class VolumeOut(Window):
    """Mentions per brand per bucket; ``series[brand][i]`` counts bucket ``buckets[i]``."""

    bucket: trends.Bucket
    buckets: list[datetime]
    series: dict[str, list[int]]


class SentimentOut(Window):
    """Mentions per brand per sentiment per bucket: ``series[brand][sentiment][i]``."""

    bucket: trends.Bucket
    buckets: list[datetime]
    series: dict[str, dict[str, list[int]]]


class ShareOut(BaseModel):
    """One brand's mentions and its share of all the compared brands' mentions."""

    brand: str
    own: bool
    mentions: int
    share: float


class ShareOfVoiceOut(Window):
    """Own brands against their competitors."""

    items: list[ShareOut]


class CategoryOut(BaseModel):
    """A category and how many mentions had it."""

    category: str
    mentions: int


class TopAuthorOut(BaseModel):
    """An author and how much they said."""

    source_kind: str
    handle: str
    display_name: str
    followers: int | None
    url: str | None
    mentions: int
    engagement: int


def window(
    ctx: WebContext, since: datetime | None, until: datetime | None, bucket: trends.Bucket = "hour"
) -> Window:
    """The requested window with defaults filled in; 422 when it is empty or too long."""
    end = trends.utc(until) if until else ctx.now()
    start = trends.utc(since) if since else ctx.default_since(bucket)
    if start >= end:
        raise HTTPException(422, "since must be before until")
    if (end - start) / trends.BUCKET_SIZES[bucket] > MAX_BUCKETS:
        raise HTTPException(
            422, f"at most {MAX_BUCKETS} {bucket} buckets; use a shorter window or day buckets"
        )
    return Window(since=start, until=end)


def volume_of(
    ctx: WebContext,
    session: Session,
    span: Window,
    bucket: trends.Bucket,
    brand: str | None = None,
    unit: trends.Unit = "mentions",
) -> VolumeOut:
    """Volume per brand (one brand, or every tracked brand) over ``span``."""
    brands = [brand] if brand else ctx.brands_in(session, since=span.since, until=span.until)
    series = trends.volume(
        session, since=span.since, until=span.until, bucket=bucket, brands=brands, unit=unit
    )
    starts = trends.bucket_starts(span.since, span.until, bucket)
    return VolumeOut(**span.model_dump(), bucket=bucket, buckets=starts, series=series)


def sentiment_of(
    ctx: WebContext, session: Session, span: Window, bucket: trends.Bucket, brand: str | None = None
) -> SentimentOut:
    """Sentiment per brand per bucket over ``span``."""
    brands = [brand] if brand else ctx.brands_in(session, since=span.since, until=span.until)
    series = trends.sentiment(session, since=span.since, until=span.until, bucket=bucket, brands=brands)
    starts = trends.bucket_starts(span.since, span.until, bucket)
    return SentimentOut(**span.model_dump(), bucket=bucket, buckets=starts, series=series)


def share_of_voice_of(
    ctx: WebContext,
    session: Session,
    span: Window,
    brand: str | None = None,
    unit: trends.Unit = "mentions",
) -> ShareOfVoiceOut:
    """One brand against its competitors, or every tracked brand against each other."""
    brands = ctx.group(brand) if brand else ctx.brands_in(session, since=span.since, until=span.until)
    shares = trends.share_of_voice(session, brands=brands, since=span.since, until=span.until, unit=unit)
    items = [
        ShareOut(brand=s.brand, own=ctx.is_own(s.brand), mentions=s.mentions, share=s.share) for s in shares
    ]
    return ShareOfVoiceOut(**span.model_dump(), items=items)


Since = Annotated[UtcDatetime | None, Query(description="start (inclusive); default 48 h or 30 days back")]
Until = Annotated[UtcDatetime | None, Query(description="end (exclusive); default now")]
Count = Annotated[
    trends.Unit,
    Query(description="mentions: every stored copy; stories: near-duplicates (retweets, syndication) once"),
]


@router.get("/volume", response_model=VolumeOut)
def volume(
    ctx: Context,
    brand: Name = None,
    bucket: trends.Bucket = "hour",
    since: Since = None,
    until: Until = None,
    count: Count = "mentions",
) -> VolumeOut:
    """Mentions (or distinct stories) per brand per hour or day."""
    span = window(ctx, since, until, bucket)
    with ctx.session_factory() as session:
        return volume_of(ctx, session, span, bucket, brand, count)


@router.get("/sentiment", response_model=SentimentOut)
def sentiment(
    ctx: Context,
    brand: Name = None,
    bucket: trends.Bucket = "hour",
    since: Since = None,
    until: Until = None,
) -> SentimentOut:
    """Negative, neutral, positive and unclassified mentions per brand per hour or day."""
    span = window(ctx, since, until, bucket)
    with ctx.session_factory() as session:
        return sentiment_of(ctx, session, span, bucket, brand)


@router.get("/share-of-voice", response_model=ShareOfVoiceOut)
def share_of_voice(
    ctx: Context,
    brand: Name = None,
    since: Since = None,
    until: Until = None,
    count: Count = "mentions",
) -> ShareOfVoiceOut:
    """Each brand's share of mentions (or stories): ``brand`` against its competitors, or all brands."""
    span = window(ctx, since, until)
    with ctx.session_factory() as session:
        return share_of_voice_of(ctx, session, span, brand, count)


@router.get("/categories", response_model=list[CategoryOut])
def categories(
    ctx: Context,
    brand: Name = None,
    since: Since = None,
    until: Until = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> list[CategoryOut]:
    """The most frequent categories in the window."""
    span = window(ctx, since, until)
    with ctx.session_factory() as session:
        top = trends.top_categories(session, since=span.since, until=span.until, brand=brand, limit=limit)
    return [CategoryOut(category=name, mentions=n) for name, n in top]


@router.get("/authors", response_model=list[TopAuthorOut])
def authors(
    ctx: Context,
    brand: Name = None,
    since: Since = None,
    until: Until = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    order: Annotated[Literal["mentions", "reach"], Query()] = "mentions",
) -> list[TopAuthorOut]:
    """Authors with the most mentions (``order=reach``: followers) in the window; owned posts left out."""
    span = window(ctx, since, until)
    with ctx.session_factory() as session:
        if order == "reach":
            # Walks the authors by followers instead of grouping every mention of the window.
            brands = [brand] if brand else None
            top = analytics.top_authors_by_reach(
                session, since=span.since, until=span.until, brands=brands, limit=limit
            )
        else:
            top = trends.top_authors(session, since=span.since, until=span.until, brand=brand, limit=limit)
    return [TopAuthorOut(**{f: getattr(a, f) for f in TopAuthorOut.model_fields}) for a in top]
