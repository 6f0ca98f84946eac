"""The mention inbox: filters, pagination, badges, links to the originals."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from storage.mentions import get_mention
from web.context import Context
from web.inputs import MentionId, Offset
from web.pages.analytics import saved_for
from web.pages.common import not_found, render
from web.schemas import mention_detail_out, mention_out
from web.search import FilterError, MentionFilters, from_form, search

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 25


@router.get("/mentions", response_class=HTMLResponse)
def inbox(request: Request, ctx: Context, offset: Offset = 0) -> Response:
    """Mentions matching the filter form, newest first, 25 per page."""
    form = {k: v for k, v in request.query_params.items() if k != "offset"}
    error = ""
    try:
        filters = from_form(form)
    except FilterError as exc:
        error, filters = str(exc), MentionFilters()
    with ctx.session_factory() as session:
        rows, total = search(session, filters, limit=PAGE_SIZE, offset=offset)
        mentions = [mention_out(row) for row in rows]
        saved = saved_for(request, session)
    context = {
        "active": "mentions",
        "mentions": mentions,
        "total": total,
        "offset": offset,
        "page_size": PAGE_SIZE,
        "filters": filters,
        "params": filters.as_params(),
        "form": form,
        "error": error,
        "brands": ctx.tracked(),
        "saved": saved,
    }
    return render(request, ctx, "mentions.html", context, status_code=422 if error else 200)


@router.get("/mentions/{mention_id}", response_class=HTMLResponse)
def mention_page(request: Request, ctx: Context, mention_id: MentionId) -> Response:
    """One mention with its classification, signals and raw payload."""
    with ctx.session_factory() as session:
        row = get_mention(session, mention_id)
        if row is None:
            return not_found(request, ctx, f"Mention #{mention_id} does not exist.")
        mention = mention_detail_out(row)
    return render(request, ctx, "mention.html", {"active": "mentions", "mention": mention})
