"""The collector health page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from storage.sources import list_health
from web.context import Context
from web.pages.common import render
from web.schemas import source_out

router = APIRouter(include_in_schema=False)


@router.get("/sources", response_class=HTMLResponse)
def sources(request: Request, ctx: Context) -> Response:
    """Every source's last run, last error and totals."""
    with ctx.session_factory() as session:
        rows = [source_out(row) for row in list_health(session)]
    return render(request, ctx, "sources.html", {"active": "sources", "sources": rows})
