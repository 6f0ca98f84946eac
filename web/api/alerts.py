"""The triage inbox and alert actions: list, inspect, acknowledge, resolve, assign, bulk, re-send.

``GET /api/alerts`` is the inbox: one row per notification group (or lone alert), most urgent
first, then the one waiting longest, with totals so a client can page through every row.
Actions are taken by the signed-in user, who is recorded in the audit trail.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field, field_validator

from alerting.config import TeamConfig
from storage import alerts as alert_store
from storage import cases as case_store
from storage.models import AlertRow, DeliveryRow
from web import actions
from web.api.cases import CaseOut, NoteOut, case_out, note_out, refusals_as_http, team_configs
from web.auth import ActingUser, CurrentUser, User
from web.context import Context, WebContext
from web.inputs import INT64_MAX, NAME_CHARS, NOTE_CHARS, AlertId, DeliveryId, Name, Offset
from web.schemas import AlertDetailOut, AlertOut, DeliveryOut, alert_detail_out, alert_out, delivery_out

router = APIRouter(prefix="/api", tags=["alerts"])

ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "the alert belongs to a team you do not act for"},
    404: {"description": "no such alert"},
    409: {"description": "not allowed in the alert's state"},
}
View = Literal["active", "open", "in_progress", "waiting_on_customer", "resolved", "all"]
Urgency = Literal["low", "medium", "high", "critical"]
EXCERPT_CHARS = 280


class InboxRowOut(BaseModel):
    """One inbox row: a group of alerts (or one), shown by its most urgent, oldest alert."""

    key: str
    alert: AlertOut
    alert_ids: list[int]
    alerts: int
    mentions: int
    excerpt: str
    author: str | None
    author_name: str | None
    followers: int | None
    source: str | None
    url: str | None
    age_seconds: float
    status: str
    assignee: str | None
    case: CaseOut | None


class InboxOut(BaseModel):
    """One page of the inbox; ``total_rows`` counts rows on every page, ``counts`` rows per status."""

    items: list[InboxRowOut]
    total_rows: int
    total_alerts: int
    limit: int
    offset: int
    counts: dict[str, int]


class AlertCaseOut(AlertDetailOut):
    """An alert with its case and internal notes."""

    case: CaseOut | None
    notes: list[NoteOut]


class ActionIn(BaseModel):
    """Why an alert is acknowledged or resolved (the signed-in user is who did it)."""

    note: str = Field("", max_length=NOTE_CHARS)


class AssignIn(ActionIn):
    """Who gets the alert: a user's name."""

    assignee: str = Field(min_length=1, max_length=NAME_CHARS)

    @field_validator("assignee")
    @classmethod
    def _assignee_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("assignee must not be blank")
        return value.strip()


class BulkIn(BaseModel):
    """One action on many alerts (an inbox row stands for all its ``alert_ids``)."""

    action: Literal["ack", "resolve", "assign"]
    alert_ids: list[Annotated[int, Field(ge=1, le=INT64_MAX)]] = Field(
        min_length=1, max_length=actions.BULK_MAX
    )
    assignee: str | None = Field(None, max_length=NAME_CHARS)
    note: str = Field("", max_length=NOTE_CHARS)


class BulkOut(BaseModel):
    """Which alerts changed, and why the others did not."""

    done: list[int]
    skipped: dict[int, str]


def _excerpt(row: AlertRow) -> str:
    text = row.mention.text if row.mention is not None else row.summary
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1].rstrip() + "…"


