"""GET /api/sources: collector health."""

from __future__ import annotations

from fastapi import APIRouter

from collectors.redact import redact
from storage.models import SourceHealthRow
from storage.sources import failing_parts, list_health
from web.context import Context
from web.schemas import SourceOut, source_out

router = APIRouter(prefix="/api/sources", tags=["sources"])


class SourceHealthOut(SourceOut):
    """A source's run statistics, with the parts (feeds, searches...) that failed in its last run."""

    failing_parts: list[str]


def source_health_out(row: SourceHealthRow) -> SourceHealthOut:
    """The API view of a source: URLs redacted, and 'degraded' while some of its parts fail."""
    base = source_out(row)
    parts = [redact(part) for part in failing_parts(row)]
    status = base.status
    if parts and status in {"ok", "quiet", "failing"}:
        # The run stored what its other parts found; it is neither ok nor wholly failing.
        status = "degraded"
    return SourceHealthOut(
        **base.model_dump(exclude={"status", "last_error"}),
        status=status,
        last_error=redact(row.last_error) if row.last_error is not None else None,
        failing_parts=parts,
    )


@router.get("", response_model=list[SourceHealthOut])
def sources(ctx: Context) -> list[SourceHealthOut]:
    """Run statistics of every source that has run, by name."""
    with ctx.session_factory() as session:
        return [source_health_out(row) for row in list_health(session)]
