"""Alert actions shared by the API and the dashboard, each in its own transaction."""

from __future__ import annotations

from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerting import lifecycle
from domain import DeliveryStatus
from storage import alerts as alert_store
from storage.models import AlertRow, DeliveryRow
from web.context import WebContext

Action = Literal["ack", "resolve", "assign"]


class NotFound(LookupError):
    """No alert or delivery has that id."""


class Conflict(ValueError):
    """The action does not apply in the current state (for example resolving a resolved alert)."""


def apply(
    ctx: WebContext,
    alert_id: int,
    action: Action,
    *,
    actor: str,
    note: str = "",
    assignee: str | None = None,
) -> None:
    """Acknowledge, resolve or assign one alert and commit; raises NotFound or Conflict."""
    now = ctx.now()
    with ctx.session_factory.begin() as session:
        # lifecycle raises LifecycleError for unknown ids too; look first so 404 and 409 stay distinct.
        if session.get(AlertRow, alert_id) is None:
            raise NotFound(f"alert #{alert_id} does not exist")
        try:
            if action == "ack":
                lifecycle.acknowledge(session, alert_id=alert_id, actor=actor, now=now, note=note)
            elif action == "resolve":
                lifecycle.resolve(session, alert_id=alert_id, actor=actor, now=now, note=note)
            else:
                if not assignee:
                    raise Conflict("an assignee is required")
                lifecycle.assign(session, alert_id=alert_id, assignee=assignee, actor=actor, now=now)
                if note:
                    # assign() records "old -> new"; the person's reason goes in its own entry.
                    alert_store.add_event(session, alert_id, "note", actor=actor, note=note, now=now)
        except lifecycle.LifecycleError as exc:
            raise Conflict(str(exc)) from exc


def resend(ctx: WebContext, delivery_id: int) -> None:
    """Put a dead-lettered delivery back in the outbox and commit; raises NotFound or Conflict."""
    with ctx.session_factory.begin() as session:
        row = session.get(DeliveryRow, delivery_id)
        if row is None:
            raise NotFound(f"delivery #{delivery_id} does not exist")
        if not alert_store.resend(session, delivery_id, now=ctx.now()):
            raise Conflict(
                f"delivery #{delivery_id} is {row.status}, only a {DeliveryStatus.DEAD} one can be re-sent"
            )


def deliveries_of(session: Session, alert_id: int) -> list[DeliveryRow]:
    """Every outbox row of one alert, oldest first."""
    stmt = select(DeliveryRow).where(DeliveryRow.alert_id == alert_id).order_by(DeliveryRow.id)
    return list(session.scalars(stmt))
