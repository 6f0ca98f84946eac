"""Alert and case actions shared by the API and the dashboard, each in its own transaction.

Every action is taken by a signed-in ``User`` and recorded under their name; nobody types who
they are. Team permissions for one alert in the path are checked app-wide (``web.auth.teams``);
bulk actions name their alerts in the body, so they are checked here, all before any change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from sqlalchemy.orm import Session

from alerting import lifecycle
from domain import DeliveryStatus
from storage import accounts, cases
from storage import alerts as alert_store
from storage.models import AlertRow, DeliveryRow
from web.auth import User
from web.context import WebContext

Action = Literal["ack", "resolve", "assign", "status", "note", "answered"]
BULK_ACTIONS = ("ack", "resolve", "assign")
BULK_MAX = 500


class NotFound(LookupError):
    """No alert or delivery has that id."""


class Conflict(ValueError):
    """The action does not apply in the current state (for example resolving a resolved alert)."""


class Forbidden(PermissionError):
    """The user may not act on an alert of that team."""


@dataclass
class BulkResult:
    """What a bulk action did: the alerts changed, and why the others were left alone."""

    done: list[int] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)


def _check_assignee(session: Session, assignee: str | None) -> str:
    name = (assignee or "").strip()
    if not name:
        raise Conflict("an assignee is required")
    if accounts.user_by_name(session, name) is None:
        raise Conflict(f"there is no user named {name!r}")
    return name


def _apply_one(
    session: Session,
    alert_id: int,
    action: Action,
    *,
    user: User,
    at: datetime,
    note: str = "",
    assignee: str | None = None,
    status: str | None = None,
) -> None:
    name = user.name
    try:
        if action == "ack":
            lifecycle.acknowledge(session, alert_id=alert_id, actor=name, now=at, note=note)
        elif action == "resolve":
            lifecycle.resolve(session, alert_id=alert_id, actor=name, now=at, note=note)
        elif action == "assign":
            lifecycle.assign(session, alert_id=alert_id, assignee=assignee or "", actor=name, now=at)
            if note:
                # assign() records "old -> new"; the person's reason goes in its own entry.
                alert_store.add_event(session, alert_id, "note", actor=name, note=note, now=at)
        elif action == "status":
            lifecycle.set_case_status(session, alert_id=alert_id, status=status or "", actor=name, now=at)
        elif action == "answered":
            if not lifecycle.record_response(session, alert_id=alert_id, at=at, by=name, via="elsewhere"):
                raise Conflict(f"alert #{alert_id} already has its first response")
        else:
            if not note:
                raise Conflict("a note needs some text")
            cases.add_note(session, alert_id=alert_id, author=name, text=note, now=at)
    except lifecycle.LifecycleError as exc:
        raise Conflict(str(exc)) from exc


def apply(
    ctx: WebContext,
    alert_id: int,
    action: Action,
    *,
    user: User,
    note: str = "",
    assignee: str | None = None,
    status: str | None = None,
) -> None:
    """Take one action on one alert and commit; raises NotFound, Forbidden or Conflict."""
    with ctx.session_factory.begin() as session:
        # lifecycle raises LifecycleError for unknown ids too; look first so 404 and 409 stay distinct.
        row = session.get(AlertRow, alert_id)
        if row is None:
            raise NotFound(f"alert #{alert_id} does not exist")
        if not user.can_act(row.team):
            raise Forbidden(f"alert #{alert_id} belongs to team {row.team}, which you do not act for")
        if action == "assign":
            assignee = _check_assignee(session, assignee)
        _apply_one(
            session, alert_id, action, user=user, at=ctx.now(), note=note, assignee=assignee, status=status
        )


def bulk(
    ctx: WebContext,
    alert_ids: Sequence[int],
    action: Action,
    *,
    user: User,
    note: str = "",
    assignee: str | None = None,
) -> BulkResult:
    """Take one action on many alerts in one transaction; skips those it does not apply to.

    Every alert must exist and belong to a team the user acts for, or nothing changes.
    """
    ids = list(dict.fromkeys(alert_ids))
    if not ids:
        raise Conflict("select at least one alert")
    if len(ids) > BULK_MAX:
        raise Conflict(f"at most {BULK_MAX} alerts at once")
    result = BulkResult()
    with ctx.session_factory.begin() as session:
        rows = alert_store.alerts_by_id(session, alert_ids=ids)
        missing = [i for i in ids if i not in rows]
        if missing:
            raise NotFound(f"alert #{missing[0]} does not exist")
        refused = sorted({rows[i].team for i in ids if not user.can_act(rows[i].team)})
        if refused:
            raise Forbidden(f"you do not act for team {', '.join(refused)}")
        if action == "assign":
            assignee = _check_assignee(session, assignee)
        now = ctx.now()
        for alert_id in ids:
            try:
                # A savepoint each, so one alert that does not fit leaves the others done.
                with session.begin_nested():
                    _apply_one(session, alert_id, action, user=user, at=now, note=note, assignee=assignee)
            except Conflict as exc:
                result.skipped[alert_id] = str(exc)
            else:
                result.done.append(alert_id)
    return result


def set_available(ctx: WebContext, *, user: User, available: bool) -> None:
    """Mark the signed-in responder on or off for auto-assignment, and commit."""
    with ctx.session_factory.begin() as session:
        cases.set_available(session, user_name=user.name, available=available, now=ctx.now())


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
    return alert_store.deliveries_of(session, alert_id=alert_id)