def _row_out(row: case_store.InboxRow, teams: dict[str, TeamConfig], now: datetime) -> InboxRowOut:
    lead, mention = row.lead, row.lead.mention
    author = mention.author if mention is not None else None
    return InboxRowOut(
        key=row.key,
        alert=alert_out(lead),
        alert_ids=list(row.alert_ids),
        alerts=len(row.alert_ids),
        mentions=row.mentions,
        excerpt=_excerpt(lead),
        author=author.handle if author else None,
        author_name=author.display_name if author else None,
        followers=author.followers if author else None,
        source=mention.source if mention is not None else None,
        url=mention.url if mention is not None else None,
        age_seconds=max(0.0, (now - lead.created_at).total_seconds()),
        status=row.status,
        assignee=lead.assignee,
        case=case_out(row.case, teams.get(row.case.team)) if row.case is not None else None,
    )


def single_row(ctx: WebContext, request: Request, alert_id: int) -> InboxRowOut | None:
    """One alert as an inbox row of its own (for swapping a row after acting on it)."""
    with ctx.session_factory() as session:
        lead = session.get(AlertRow, alert_id)
        if lead is None:
            return None
        case = case_store.cases_of(session, [alert_id]).get(alert_id)
        status = case.status if case is not None else case_store.FROM_ALERT.get(lead.status, case_store.OPEN)
        if lead.status == "resolved":
            status = case_store.RESOLVED
        row = case_store.InboxRow(f"a{alert_id}", lead, case, status, (alert_id,), lead.count)
        return _row_out(row, team_configs(request), ctx.now())


def inbox(
    ctx: WebContext, request: Request, filters: case_store.InboxFilter, *, limit: int, offset: int
) -> InboxOut:
    """One page of the inbox as the API and the page show it."""
    teams = team_configs(request)
    now = ctx.now()
    with ctx.session_factory() as session:
        page = case_store.inbox(session, filters, limit=limit, offset=offset)
        items = [_row_out(row, teams, now) for row in page.rows]
    return InboxOut(
        items=items,
        total_rows=page.total_rows,
        total_alerts=page.total_alerts,
        limit=limit,
        offset=offset,
        counts=page.counts,
    )


def inbox_filter(
    user: User,
    *,
    status: str,
    team: str | None,
    urgency: str | None,
    brand: str | None,
    category: str | None,
    source: str | None,
    mine: bool,
    unassigned: bool,
) -> case_store.InboxFilter:
    """The storage filter for the inbox's query parameters; ``mine`` means assigned to ``user``."""
    return case_store.InboxFilter(
        status=status,
        team=team or None,
        urgency=urgency or None,
        brand=brand or None,
        category=category or None,
        source=source or None,
        assignee=user.name if mine else None,
        unassigned=unassigned,
    )


