"""Silences over the API: list, create, expire. Matching alerts are stored but not sent."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field

from alerting.silences import SilenceError, create_silence, expire_silence, list_silences
from alerting.silences import state as silence_state
from storage.alerting_tables import SilenceRow
from web.context import Context

router = APIRouter(prefix="/api/silences", tags=["silences"])


class SilenceIn(BaseModel):
    """A new silence: matchers in the routes' syntax, a duration or an end, who and why."""

    model_config = ConfigDict(extra="forbid")

    matchers: dict[str, Any] = Field(description='e.g. {"brand": "Lumora", "text": "=~ (?i)refund"}')
    duration_minutes: float | None = Field(None, gt=0, le=60 * 24 * 365)
    ends_at: datetime | None = None
    author: str = Field(min_length=1, max_length=128)
    comment: str = Field(min_length=1)


class ExpireIn(BaseModel):
    """Who ends the silence."""

    model_config = ConfigDict(extra="forbid")

    actor: str = Field(min_length=1, max_length=128)


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
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None


@router.post("/{silence_id}/expire", response_model=SilenceOut)
def expire(ctx: Context, silence_id: int, body: ExpireIn) -> SilenceOut:
    """End a silence now; 404 unknown, 409 already expired."""
    now = ctx.now()
    try:
        with ctx.session_factory() as session, session.begin():
            return _out(expire_silence(session, silence_id=silence_id, actor=body.actor, now=now), now)
    except SilenceError as exc:
        code = status.HTTP_404_NOT_FOUND if "does not exist" in str(exc) else status.HTTP_409_CONFLICT
        raise HTTPException(code, str(exc)) from None
