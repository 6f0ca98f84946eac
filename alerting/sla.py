"""Case SLAs: business-hours clocks, breach alerts to the team lead, auto-assignment, p50/p90.

A team's SLA (``teams[].sla``) counts from the moment the alert fired, only during the team's
business hours when it has them (``alerting.windows``), so a complaint at 23:00 on a Friday is
not late on Saturday. A breach raises one alert per team and kind on the team's channels (or
``sla.channels``) listing every case that crossed the line in this check: 36 outage cases going
late together page the lead once, not 36 times. Each case is breached at most once per clock.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from alerting import lifecycle, monitors
from alerting.config import SlaConfig, TeamConfig
from alerting.windows import Schedule, TimeWindow
from domain import AlertKind, Urgency
from storage import accounts, cases
from storage.case_tables import CaseRow

ACTOR = "earshot"
AUTO_ACTOR = "earshot (auto-assign)"
# SLA breach alerts are their own kind where the domain has it; until then they read as a
# system alert like source health, which channels already render without a mention.
BREACH_KIND: AlertKind = getattr(AlertKind, "SLA_BREACH", AlertKind.SOURCE_HEALTH)
_CHUNK_DAYS = 14
_HORIZON_DAYS = 400


def schedule_of(team: TeamConfig) -> Schedule | None:
    """The business hours an SLA counts in, or None when it counts every hour."""
    if team.sla is not None and not team.sla.business_hours_only:
        return None
    if not team.business_hours:
        return None
    return Schedule(team.timezone, business_hours=team.business_hours)


def _day_windows(
    zone: ZoneInfo, windows: Sequence[TimeWindow], day: date
) -> Iterator[tuple[datetime, datetime]]:
    weekday = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[day.weekday()]
    for window in windows:
        if weekday not in window.days:
            continue
        start = datetime.combine(day, window.start, zone)
        end_day = day if window.end > window.start else day + timedelta(days=1)
        yield start, datetime.combine(end_day, window.end, zone)


def open_intervals(schedule: Schedule, since: datetime) -> Iterator[tuple[datetime, datetime]]:
    """The business-hour intervals from ``since`` on, merged and in order (about a year ahead)."""
    zone = ZoneInfo(schedule.timezone)
    first = since.astimezone(zone).date() - timedelta(days=1)
    pending: tuple[datetime, datetime] | None = None
    for chunk in range(0, _HORIZON_DAYS, _CHUNK_DAYS):
        spans = sorted(
            (s.astimezone(since.tzinfo), e.astimezone(since.tzinfo))
            for offset in range(chunk, chunk + _CHUNK_DAYS)
            for s, e in _day_windows(zone, schedule.business_hours, first + timedelta(days=offset))
        )
        for start, end in spans:
            if pending is not None and start <= pending[1]:
                pending = (pending[0], max(pending[1], end))
                continue
            if pending is not None and pending[1] > since:
                yield max(pending[0], since), pending[1]
            pending = (start, end)
    if pending is not None and pending[1] > since:
        yield max(pending[0], since), pending[1]


def add_business_time(schedule: Schedule | None, start: datetime, seconds: float) -> datetime:
    """The moment ``seconds`` of business time after ``start`` (wall-clock time without a schedule)."""
    if schedule is None or not schedule.business_hours:
        return start + timedelta(seconds=seconds)
    remaining = seconds
    for s, e in open_intervals(schedule, start):
        span = (e - s).total_seconds()
        if span >= remaining:
            return s + timedelta(seconds=remaining)
        remaining -= span
    return start + timedelta(seconds=seconds)  # windows that never open: the wall clock decides


def business_seconds(schedule: Schedule | None, start: datetime, end: datetime) -> float:
    """Seconds of business time between ``start`` and ``end`` (wall-clock without a schedule)."""
    if end <= start:
        return 0.0
    if schedule is None or not schedule.business_hours:
        return (end - start).total_seconds()
    total = 0.0
    for s, e in open_intervals(schedule, start):
        if s >= end:
            break
        total += (min(e, end) - s).total_seconds()
    return total


@dataclass(frozen=True, slots=True)
class Due:
    """When a case's first response and resolution are due (None: no target)."""

    first_response: datetime | None
    resolution: datetime | None


def due(team: TeamConfig, opened_at: datetime) -> Due:
    """A case's deadlines under its team's SLA."""
    sla = team.sla or SlaConfig()
    schedule = schedule_of(team)
    return Due(
        first_response=None
        if sla.first_response is None
        else add_business_time(schedule, opened_at, sla.first_response),
        resolution=None if sla.resolution is None else add_business_time(schedule, opened_at, sla.resolution),
    )


