"""GET /api/mentions (a page, or every match as streamed CSV) and /api/mentions/{id}."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from starlette.responses import Response

from domain import Urgency
from storage.analytics import EXPORT_COLUMNS
from storage.mentions import get_mention
from web.context import Context, WebContext
from web.inputs import MentionId, Name, Offset, UtcDatetime
from web.schemas import MentionDetailOut, MentionPage, mention_detail_out, mention_out
from web.search import MAX_QUERY, FilterError, MentionFilters, csv_response, export, search

router = APIRouter(prefix="/api/mentions", tags=["mentions"])


SEARCH_HELP = (
    'query language: words, "phrases", OR, -word, lang:xx, from:handle '
    "(words match as case-insensitive substrings of the title or text)"
)


def filters(
    brand: Name = None,
    source: Name = None,
    sentiment: Literal["negative", "neutral", "positive", "unclassified"] | None = None,
    urgency: Urgency | None = None,
    category: Name = None,
    since: UtcDatetime | None = None,
    until: UtcDatetime | None = None,
    q: Annotated[str | None, Query(max_length=MAX_QUERY, description=SEARCH_HELP)] = None,
) -> MentionFilters:
    """The mention filters of a request; 422 for a search that does not parse."""
    found = MentionFilters(
        brand=brand,
        source=source,
        sentiment=str(sentiment) if sentiment else None,
        urgency=str(urgency) if urgency else None,
        category=category,
        since=since,
        until=until,
        q=q,
    )
    try:
        found.text_query()
    except FilterError as exc:
        raise HTTPException(422, str(exc)) from None
    return found


Filters = Annotated[MentionFilters, Depends(filters)]


@router.get("", response_model=MentionPage)
def list_mentions(
    ctx: Context,
    found: Filters,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Offset = 0,
) -> Response:
    """Mentions matching every given filter, newest first, one page at a time."""
    with ctx.session_factory() as session:
        rows, total = search(session, found, limit=limit, offset=offset)
        items = [mention_out(row) for row in rows]
    page = MentionPage(items=items, total=total, limit=limit, offset=offset)
    # Serialised by pydantic-core in one step: FastAPI would validate the page again and encode
    # it in Python, a third of this endpoint's time.
    return Response(page.model_dump_json(), media_type="application/json")


def export_rows(ctx: WebContext, found: MentionFilters) -> Iterator[tuple[Any, ...]]:
    """Every mention matching ``found``, read through one session that lives as long as the download."""
    with ctx.session_factory() as session:
        yield from export(session, found)


@router.get("/export.csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def export_mentions(ctx: Context, found: Filters) -> Response:
    """Every mention matching the filters as CSV, newest first, streamed (no page size)."""
    return csv_response("earshot-mentions", EXPORT_COLUMNS, export_rows(ctx, found))


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
