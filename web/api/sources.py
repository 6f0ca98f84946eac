"""GET /api/sources: collector health."""

from __future__ import annotations

from fastapi import APIRouter

from storage.sources import list_health
from web.context import Context
from web.schemas import SourceOut, source_out

router = APIRouter(prefix="/api/sources", tags=["sources"])


@router.get("", response_model=list[SourceOut])
def sources(ctx: Context) -> list[SourceOut]:
    """Run statistics of every source that has run, by name."""
    with ctx.session_factory() as session:
        return [source_out(row) for row in list_health(session)]
