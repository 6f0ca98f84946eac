"""GET /api/mentions and /api/mentions/{id}."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from domain import Sentiment, Urgency
from storage.mentions import get_mention
from web.context import Context
from web.inputs import MentionId, Name, Offset, UtcDatetime
from web.schemas import MentionDetailOut, MentionPage, mention_detail_out, mention_out
from web.search import MAX_QUERY, MentionFilters, search

router = APIRouter(prefix="/api/mentions", tags=["mentions"])


@router.get("", response_model=MentionPage)
def list_mentions(
    ctx: Context,
    brand: Name = None,
    source: Name = None,
    sentiment: Sentiment | None = None,
    urgency: Urgency | None = None,
    category: Name = None,
    since: UtcDatetime | None = None,
    until: UtcDatetime | None = None,
    q: Annotated[str | None, Query(max_length=MAX_QUERY, description="substring of the text")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Offset = 0,
) -> MentionPage:
    """Mentions matching every given filter, newest first, one page at a time."""
    filters = MentionFilters(
        brand=brand,
        source=source,
        sentiment=str(sentiment) if sentiment else None,
        urgency=str(urgency) if urgency else None,
        category=category,
        since=since,
        until=until,
        q=q,
    )
    with ctx.session_factory() as session:
        rows, total = search(session, filters, limit=limit, offset=offset)
        items = [mention_out(row) for row in rows]
    return MentionPage(items=items, total=total, limit=limit, offset=offset)


@router.get(
    "/{mention_id}", response_model=MentionDetailOut, responses={404: {"description": "no such mention"}}
)
def mention_detail(ctx: Context, mention_id: MentionId) -> MentionDetailOut:
    """One mention with its classification and raw payload."""
    with ctx.session_factory() as session:
        row = get_mention(session, mention_id)
        if row is None:
            raise HTTPException(404, f"mention #{mention_id} does not exist")
        return mention_detail_out(row)
