"""Cases: status, internal notes, "answered elsewhere", availability and response-time figures.

An alert's case is reached through the alert: ``/api/alerts/{alert_id}/case``. Team SLAs come
from ``app.state.teams`` (the configured ``TeamConfig`` by name; none means wall-clock figures
and no targets).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from prometheus_client.core import GaugeMetricFamily, Metric
from pydantic import BaseModel, Field

from alerting import sla
from alerting.config import TeamConfig
from storage import cases as case_store
from storage.case_tables import CaseNoteRow, CaseRow
from storage.models import AlertRow
from web import actions
from web.auth import ActingUser, CurrentUser, User
from web.context import Context, WebContext
from web.inputs import NOTE_CHARS, AlertId

router = APIRouter(prefix="/api", tags=["cases"])

ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "the alert belongs to a team you do not act for"},
    404: {"description": "no such alert"},
    409: {"description": "not allowed in the case's state"},
}
CaseStatus = Literal["open", "in_progress", "waiting_on_customer", "resolved"]


class CaseOut(BaseModel):
    """Where an alert's case stands and when it is due under the team's SLA."""

    alert_id: int
    team: str
    status: str
    opened_at: datetime
    first_response_at: datetime | None
    first_response_by: str | None
    first_response_via: str | None
    resolved_at: datetime | None
    first_response_due: datetime | None
    resolution_due: datetime | None
    first_response_breached: bool
    resolution_breached: bool


class NoteOut(BaseModel):
    """An internal note."""

    id: int
    at: datetime
    author: str
    text: str


class StatusIn(BaseModel):
    """The case status to move to."""

    status: CaseStatus


class NoteIn(BaseModel):
    """An internal note's text."""

    text: str = Field(min_length=1, max_length=NOTE_CHARS)


class AvailabilityIn(BaseModel):
    """Whether the signed-in responder takes auto-assigned cases."""

    available: bool


class TeamStatsOut(BaseModel):
    """A team's response figures in seconds (business time where the team has business hours)."""

    team: str
    cases: int
    answered: int
    resolved: int
    first_response_p50: float | None
    first_response_p90: float | None
    resolution_p50: float | None
    resolution_p90: float | None
    first_response_target: float | None
    resolution_target: float | None


class StatsOut(BaseModel):
    """Response figures per team for the cases opened in [since, until)."""

    since: datetime
    until: datetime
    teams: list[TeamStatsOut]


@contextmanager
def refusals_as_http() -> Iterator[None]:
    """Answer an action's refusal as the API's HTTP error: 404, 403 or 409 with its reason."""
    try:
        yield
    except actions.NotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    except actions.Forbidden as exc:
        raise HTTPException(403, str(exc)) from exc
    except actions.Conflict as exc:
        raise HTTPException(409, str(exc)) from exc


def team_configs(request: Request) -> dict[str, TeamConfig]:
    """The configured teams by name, as the composition root left them on the app."""
    teams = getattr(request.app.state, "teams", None)
    return dict(teams) if isinstance(teams, dict) else {}


def case_out(row: CaseRow, team: TeamConfig | None) -> CaseOut:
    """The API view of a case, with its deadlines under ``team``'s SLA."""
    deadline = sla.due(team, row.opened_at) if team is not None else sla.Due(None, None)
    return CaseOut(
        alert_id=row.alert_id,
        team=row.team,
        status=row.status,
        opened_at=row.opened_at,
        first_response_at=row.first_response_at,
        first_response_by=row.first_response_by,
        first_response_via=row.first_response_via,
        resolved_at=row.resolved_at,
        first_response_due=deadline.first_response,
        resolution_due=deadline.resolution,
        first_response_breached=row.first_response_breached_at is not None,
        resolution_breached=row.resolution_breached_at is not None,
    )


def note_out(row: CaseNoteRow) -> NoteOut:
    """The API view of a note."""
    return NoteOut(id=row.id, at=row.at, author=row.author, text=row.text)


def stats(ctx: WebContext, teams: dict[str, TeamConfig], *, days: int = 30) -> StatsOut:
    """Response figures per team over the last ``days`` days."""
    until = ctx.now()
    since = until - timedelta(days=days)
    with ctx.session_factory() as session:
        figures = sla.team_stats(session, teams=teams, since=since, until=until)
    return StatsOut(
        since=since,
        until=until,
        teams=[TeamStatsOut.model_validate(f, from_attributes=True) for f in figures],
    )


