"""Alert pages: the open-alert list with Ack / Resolve buttons, and one alert's audit trail.

Actions are POST-only forms. With htmx the list swaps the one changed row in
place; without JavaScript the browser follows a 303 to the alert's page.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.responses import Response

from domain import AlertStatus
from storage import alerts as alert_store
from storage.models import AlertRow, DeliveryRow
from web import actions
from web.context import Context, WebContext
from web.inputs import NAME_CHARS, NOTE_CHARS, AlertId, DeliveryId, Name
from web.pages.common import is_htmx, not_found, render
from web.schemas import AlertDetailOut, AlertOut, alert_detail_out, alert_out

router = APIRouter(include_in_schema=False)

Status = Literal["open", "firing", "acknowledged", "resolved", "all"]
LIST_LIMIT = 100
DEFAULT_ACTOR = "dashboard"
Actor = Annotated[str, Form(max_length=NAME_CHARS)]
Note = Annotated[str, Form(max_length=NOTE_CHARS)]
View = Annotated[Literal["row", "detail"], Form()]


def _alerts(ctx: WebContext, status: Status, team: str | None, brand: str | None) -> list[AlertOut]:
    statuses: list[str | None]
    if status == "open":
        statuses = [AlertStatus.FIRING, AlertStatus.ACKNOWLEDGED]
    elif status == "all":
        statuses = [None]
    else:
        statuses = [status]
    with ctx.session_factory() as session:
        rows = [
            row
            for s in statuses
            for row in alert_store.list_alerts(
                session, status=s, team=team or None, brand=brand or None, limit=LIST_LIMIT
            )
        ]
        rows.sort(key=lambda row: row.id, reverse=True)
        return [alert_out(row) for row in rows[:LIST_LIMIT]]


@router.get("/alerts", response_class=HTMLResponse)
def alert_list(
    request: Request, ctx: Context, status: Status = "open", team: Name = None, brand: Name = None
) -> Response:
    """Open alerts (or another status), newest first; htmx's 30-second refresh gets only the table."""
    context = {
        "active": "alerts",
        "alerts": _alerts(ctx, status, team, brand),
        "status": status,
        "params": {"status": status, "team": team or "", "brand": brand or ""},
    }
    name = "_alert_table.html" if is_htmx(request) else "alerts.html"
    return render(request, ctx, name, context)


def _detail(ctx: WebContext, alert_id: int) -> AlertDetailOut | None:
    with ctx.session_factory() as session:
        row = session.get(AlertRow, alert_id)
        if row is None:
            return None
        events = alert_store.events(session, alert_id)
        return alert_detail_out(row, events, actions.deliveries_of(session, alert_id))


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def alert_page(request: Request, ctx: Context, alert_id: AlertId) -> Response:
    """One alert: why it fired, where it went, and everything that happened to it."""
    alert = _detail(ctx, alert_id)
    if alert is None:
        return not_found(request, ctx, f"Alert #{alert_id} does not exist.")
    return render(request, ctx, "alert.html", {"active": "alerts", "alert": alert, "error": ""})


def _act(
    request: Request,
    ctx: WebContext,
    alert_id: int,
    action: actions.Action,
    *,
    actor: str,
    note: str = "",
    assignee: str | None = None,
    view: str = "detail",
) -> Response:
    actor = actor.strip() or DEFAULT_ACTOR
    error, status = "", 200
    try:
        actions.apply(
            ctx, alert_id, action, actor=actor, note=note.strip(), assignee=(assignee or "").strip()
        )
    except actions.NotFound as exc:
        return not_found(request, ctx, str(exc))
    except actions.Conflict as exc:
        error, status = str(exc), 409
    alert = _detail(ctx, alert_id)
    if alert is None:  # deleted between the action and the re-read
        return not_found(request, ctx, f"Alert #{alert_id} does not exist.")
    if is_htmx(request) and view == "row":
        return render(request, ctx, "_alert_row.html", {"alert": alert, "error": error}, status_code=status)
    if error:
        return render(
            request, ctx, "alert.html", {"active": "alerts", "alert": alert, "error": error}, status
        )
    return RedirectResponse(f"/alerts/{alert_id}", status_code=303)


@router.post("/alerts/{alert_id}/ack", response_class=HTMLResponse)
def acknowledge(
    request: Request,
    ctx: Context,
    alert_id: AlertId,
    actor: Actor = DEFAULT_ACTOR,
    note: Note = "",
    view: View = "detail",
) -> Response:
    """Acknowledge from the dashboard."""
    return _act(request, ctx, alert_id, "ack", actor=actor, note=note, view=view)


@router.post("/alerts/{alert_id}/resolve", response_class=HTMLResponse)
def resolve(
    request: Request,
    ctx: Context,
    alert_id: AlertId,
    actor: Actor = DEFAULT_ACTOR,
    note: Note = "",
    view: View = "detail",
) -> Response:
    """Resolve from the dashboard."""
    return _act(request, ctx, alert_id, "resolve", actor=actor, note=note, view=view)


@router.post("/alerts/{alert_id}/assign", response_class=HTMLResponse)
def assign(
    request: Request,
    ctx: Context,
    alert_id: AlertId,
    assignee: Annotated[str, Form(max_length=NAME_CHARS)],
    actor: Actor = DEFAULT_ACTOR,
    note: Note = "",
    view: View = "detail",
) -> Response:
    """Assign from the dashboard."""
    return _act(request, ctx, alert_id, "assign", actor=actor, note=note, assignee=assignee, view=view)


@router.post("/deliveries/{delivery_id}/resend", response_class=HTMLResponse)
def resend(request: Request, ctx: Context, delivery_id: DeliveryId) -> Response:
    """Re-send a dead-lettered delivery from its alert's page."""
    with ctx.session_factory() as session:
        row = session.get(DeliveryRow, delivery_id)
        alert_id = row.alert_id if row is not None else None
    if alert_id is None:
        return not_found(request, ctx, f"Delivery #{delivery_id} does not exist.")
    try:
        actions.resend(ctx, delivery_id)
    except (actions.NotFound, actions.Conflict) as exc:
        alert = _detail(ctx, alert_id)
        if alert is None:
            return not_found(request, ctx, str(exc))
        return render(
            request, ctx, "alert.html", {"active": "alerts", "alert": alert, "error": str(exc)}, 409
        )
    return RedirectResponse(f"/alerts/{alert_id}", status_code=303)
