"""Silences over the API: list, create, expire. Matching alerts are stored but not sent.

The signed-in user is the silence's author. An administrator may silence anything; a responder
only alerts of their own teams, so their silence must match ``team`` to those teams.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from alerting.matchers import ALERT_FIELDS, MAX_PATTERN_CHARS, MatcherError, parse_matchers
from alerting.silences import SilenceError, create_silence, expire_silence, list_silences
from alerting.silences import state as silence_state
from storage.alerting_tables import SilenceRow
from web.auth import ActingUser, User
from web.context import Context
from web.inputs import NAME_CHARS, NOTE_CHARS, SilenceId, UtcDatetime, clip

router = APIRouter(prefix="/api/silences", tags=["silences"])

# A matcher value is an operator and a pattern (at most MAX_PATTERN_CHARS) or a short list of values.
MatcherKey = Annotated[str, StringConstraints(min_length=1, max_length=32)]
MatcherText = Annotated[str, StringConstraints(max_length=MAX_PATTERN_CHARS + 8)]
ListedValue = Annotated[str, StringConstraints(max_length=NAME_CHARS)] | int | float
MatcherValue = MatcherText | bool | int | float | Annotated[list[ListedValue], Field(max_length=50)]


class SilenceIn(BaseModel):
    """A new silence: matchers in the routes' syntax, a duration or an end, and why."""

    model_config = ConfigDict(extra="forbid")

    matchers: dict[MatcherKey, MatcherValue] = Field(
        description='e.g. {"brand": "Lumora", "text": "=~ (?i)refund"}', max_length=20
    )
    duration_minutes: float | None = Field(None, gt=0, le=60 * 24 * 365)
    ends_at: UtcDatetime | None = None
    comment: str = Field(min_length=1, max_length=NOTE_CHARS)


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


def silenced_teams(matchers: Mapping[str, Any]) -> frozenset[str] | None:
    """The teams a silence can match at most, or None when it is not limited to named teams."""
    try:
        parsed = parse_matchers(matchers, fields=ALERT_FIELDS)
    except MatcherError:
        return None  # create_silence refuses it with the reason
    limits = [frozenset(m.values) for m in parsed if m.field == "team" and m.op == "=" and m.values]
    # Matchers are ANDed, so each "team = ..." narrows the set further.
    return frozenset.intersection(*limits) if limits else None


def _may_silence(user: User, matchers: Mapping[str, Any]) -> None:
    if user.is_admin:
        return
    teams = silenced_teams(matchers)
    if teams is None or not all(user.can_act(team) for team in teams):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "a responder may only silence their own teams' alerts (match team)"
        )


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
def create(ctx: Context, body: SilenceIn, user: ActingUser) -> SilenceOut:
    """Create a silence; 422 when its matchers, times or comment are invalid, 403 for another team's."""
    _may_silence(user, body.matchers)
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
                author=user.name,
                comment=body.comment,
                now=now,
            )
            return _out(row, now)
    except SilenceError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, clip(str(exc))) from None


@router.post("/{silence_id}/expire", response_model=SilenceOut)
def expire(ctx: Context, silence_id: SilenceId, user: ActingUser) -> SilenceOut:
    """End a silence now; 404 unknown, 409 already expired, 403 one that covers another team."""
    now = ctx.now()
    try:
        with ctx.session_factory() as session, session.begin():
            existing = session.get(SilenceRow, silence_id)
            if existing is not None:
                _may_silence(user, existing.matchers)
            return _out(expire_silence(session, silence_id=silence_id, actor=user.name, now=now), now)
    except SilenceError as exc:
        code = status.HTTP_404_NOT_FOUND if "does not exist" in str(exc) else status.HTTP_409_CONFLICT
        raise HTTPException(code, clip(str(exc))) from None
