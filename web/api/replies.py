"""Replies over the API: the composer's offer and an alert's thread, draft, approve, send, check.

The signed-in user drafts, sends and is recorded; an administrator approves where the team
requires it. A source's refusal answers 429 (rate limited, with Retry-After), 502 (refused)
or 503 (unavailable) with the reply, which stays stored to be sent again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from alerting import replies as service
from alerting import reply_posting as posting
from alerting.replies import ReplyDesk
from storage.replies import Reply, team_of
from web.auth import ActingUser, AdminUser, CurrentUser
from web.auth.teams import register_team_lookup
from web.context import Context
from web.inputs import INT64_MAX, AlertId, clip

router = APIRouter(prefix="/api", tags=["replies"])

ReplyId = Annotated[int, Path(ge=1, le=INT64_MAX, description="a reply id")]
# Acting routes on {reply_id} are checked against the reply's team by the app-wide dependency.
register_team_lookup("reply_id", team_of)
_DEFAULT_DESK = ReplyDesk()
ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "another team's alert, or approval by a non-administrator"},
    404: {"description": "no such alert or reply"},
    409: {"description": "not allowed in the reply's state, or no reply account for the source"},
    422: {"description": "empty text, too long for the source, or an unknown template"},
}
SEND_ERRORS: dict[int | str, dict[str, Any]] = ERRORS | {
    429: {"description": "the source's rate limit; Retry-After says when (the reply is kept)"},
    502: {"description": "the source refused the reply (the reply is kept)"},
    503: {"description": "the source is unavailable (the reply is kept)"},
}


class ReplyOut(BaseModel):
    """A reply and where it is on its way to the source."""

    id: int
    alert_id: int
    source: str
    source_kind: str
    text: str
    template: str | None
    state: str
    error: str | None
    retry_after: datetime | None
    remote_id: str | None
    remote_url: str | None
    attempts: int
    drafted_by: str
    approved_by: str | None
    posted_by: str | None
    posted_at: datetime | None
    created_at: datetime


class TemplateOut(BaseModel):
    """A team template, rendered for this alert."""

    name: str
    text: str


class ComposerOut(BaseModel):
    """What the composer offers: post through the API, or copy the text and open the post."""

    mode: Literal["post", "copy", "none"]
    source: str | None
    source_kind: str | None
    post_url: str | None
    max_chars: int | None
    require_approval: bool
    can_act: bool
    is_admin: bool
    unavailable: str | None
    templates: list[TemplateOut]


class ThreadOut(BaseModel):
    """An alert's replies, oldest first, with the composer's offer."""

    composer: ComposerOut
    replies: list[ReplyOut]


class DraftIn(BaseModel):
    """A draft: your own text, or the name of one of the team's templates."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(default=None, max_length=10000)
    template: str | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _one_of(self) -> DraftIn:
        if (self.text is None) == (self.template is None):
            raise ValueError("give either text or template")
        return self


class CheckIn(BaseModel):
    """A person's verdict on a reply in state ``unknown``: is it on the source?"""

    model_config = ConfigDict(extra="forbid")

    posted: bool
    url: str | None = Field(default=None, max_length=2000, description="the reply's address, if posted")


def reply_out(reply: Reply) -> ReplyOut:
    """The API shape of a stored reply."""
    # The fields share their names with Reply's, so pydantic reads them off the dataclass.
    return ReplyOut.model_validate(reply, from_attributes=True)


def desk_of(request: Request) -> ReplyDesk:
    """The app's reply desk (``app.state.replies``), or one with no accounts configured."""
    desk = getattr(request.app.state, "replies", None)
    return desk if isinstance(desk, ReplyDesk) else _DEFAULT_DESK


def _refused(error: Exception) -> HTTPException:
    if isinstance(error, service.ReplyNotFound):
        return HTTPException(status.HTTP_404_NOT_FOUND, clip(str(error)))
    if isinstance(error, service.ReplyForbidden):
        return HTTPException(status.HTTP_403_FORBIDDEN, clip(str(error)))
    if isinstance(error, service.ReplyInvalid):
        return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, clip(str(error)))
    return HTTPException(status.HTTP_409_CONFLICT, clip(str(error)))


