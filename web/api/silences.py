"""Silences over the API: list, create, expire. Matching alerts are stored but not sent."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from alerting.matchers import MAX_PATTERN_CHARS
from alerting.silences import SilenceError, create_silence, expire_silence, list_silences
from alerting.silences import state as silence_state
from storage.alerting_tables import SilenceRow
from web.context import Context
from web.inputs import NAME_CHARS, NOTE_CHARS, SilenceId, UtcDatetime, clip

router = APIRouter(prefix="/api/silences", tags=["silences"])

# A matcher value is an operator and a pattern (at most MAX_PATTERN_CHARS) or a short list of values.
MatcherKey = Annotated[str, StringConstraints(min_length=1, max_length=32)]
MatcherText = Annotated[str, StringConstraints(max_length=MAX_PATTERN_CHARS + 8)]
ListedValue = Annotated[str, StringConstraints(max_length=NAME_CHARS)] | int | float
MatcherValue = MatcherText | bool | int | float | Annotated[list[ListedValue], Field(max_length=50)]


class SilenceIn(BaseModel):
    """A new silence: matchers in the routes' syntax, a duration or an end, who and why."""

    model_config = ConfigDict(extra="forbid")

    matchers: dict[MatcherKey, MatcherValue] = Field(
        description='e.g. {"brand": "Lumora", "text": "=~ (?i)refund"}', max_length=20
    )
    duration_minutes: float | None = Field(None, gt=0, le=60 * 24 * 365)
    ends_at: UtcDatetime | None = None
    author: str = Field(min_length=1, max_length=NAME_CHARS)
    comment: str = Field(min_length=1, max_length=NOTE_CHARS)


class ExpireIn(BaseModel):
    """Who ends the silence."""

    model_config = ConfigDict(extra="forbid")

    actor: str = Field(min_length=1, max_length=NAME_CHARS)


class SilenceOut(BaseModel):
    """A stored silence and whether it is pending, active or expired now."""

    id: int
    matchers: dict[str, Any]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    expired_by: str | None
    state: str


def _out(row: SilenceRow, now: datetime) -> SilenceOut:
    return SilenceOut(
        id=row.id,
        matchers=dict(row.matchers),
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        created_by=row.created_by,
        comment=row.comment,
        expired_by=row.expired_by,
        state=silence_state(row, now),
    )


@router.get("", response_model=list[SilenceOut])
def silences(ctx: Context, include_expired: bool = False) -> list[SilenceOut]:
    """Pending and active silences, newest first (expired ones too with include_expired)."""
    now = ctx.now()
    with ctx.session_factory() as session:
        return [_out(r, now) for r in list_silences(session, now=now, include_expired=include_expired)]


@router.post("", response_model=SilenceOut, status_code=status.HTTP_201_CREATED)
def create(ctx: Context, body: SilenceIn) -> SilenceOut:
    """Create a silence; 422 when its matchers, times, author or comment are invalid."""
    now = ctx.now()
    if (body.duration_minutes is None) == (body.ends_at is None):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "give exactly one of duration_minutes and ends_at"
        )
    ends_at = body.ends_at or now + timedelta(minutes=body.duration_minutes or 0)
    try:
        with ctx.session_factory() as session, session.begin():
            row = create_silence(
                session,
                matchers=body.matchers,
                ends_at=ends_at,
                author=body.author,
                comment=body.comment,
                now=now,
            )
            return _out(row, now)
    except SilenceError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, clip(str(exc))) from None


@router.post("/{silence_id}/expire", response_model=SilenceOut)
def expire(ctx: Context, silence_id: SilenceId, body: ExpireIn) -> SilenceOut:
    """End a silence now; 404 unknown, 409 already expired."""
    now = ctx.now()
    try:
        with ctx.session_factory() as session, session.begin():
            return _out(expire_silence(session, silence_id=silence_id, actor=body.actor, now=now), now)
    except SilenceError as exc:
        code = status.HTTP_404_NOT_FOUND if "does not exist" in str(exc) else status.HTTP_409_CONFLICT
        raise HTTPException(code, clip(str(exc))) from None