def _human(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h"
    if seconds >= 60:
        return f"{round(seconds / 60)}m"
    return f"{int(seconds)}s"


def check_breaches(
    session: Session, *, teams: Mapping[str, TeamConfig], routes: Sequence[object] = (), now: datetime
) -> list[int]:
    """Raise one alert per team and clock for the cases that went past their SLA; return their ids."""
    raised: list[int] = []
    for team in teams.values():
        if team.sla is None or (team.sla.first_response is None and team.sla.resolution is None):
            continue
        late: dict[str, list[CaseRow]] = {"first_response": [], "resolution": []}
        for case in cases.sla_pending(session, team=team.name):
            deadline = due(team, case.opened_at)
            if (
                deadline.first_response is not None
                and case.first_response_at is None
                and case.first_response_breached_at is None
                and now >= deadline.first_response
            ):
                case.first_response_breached_at = now
                late["first_response"].append(case)
            if (
                deadline.resolution is not None
                and case.resolution_breached_at is None
                and now >= deadline.resolution
            ):
                case.resolution_breached_at = now
                late["resolution"].append(case)
        for clock, breached in late.items():
            if breached:
                raised.append(
                    _raise(session, team=team, teams=teams, clock=clock, breached=breached, now=now)
                )
    return raised


def _raise(
    session: Session,
    *,
    team: TeamConfig,
    teams: Mapping[str, TeamConfig],
    clock: str,
    breached: list[CaseRow],
    now: datetime,
) -> int:
    assert team.sla is not None
    target = team.sla.first_response if clock == "first_response" else team.sla.resolution
    assert target is not None
    what = "a first response" if clock == "first_response" else "resolution"
    ids = [c.alert_id for c in breached]
    listed = ", ".join(f"#{i}" for i in ids[:20]) + (f" and {len(ids) - 20} more" if len(ids) > 20 else "")
    hours = " business" if schedule_of(team) is not None else ""
    title = (
        f"SLA breach: {len(ids)} case(s) of team {team.name} waited over {_human(target)}{hours} for {what}"
    )
    row = monitors.raise_system_alert(
        session,
        kind=BREACH_KIND,
        route="sla",
        team=team,
        teams=teams,
        title=title,
        summary=f"{title}: {listed}",
        urgency=Urgency.HIGH,
        reason=f"sla.{clock} {_human(target)}{hours} exceeded",
        group_key=f"sla|{team.name}|{clock}|{now.isoformat()}",
        snapshot={"name": "sla", "team": team.name, "sla": team.sla.model_dump(mode="json")},
        labels={"kind": "sla_breach", "team": team.name},
        now=now,
        details={"sla": clock, "cases": ids, "target_seconds": target},
        channels=team.sla.channels,
    )
    for alert_id in ids:
        cases.note_breach(session, alert_id=alert_id, clock=clock, breach_alert=row.id, now=now)
    return row.id


def auto_assign(
    session: Session,
    *,
    teams: Mapping[str, TeamConfig],
    now: datetime,
    members: Callable[[Session, str], list[str]] | None = None,
) -> int:
    """Give each team's new unassigned cases round-robin to its responders who are on; return how many.

    A responder is on when they said so (``cases.set_available``) and the team is in its business
    hours; nobody gets more than ``max_open_per_person`` unresolved cases. The alerts of one
    notification group all go to the person who holds the group.
    """
    members = members or team_responders
    assigned = 0
    for team in teams.values():
        policy = team.auto_assign
        if policy is None or not policy.enabled:
            continue
        schedule = schedule_of(team)
        if schedule is not None and schedule.is_off(now):
            continue
        people = cases.available(session, sorted(members(session, team.name)))
        if not people:
            continue
        load = cases.open_load(session, people)
        turn = cases.rotation(session, team.name, now=now)
        for alert in cases.unassigned_open(session, team=team.name):
            owner = cases.group_owner(session, alert.id)
            if owner is not None:
                # One outage is one job: the rest of a group goes to whoever holds it, uncapped.
                lifecycle.assign(session, alert_id=alert.id, assignee=owner, actor=AUTO_ACTOR, now=now)
                session.flush()
                assigned += 1
                continue
            start = people.index(turn.last_user) + 1 if turn.last_user in people else 0
            order = people[start:] + people[:start]
            person = next((p for p in order if load[p] < policy.max_open_per_person), None)
            if person is None:
                break  # everyone is at their cap: the rest wait for someone to finish
            lifecycle.assign(session, alert_id=alert.id, assignee=person, actor=AUTO_ACTOR, now=now)
            session.flush()  # so the group's next alerts find their owner
            load[person] += 1
            turn.last_user, turn.updated_at = person, now
            assigned += 1
    return assigned


def team_responders(session: Session, team: str) -> list[str]:
    """The names of the responders of ``team``."""
    return [a.name for a in accounts.list_users(session) if a.role == "responder" and team in a.teams]


def run_timers(session: Session, *, teams: Mapping[str, TeamConfig], now: datetime) -> tuple[int, int]:
    """The periodic case work: auto-assign new cases, then raise SLA breaches; (assigned, alerts)."""
    return auto_assign(session, teams=teams, now=now), len(check_breaches(session, teams=teams, now=now))


@dataclass(frozen=True, slots=True)
class TeamStats:
    """One team's response figures over a window, in seconds (business time where it has hours)."""

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


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` (0..1) quantile by linear interpolation between closest ranks; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def team_stats(
    session: Session, *, teams: Mapping[str, TeamConfig], since: datetime, until: datetime
) -> list[TeamStats]:
    """First-response and resolution p50/p90 per team for the cases opened in [since, until)."""
    by_team: dict[str, list[cases.CaseTimes]] = {}
    for times in cases.response_times(session, since=since, until=until):
        by_team.setdefault(times.team, []).append(times)
    out = []
    for name in sorted(set(by_team) | {n for n, t in teams.items() if t.sla is not None}):
        team = teams.get(name)
        schedule = schedule_of(team) if team is not None else None
        rows = by_team.get(name, [])
        frt = [
            business_seconds(schedule, t.opened_at, t.first_response_at) for t in rows if t.first_response_at
        ]
        res = [business_seconds(schedule, t.opened_at, t.resolved_at) for t in rows if t.resolved_at]
        sla = team.sla if team is not None else None
        out.append(
            TeamStats(
                team=name,
                cases=len(rows),
                answered=len(frt),
                resolved=len(res),
                first_response_p50=percentile(frt, 0.5),
                first_response_p90=percentile(frt, 0.9),
                resolution_p50=percentile(res, 0.5),
                resolution_p90=percentile(res, 0.9),
                first_response_target=sla.first_response if sla else None,
                resolution_target=sla.resolution if sla else None,
            )
        )
    return out