def case_metric_families(ctx: WebContext, teams: dict[str, TeamConfig], *, days: int = 30) -> list[Metric]:
    """Prometheus gauges of first-response and resolution p50/p90 per team (for /metrics)."""
    first = GaugeMetricFamily(
        "earshot_case_first_response_seconds",
        f"First-response time of cases opened in the last {days} days, by team and quantile.",
        labels=["team", "quantile"],
    )
    resolution = GaugeMetricFamily(
        "earshot_case_resolution_seconds",
        f"Resolution time of cases opened in the last {days} days, by team and quantile.",
        labels=["team", "quantile"],
    )
    for team in stats(ctx, teams, days=days).teams:
        for quantile, frt, res in (
            ("0.5", team.first_response_p50, team.resolution_p50),
            ("0.9", team.first_response_p90, team.resolution_p90),
        ):
            if frt is not None:
                first.add_metric([team.team, quantile], frt)
            if res is not None:
                resolution.add_metric([team.team, quantile], res)
    return [first, resolution]


def _case(ctx: WebContext, request: Request, alert_id: int) -> CaseOut:
    with ctx.session_factory.begin() as session:
        alert = session.get(AlertRow, alert_id)
        if alert is None:
            raise HTTPException(404, f"alert #{alert_id} does not exist")
        row = case_store.case_of(session, alert, now=ctx.now())
        return case_out(row, team_configs(request).get(row.team))


def _act(
    ctx: WebContext, request: Request, alert_id: int, action: actions.Action, user: User, **kwargs: Any
) -> CaseOut:
    with refusals_as_http():
        actions.apply(ctx, alert_id, action, user=user, **kwargs)
    return _case(ctx, request, alert_id)


@router.get("/alerts/{alert_id}/case", response_model=CaseOut, responses={404: ERRORS[404]})
def get_case(ctx: Context, request: Request, user: CurrentUser, alert_id: AlertId) -> CaseOut:
    """An alert's case: status, first response, resolution and SLA deadlines."""
    return _case(ctx, request, alert_id)


@router.post("/alerts/{alert_id}/case/status", response_model=CaseOut, responses=ERRORS)
def set_status(
    ctx: Context, request: Request, user: ActingUser, alert_id: AlertId, body: StatusIn
) -> CaseOut:
    """Move a case: open, in_progress, waiting_on_customer or resolved (which resolves the alert)."""
    return _act(ctx, request, alert_id, "status", user, status=body.status)


@router.post("/alerts/{alert_id}/case/answered", response_model=CaseOut, responses=ERRORS)
def answered_elsewhere(ctx: Context, request: Request, user: ActingUser, alert_id: AlertId) -> CaseOut:
    """Record that the customer was answered outside Earshot: the case's first response."""
    return _act(ctx, request, alert_id, "answered", user)


@router.get("/alerts/{alert_id}/notes", response_model=list[NoteOut], responses={404: ERRORS[404]})
def list_notes(ctx: Context, user: CurrentUser, alert_id: AlertId) -> list[NoteOut]:
    """A case's internal notes, oldest first."""
    with ctx.session_factory() as session:
        if session.get(AlertRow, alert_id) is None:
            raise HTTPException(404, f"alert #{alert_id} does not exist")
        return [note_out(n) for n in case_store.notes(session, alert_id)]


@router.post("/alerts/{alert_id}/notes", response_model=list[NoteOut], status_code=201, responses=ERRORS)
def add_note(ctx: Context, user: ActingUser, alert_id: AlertId, body: NoteIn) -> list[NoteOut]:
    """Add an internal note (never sent to the customer); returns every note."""
    with refusals_as_http():
        actions.apply(ctx, alert_id, "note", user=user, note=body.text.strip())
    return list_notes(ctx, user, alert_id)


@router.get("/cases/stats", response_model=StatsOut)
def case_stats(
    ctx: Context, request: Request, user: CurrentUser, days: Annotated[int, Query(ge=1, le=366)] = 30
) -> StatsOut:
    """First-response and resolution p50/p90 per team, for cases opened in the last ``days`` days."""
    return stats(ctx, team_configs(request), days=days)


@router.put("/me/availability", response_model=AvailabilityIn)
def set_availability(ctx: Context, user: ActingUser, body: AvailabilityIn) -> AvailabilityIn:
    """Say whether you are on: auto-assignment gives new cases only to responders who are on."""
    actions.set_available(ctx, user=user, available=body.available)
    return body


@router.get("/me/availability", response_model=AvailabilityIn)
def get_availability(ctx: Context, user: CurrentUser) -> AvailabilityIn:
    """Whether you take auto-assigned cases."""
    with ctx.session_factory() as session:
        return AvailabilityIn(available=case_store.is_available(session, user.name))
