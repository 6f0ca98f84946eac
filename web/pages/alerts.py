"""Alert pages: the triage inbox with bulk actions, and one alert's case, thread and audit trail.

Actions are POST-only forms taken by the signed-in user. The inbox posts every action (a row's
own buttons, or the selected rows) to ``/alerts/bulk`` and is sent back to the same view; htmx
polls the table so new alerts appear without a reload (web/static/inbox.js pauses that while
rows are selected).
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.responses import Response

from storage import accounts
from storage import cases as case_store
from storage.models import DeliveryRow
from web import actions
from web.api.alerts import AlertCaseOut, detail, inbox, inbox_filter, single_row
from web.api.cases import stats, team_configs
from web.auth import ActingUser, CurrentUser, User
from web.context import Context, WebContext
from web.inputs import NAME_CHARS, NOTE_CHARS, AlertId, DeliveryId, Name
from web.pages.common import is_htmx, not_found, render

router = APIRouter(include_in_schema=False)

View = Literal["active", "open", "in_progress", "waiting_on_customer", "resolved", "all"]
Urgency = Literal["", "low", "medium", "high", "critical"]
PAGE_SIZE = 50
Note = Annotated[str, Form(max_length=NOTE_CHARS)]
Back = Annotated[str, Form(max_length=2000)]
RowView = Annotated[Literal["row", "detail"], Form()]
VIEWS: tuple[View, ...] = ("active", "open", "in_progress", "waiting_on_customer", "resolved", "all")


def _users(ctx: WebContext) -> list[str]:
    with ctx.session_factory() as session:
        return [a.name for a in accounts.list_users(session) if a.role != "viewer"]


@router.get("/alerts", response_class=HTMLResponse)
def alert_list(
    request: Request,
    ctx: Context,
    user: CurrentUser,
    status: View = "active",
    team: Name = None,
    urgency: Urgency = "",
    brand: Name = None,
    category: Name = None,
    source: Name = None,
    mine: bool = False,
    unassigned: bool = False,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    done: int | None = None,
    skipped: int | None = None,
) -> Response:
    """The triage inbox; htmx's polling gets only the table."""
    params = {
        "status": status,
        "team": team or "",
        "urgency": urgency,
        "brand": brand or "",
        "category": category or "",
        "source": source or "",
        "mine": "true" if mine else "",
        "unassigned": "true" if unassigned else "",
        "page": page,
    }
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
    result = inbox(ctx, request, filters, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    pages = max(1, -(-result.total_rows // PAGE_SIZE))
    context = {
        "active": "alerts",
        "inbox": result,
        "status": status,
        "views": VIEWS,
        "params": params,
        "back": urlencode({k: v for k, v in params.items() if v}),
        "page": page,
        "pages": pages,
        "user": user,
        "message": _message(done, skipped),
    }
    if is_htmx(request):
        return render(request, ctx, "_alert_table.html", context)
    with ctx.session_factory() as session:
        context["available"] = case_store.is_available(session, user.name)
    context["stats"] = stats(ctx, team_configs(request)).teams
    context["users"] = _users(ctx)
    return render(request, ctx, "alerts.html", context)


def _message(done: int | None, skipped: int | None) -> str:
    if done is None:
        return ""
    text = f"{done} alert{'s' if done != 1 else ''} updated"
    return text + (f", {skipped} left as they were" if skipped else "") + "."


def _back(back: str, **extra: int) -> RedirectResponse:
    # Only our own query string comes back: never a URL, so the redirect cannot leave the site.
    query = "&".join(p for p in (back.lstrip("?"), urlencode(extra)) if p)
    return RedirectResponse(f"/alerts?{query}" if query else "/alerts", status_code=303)


@router.post("/alerts/bulk", response_class=HTMLResponse)
def bulk(
    request: Request,
    ctx: Context,
    user: ActingUser,
    rows: Annotated[list[str] | None, Form(max_length=actions.BULK_MAX)] = None,
    action: Annotated[Literal["", "ack", "resolve", "assign", "mine"], Form()] = "",
    target: Annotated[str, Form(max_length=20_000)] = "",
    assignee: Annotated[str, Form(max_length=NAME_CHARS)] = "",
    back: Back = "",
) -> Response:
    """Act on the selected inbox rows, or on one row whose button says ``action:ids``."""
    if target:
        action_name, _, ids_text = target.partition(":")
        selected = [ids_text]
    else:
        action_name, selected = action, list(rows or [])
    try:
        ids = [int(part) for row in selected for part in row.split(",") if part.strip()]
    except ValueError:
        return _error(request, ctx, "the selection is not a list of alert ids", 422)
    if action_name == "mine":
        action_name, assignee = "assign", user.name
    if action_name not in actions.BULK_ACTIONS:
        return _error(request, ctx, "choose Acknowledge, Resolve or Assign", 422)
    try:
        result = actions.bulk(ctx, ids, action_name, user=user, assignee=assignee)  # type: ignore[arg-type]
    except actions.NotFound as exc:
        return not_found(request, ctx, str(exc))
    except actions.Forbidden as exc:
        return _error(request, ctx, str(exc), 403)
    except actions.Conflict as exc:
        return _error(request, ctx, str(exc), 409)
    return _back(back, done=len(result.done), skipped=len(result.skipped))


@router.post("/alerts/availability", response_class=HTMLResponse)
def availability(
    ctx: Context, user: ActingUser, available: Annotated[bool, Form()] = False, back: Back = ""
) -> Response:
    """Say whether you take auto-assigned cases."""
    actions.set_available(ctx, user=user, available=available)
    return _back(back)


def _error(request: Request, ctx: WebContext, message: str, status: int) -> Response:
    return render(request, ctx, "error.html", {"message": message, "status": status}, status_code=status)


def _page(
    request: Request, ctx: WebContext, user: User, alert: AlertCaseOut, error: str = "", status: int = 200
) -> Response:
    context = {
        "active": "alerts",
        "alert": alert,
        "mention": alert.mention,
        "error": error,
        "user": user,
        "can_act": user.can_act(alert.team),
        "users": _users(ctx),
        "statuses": case_store.STATUSES,
    }
    return render(request, ctx, "alert.html", context, status)


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def alert_page(request: Request, ctx: Context, user: CurrentUser, alert_id: AlertId) -> Response:
    """One alert: its case, the post, the reply composer, notes, deliveries and audit trail."""
    alert = detail(ctx, request, alert_id)
    if alert is None:
        return not_found(request, ctx, f"Alert #{alert_id} does not exist.")
    return _page(request, ctx, user, alert)


def _act(
    request: Request,
    ctx: WebContext,
    user: User,
    alert_id: int,
    action: actions.Action,
    view: str = "detail",
    **kwargs: str,
) -> Response:
    error, status = "", 200
    try:
        actions.apply(ctx, alert_id, action, user=user, **kwargs)
    except actions.NotFound as exc:
        return not_found(request, ctx, str(exc))
    except actions.Forbidden as exc:
        error, status = str(exc), 403
    except actions.Conflict as exc:
        error, status = str(exc), 409
    if view == "row" and is_htmx(request):
        # An htmx client swaps just the row it acted on; a refused action says why inside it.
        row = single_row(ctx, request, alert_id)
        if row is None:
            return not_found(request, ctx, f"Alert #{alert_id} does not exist.")
        context = {"row": row, "user": user, "error": error}
        return render(request, ctx, "_alert_row.html", context, status)
    alert = detail(ctx, request, alert_id)
    if alert is None:  # deleted between the action and the re-read
        return not_found(request, ctx, f"Alert #{alert_id} does not exist.")
    if error:
        return _page(request, ctx, user, alert, error, status)
    return RedirectResponse(f"/alerts/{alert_id}", status_code=303)


@router.post("/alerts/{alert_id}/ack", response_class=HTMLResponse)
def acknowledge(
    request: Request,
    ctx: Context,
    user: ActingUser,
    alert_id: AlertId,
    note: Note = "",
    view: RowView = "detail",
) -> Response:
    """Acknowledge from the dashboard (``view=row`` with htmx answers with the inbox row)."""
    return _act(request, ctx, user, alert_id, "ack", view=view, note=note.strip())


@router.post("/alerts/{alert_id}/resolve", response_class=HTMLResponse)
def resolve(
    request: Request,
    ctx: Context,
    user: ActingUser,
    alert_id: AlertId,
    note: Note = "",
    view: RowView = "detail",
) -> Response:
    """Resolve from the dashboard (``view=row`` with htmx answers with the inbox row)."""
    return _act(request, ctx, user, alert_id, "resolve", view=view, note=note.strip())


@router.post("/alerts/{alert_id}/assign", response_class=HTMLResponse)
def assign(
    request: Request,
    ctx: Context,
    user: ActingUser,
    alert_id: AlertId,
    assignee: Annotated[str, Form(max_length=NAME_CHARS)] = "",
    note: Note = "",
) -> Response:
    """Assign from the dashboard; an empty assignee means the signed-in user."""
    return _act(
        request, ctx, user, alert_id, "assign", assignee=assignee.strip() or user.name, note=note.strip()
    )


@router.post("/alerts/{alert_id}/status", response_class=HTMLResponse)
def case_status(
    request: Request,
    ctx: Context,
    user: ActingUser,
    alert_id: AlertId,
    status: Annotated[Literal["open", "in_progress", "waiting_on_customer", "resolved"], Form()],
) -> Response:
    """Move the alert's case."""
    return _act(request, ctx, user, alert_id, "status", status=status)


@router.post("/alerts/{alert_id}/note", response_class=HTMLResponse)
def add_note(
    request: Request,
    ctx: Context,
    user: ActingUser,
    alert_id: AlertId,
    text: Annotated[str, Form(min_length=1, max_length=NOTE_CHARS)],
) -> Response:
    """Add an internal note."""
    return _act(request, ctx, user, alert_id, "note", note=text.strip())


@router.post("/alerts/{alert_id}/answered", response_class=HTMLResponse)
def answered(request: Request, ctx: Context, user: ActingUser, alert_id: AlertId) -> Response:
    """Record that the customer was answered outside Earshot."""
    return _act(request, ctx, user, alert_id, "answered")


@router.post("/deliveries/{delivery_id}/resend", response_class=HTMLResponse)
def resend(request: Request, ctx: Context, user: ActingUser, delivery_id: DeliveryId) -> Response:
    """Re-send a dead-lettered delivery from its alert's page."""
    with ctx.session_factory() as session:
        row = session.get(DeliveryRow, delivery_id)
        alert_id = row.alert_id if row is not None else None
    if alert_id is None:
        return not_found(request, ctx, f"Delivery #{delivery_id} does not exist.")
    try:
        actions.resend(ctx, delivery_id)
    except (actions.NotFound, actions.Conflict) as exc:
        alert = detail(ctx, request, alert_id)
        if alert is None:
            return not_found(request, ctx, str(exc))
        return _page(request, ctx, user, alert, str(exc), 409)
    return RedirectResponse(f"/alerts/{alert_id}", status_code=303)
