"""Alerts and their deliveries: list, inspect, acknowledge, resolve, assign, re-send."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from domain import AlertStatus
from storage import alerts as alert_store
from storage.models import AlertRow, DeliveryRow
from web import actions
from web.context import Context, WebContext
from web.inputs import AlertId, DeliveryId, Name
from web.schemas import (
    ActionIn,
    AlertDetailOut,
    AlertOut,
    AssignIn,
    DeliveryOut,
    alert_detail_out,
    alert_out,
    delivery_out,
)

router = APIRouter(prefix="/api", tags=["alerts"])

ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such alert"},
    409: {"description": "not allowed in the alert's state"},
}


@router.get("/alerts", response_model=list[AlertOut])
def list_alerts(
    ctx: Context,
    status: AlertStatus | None = None,
    team: Name = None,
    brand: Name = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[AlertOut]:
    """Alerts, newest first, optionally filtered by status, team and brand."""
    with ctx.session_factory() as session:
        rows = alert_store.list_alerts(
            session, status=str(status) if status else None, team=team, brand=brand, limit=limit
        )
        return [alert_out(row) for row in rows]


def _detail(ctx: WebContext, alert_id: int) -> AlertDetailOut:
    with ctx.session_factory() as session:
        row = session.get(AlertRow, alert_id)
        if row is None:
            raise HTTPException(404, f"alert #{alert_id} does not exist")
        events = alert_store.events(session, alert_id)
        return alert_detail_out(row, events, actions.deliveries_of(session, alert_id))


@router.get("/alerts/{alert_id}", response_model=AlertDetailOut, responses={404: ERRORS[404]})
def alert_detail(ctx: Context, alert_id: AlertId) -> AlertDetailOut:
    """One alert with its route snapshot, audit trail, deliveries and mention."""
    return _detail(ctx, alert_id)


def _act(
    ctx: WebContext, alert_id: int, action: actions.Action, body: ActionIn, assignee: str | None = None
) -> AlertDetailOut:
    try:
        actions.apply(ctx, alert_id, action, actor=body.actor, note=body.note, assignee=assignee)
    except actions.NotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    except actions.Conflict as exc:
        raise HTTPException(409, str(exc)) from exc
    return _detail(ctx, alert_id)


@router.post("/alerts/{alert_id}/ack", response_model=AlertDetailOut, responses=ERRORS)
def acknowledge(ctx: Context, alert_id: AlertId, body: ActionIn) -> AlertDetailOut:
    """Acknowledge a firing alert; this stops its escalation."""
    return _act(ctx, alert_id, "ack", body)


@router.post("/alerts/{alert_id}/resolve", response_model=AlertDetailOut, responses=ERRORS)
def resolve(ctx: Context, alert_id: AlertId, body: ActionIn) -> AlertDetailOut:
    """Resolve an alert that is not resolved yet."""
    return _act(ctx, alert_id, "resolve", body)


@router.post("/alerts/{alert_id}/assign", response_model=AlertDetailOut, responses=ERRORS)
def assign(ctx: Context, alert_id: AlertId, body: AssignIn) -> AlertDetailOut:
    """Give an alert to a person."""
    return _act(ctx, alert_id, "assign", body, assignee=body.assignee)


@router.get("/deliveries/failed", response_model=list[DeliveryOut])
def failed_deliveries(ctx: Context, limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[DeliveryOut]:
    """Dead-lettered deliveries, newest first."""
    with ctx.session_factory() as session:
        return [delivery_out(row) for row in alert_store.failed_deliveries(session, limit=limit)]


@router.post(
    "/deliveries/{delivery_id}/resend",
    response_model=DeliveryOut,
    responses={404: {"description": "no such delivery"}, 409: {"description": "not dead-lettered"}},
)
def resend(ctx: Context, delivery_id: DeliveryId) -> DeliveryOut:
    """Put a dead-lettered delivery back in the outbox."""
    try:
        actions.resend(ctx, delivery_id)
    except actions.NotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    except actions.Conflict as exc:
        raise HTTPException(409, str(exc)) from exc
    with ctx.session_factory() as session:
        return delivery_out(session.get_one(DeliveryRow, delivery_id))