@router.get("/alerts", response_model=InboxOut)
def list_alerts(
    ctx: Context,
    request: Request,
    user: CurrentUser,
    status: View = "active",
    team: Name = None,
    urgency: Urgency | None = None,
    brand: Name = None,
    category: Name = None,
    source: Name = None,
    mine: bool = False,
    unassigned: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> InboxOut:
    """The triage inbox: one row per group, most urgent then oldest first, with totals for paging.

    ``status`` is a case status, ``active`` (everything not resolved, the default) or ``all``.
    """
    filters = inbox_filter(
        user,
        status=status,
        team=team,
        urgency=urgency,
        brand=brand,
        category=category,
        source=source,
        mine=mine,
        unassigned=unassigned,
    )
    return inbox(ctx, request, filters, limit=limit, offset=offset)


def detail(ctx: WebContext, request: Request, alert_id: int) -> AlertCaseOut | None:
    """One alert with its audit trail, deliveries, mention, case and notes; None if unknown."""
    with ctx.session_factory() as session:
        row = session.get(AlertRow, alert_id)
        if row is None:
            return None
        events = alert_store.events(session, alert_id)
        base = alert_detail_out(row, events, actions.deliveries_of(session, alert_id))
        case = case_store.cases_of(session, [alert_id]).get(alert_id)
        return AlertCaseOut(
            **base.model_dump(),
            case=case_out(case, team_configs(request).get(case.team)) if case is not None else None,
            notes=[note_out(n) for n in case_store.notes(session, alert_id)],
        )


def _detail(ctx: WebContext, request: Request, alert_id: int) -> AlertCaseOut:
    found = detail(ctx, request, alert_id)
    if found is None:
        raise HTTPException(404, f"alert #{alert_id} does not exist")
    return found


@router.get("/alerts/{alert_id}", response_model=AlertCaseOut, responses={404: ERRORS[404]})
def alert_detail(ctx: Context, request: Request, user: CurrentUser, alert_id: AlertId) -> AlertCaseOut:
    """One alert with its route snapshot, audit trail, deliveries, mention, case and notes."""
    return _detail(ctx, request, alert_id)


def _act(
    ctx: WebContext,
    request: Request,
    user: User,
    alert_id: int,
    action: actions.Action,
    body: ActionIn,
    assignee: str | None = None,
) -> AlertCaseOut:
    with refusals_as_http():
        actions.apply(ctx, alert_id, action, user=user, note=body.note.strip(), assignee=assignee)
    return _detail(ctx, request, alert_id)


@router.post("/alerts/{alert_id}/ack", response_model=AlertCaseOut, responses=ERRORS)
def acknowledge(
    ctx: Context, request: Request, user: ActingUser, alert_id: AlertId, body: ActionIn | None = None
) -> AlertCaseOut:
    """Acknowledge a firing alert; this stops its escalation and starts work on its case."""
    return _act(ctx, request, user, alert_id, "ack", body or ActionIn())


@router.post("/alerts/{alert_id}/resolve", response_model=AlertCaseOut, responses=ERRORS)
def resolve(
    ctx: Context, request: Request, user: ActingUser, alert_id: AlertId, body: ActionIn | None = None
) -> AlertCaseOut:
    """Resolve an alert and its case."""
    return _act(ctx, request, user, alert_id, "resolve", body or ActionIn())


@router.post("/alerts/{alert_id}/assign", response_model=AlertCaseOut, responses=ERRORS)
def assign(
    ctx: Context, request: Request, user: ActingUser, alert_id: AlertId, body: AssignIn
) -> AlertCaseOut:
    """Give an alert to a user."""
    return _act(ctx, request, user, alert_id, "assign", body, assignee=body.assignee)


def run_bulk(ctx: WebContext, user: User, body: BulkIn) -> BulkOut:
    """Apply a bulk action, turning refusals into HTTP errors."""
    with refusals_as_http():
        result = actions.bulk(
            ctx, body.alert_ids, body.action, user=user, note=body.note.strip(), assignee=body.assignee
        )
    return BulkOut(done=result.done, skipped=result.skipped)


@router.post("/alerts/bulk", response_model=BulkOut, responses=ERRORS)
def bulk(ctx: Context, user: ActingUser, body: BulkIn) -> BulkOut:
    """Acknowledge, resolve or assign many alerts at once; all or nothing on permissions."""
    return run_bulk(ctx, user, body)


@router.get("/deliveries/failed", response_model=list[DeliveryOut])
def failed_deliveries(
    ctx: Context, user: CurrentUser, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[DeliveryOut]:
    """Dead-lettered deliveries, newest first."""
    with ctx.session_factory() as session:
        return [delivery_out(row) for row in alert_store.failed_deliveries(session, limit=limit)]


@router.post(
    "/deliveries/{delivery_id}/resend",
    response_model=DeliveryOut,
    responses={404: {"description": "no such delivery"}, 409: {"description": "not dead-lettered"}},
)
def resend(ctx: Context, user: ActingUser, delivery_id: DeliveryId) -> DeliveryOut:
    """Put a dead-lettered delivery back in the outbox."""
    try:
        actions.resend(ctx, delivery_id)
    except actions.NotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    except actions.Conflict as exc:
        raise HTTPException(409, str(exc)) from exc
    with ctx.session_factory() as session:
        return delivery_out(session.get_one(DeliveryRow, delivery_id))