_REFUSALS = (service.ReplyNotFound, service.ReplyForbidden, service.ReplyInvalid, service.ReplyConflict)


@router.get("/alerts/{alert_id}/replies", response_model=ThreadOut, responses={404: ERRORS[404]})
def alert_replies(request: Request, ctx: Context, user: CurrentUser, alert_id: AlertId) -> ThreadOut:
    """The alert's replies (its thread) and what the composer offers for its post."""
    desk = desk_of(request)
    with ctx.session_factory() as session:
        try:
            offer = service.composer(session, desk=desk, alert_id=alert_id, actor=user)
            replies = service.thread(session, alert_id=alert_id)
        except _REFUSALS as error:
            raise _refused(error) from error
    composer = ComposerOut(
        mode=offer.mode,
        source=offer.source,
        source_kind=offer.source_kind,
        post_url=offer.post_url,
        max_chars=offer.max_chars,
        require_approval=offer.require_approval,
        can_act=user.can_act(offer.team),
        is_admin=user.is_admin,
        unavailable=offer.unavailable,
        templates=[TemplateOut(**t) for t in offer.templates],
    )
    return ThreadOut(composer=composer, replies=[reply_out(r) for r in replies])


@router.post(
    "/alerts/{alert_id}/replies",
    response_model=ReplyOut,
    status_code=status.HTTP_201_CREATED,
    responses=ERRORS,
)
def draft(request: Request, ctx: Context, user: ActingUser, alert_id: AlertId, body: DraftIn) -> ReplyOut:
    """Draft a reply from your text or a team template (awaiting approval where the team wants it)."""
    try:
        reply = service.draft_reply(
            ctx.session_factory,
            desk=desk_of(request),
            alert_id=alert_id,
            actor=user,
            text=body.text,
            template=body.template,
            now=ctx.now(),
        )
    except _REFUSALS as error:
        raise _refused(error) from error
    return reply_out(reply)


@router.post("/replies/{reply_id}/approve", response_model=ReplyOut, responses=ERRORS)
def approve(ctx: Context, user: AdminUser, reply_id: ReplyId) -> ReplyOut:
    """Approve a reply awaiting approval (administrators)."""
    try:
        return reply_out(
            service.approve_reply(ctx.session_factory, reply_id=reply_id, actor=user, now=ctx.now())
        )
    except _REFUSALS as error:
        raise _refused(error) from error


@router.post("/replies/{reply_id}/send", response_model=ReplyOut, responses=SEND_ERRORS)
def send(request: Request, ctx: Context, user: ActingUser, reply_id: ReplyId) -> Any:
    """Post the reply where the customer spoke; sending a posted reply again changes nothing."""
    now = ctx.now()
    try:
        reply = posting.send_reply(
            ctx.session_factory, desk=desk_of(request), reply_id=reply_id, actor=user, now=now
        )
    except _REFUSALS as error:
        raise _refused(error) from error
    except service.ReplyFailed as failed:
        code = {"rate_limited": 429, "rejected": 502}.get(failed.reason, 503)
        headers = {}
        if failed.retry_after is not None:
            wait = max(int((failed.retry_after - now.astimezone(UTC)).total_seconds()) + 1, 1)
            headers["Retry-After"] = str(wait)
        body = {"detail": clip(str(failed)), "reply": reply_out(failed.reply).model_dump(mode="json")}
        return JSONResponse(body, status_code=code, headers=headers)
    return reply_out(reply)


@router.post("/replies/{reply_id}/check", response_model=ReplyOut, responses=ERRORS)
def check(ctx: Context, user: ActingUser, reply_id: ReplyId, body: CheckIn) -> ReplyOut:
    """Settle a reply in state ``unknown``: posted (with its address) or not (it can be sent again)."""
    try:
        reply = posting.mark_checked(
            ctx.session_factory,
            reply_id=reply_id,
            actor=user,
            posted=body.posted,
            now=ctx.now(),
            remote_url=body.url,
        )
    except _REFUSALS as error:
        raise _refused(error) from error
    return reply_out(reply)
