"""Case SLAs on a controllable clock: business-hours deadlines, breach alerts, auto-assignment, p50/p90."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from alerting import grouping, lifecycle, sla
from alerting.config import AutoAssignConfig, GroupingConfig, SlaConfig, TeamConfig
from alerting.windows import Schedule, TimeWindow, Weekday
from domain import AlertKind, Urgency
from storage import accounts, cases
from storage.alerts import NewAlert, create_alert
from storage.case_tables import CaseRow
from storage.models import AlertRow, DeliveryRow

WEEKDAYS = [Weekday.MON, Weekday.TUE, Weekday.WED, Weekday.THU, Weekday.FRI]
OFFICE = [TimeWindow(days=WEEKDAYS, start="09:00", end="17:00")]
PARIS = Schedule("Europe/Paris", business_hours=OFFICE)
FRIDAY = datetime(2024, 5, 10, 12, 0, tzinfo=UTC)  # 14:00 in Paris


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "seconds", "expected"),
    [
        (utc(2024, 5, 10, 12, 0), 1800, utc(2024, 5, 10, 12, 30)),  # inside business hours
        (utc(2024, 5, 10, 14, 50), 1800, utc(2024, 5, 13, 7, 20)),  # Fri 16:50 Paris -> Mon 09:20
        (utc(2024, 5, 11, 10, 0), 3600, utc(2024, 5, 13, 8, 0)),  # Saturday -> Mon 10:00 Paris
        (utc(2024, 5, 13, 5, 0), 60, utc(2024, 5, 13, 7, 1)),  # Monday before opening
        (utc(2024, 5, 10, 12, 0), 8 * 3600, utc(2024, 5, 13, 12, 0)),  # 3h Friday + 5h Monday (14:00 Paris)
        # Over the spring DST change (31 March): Fri 16:30 CET + 1h -> Mon 09:30 CEST.
        (utc(2024, 3, 29, 15, 30), 3600, utc(2024, 4, 1, 7, 30)),
    ],
)
def test_add_business_time(start: datetime, seconds: float, expected: datetime) -> None:
    assert sla.add_business_time(PARIS, start, seconds) == expected
    assert sla.business_seconds(PARIS, start, expected) == seconds


def test_without_business_hours_the_wall_clock_counts() -> None:
    assert sla.add_business_time(None, FRIDAY, 90) == FRIDAY + timedelta(seconds=90)
    assert sla.business_seconds(None, FRIDAY, FRIDAY + timedelta(hours=30)) == 30 * 3600
    assert sla.business_seconds(PARIS, utc(2024, 5, 10, 14, 0), utc(2024, 5, 13, 8, 0)) == 7200
    team = TeamConfig(
        name="t", business_hours=OFFICE, timezone="Europe/Paris", sla=SlaConfig(first_response=60)
    )
    assert sla.schedule_of(team) is not None
    counting_all = team.model_copy(update={"sla": SlaConfig(first_response=60, business_hours_only=False)})
    assert sla.schedule_of(counting_all) is None


def _alerts(sessions: sessionmaker[Session], n: int, *, at: datetime, team: str = "support") -> list[int]:
    with sessions.begin() as session:
        return [
            create_alert(
                session,
                NewAlert(
                    kind=AlertKind.MENTION,
                    title=f"complaint {i}",
                    summary="",
                    urgency=Urgency.HIGH,
                    team=team,
                    route_name="complaints",
                    route_snapshot={},
                    reason="test",
                    group_key=f"{team}|g{i}|{at.isoformat()}",
                    channels=(),
                ),
                now=at,
            ).id
            for i in range(n)
        ]


def _check(sessions: sessionmaker[Session], teams: dict[str, TeamConfig], now: datetime) -> list[AlertRow]:
    with sessions.begin() as session:
        ids = sla.check_breaches(session, teams=teams, now=now)
        rows = [session.get_one(AlertRow, i) for i in ids]
        session.expunge_all()
        return rows


def _outbox(sessions: sessionmaker[Session], alert_id: int) -> list[str]:
    with sessions() as session:
        return list(session.scalars(select(DeliveryRow.channel).where(DeliveryRow.alert_id == alert_id)))


TEAMS = {
    "support": TeamConfig(
        name="support", channels=["slack-support"], sla=SlaConfig(first_response="30m", resolution="8h")
    )
}


def test_a_breach_alerts_the_team_once_per_check(sessions: sessionmaker[Session]) -> None:
    t0 = FRIDAY
    first, second, answered = _alerts(sessions, 3, at=t0)
    with sessions.begin() as session:
        lifecycle.record_response(session, alert_id=answered, at=t0 + timedelta(minutes=10), by="ann")
    assert _check(sessions, TEAMS, t0 + timedelta(minutes=29)) == []
    [breach] = _check(sessions, TEAMS, t0 + timedelta(minutes=31))
    assert breach.details["cases"] == [first, second] and breach.details["sla"] == "first_response"
    assert breach.team == "support" and breach.urgency == "high"
    assert "2 case(s) of team support waited over 30m for a first response" in breach.title
    assert _outbox(sessions, breach.id) == ["slack-support"]
    # Each case breaches once: the next check says nothing new.
    assert _check(sessions, TEAMS, t0 + timedelta(minutes=45)) == []
    with sessions.begin() as session:
        lifecycle.resolve(session, alert_id=second, actor="ann", now=t0 + timedelta(hours=2))
    [late] = _check(sessions, TEAMS, t0 + timedelta(hours=8, seconds=1))
    assert late.details == {"sla": "resolution", "cases": [first, answered], "target_seconds": 8 * 3600}
    # Breach alerts are not cases on an SLA clock themselves.
    assert _check(sessions, TEAMS, t0 + timedelta(days=3)) == []
    with sessions() as session:
        row = session.get_one(CaseRow, first)
        assert row.first_response_breached_at == t0 + timedelta(minutes=31)
        assert row.resolution_breached_at == t0 + timedelta(hours=8, seconds=1)


def test_breach_channels_override(sessions: sessionmaker[Session]) -> None:
    teams = {
        "support": TeamConfig(
            name="support",
            channels=["slack-support"],
            sla=SlaConfig(first_response=60, channels=["lead-email"]),
        )
    }
    _alerts(sessions, 1, at=FRIDAY)
    [breach] = _check(sessions, teams, FRIDAY + timedelta(minutes=2))
    assert _outbox(sessions, breach.id) == ["lead-email"]


def test_business_hours_stop_the_clock(sessions: sessionmaker[Session]) -> None:
    teams = {
        "support": TeamConfig(
            name="support",
            channels=["slack-support"],
            timezone="Europe/Paris",
            business_hours=OFFICE,
            sla=SlaConfig(first_response="30m"),
        )
    }
    friday_evening = utc(2024, 5, 10, 14, 50)  # 16:50 in Paris, ten minutes before closing
    _alerts(sessions, 1, at=friday_evening)
    assert _check(sessions, teams, utc(2024, 5, 11, 12, 0)) == []  # Saturday: the clock is stopped
    assert _check(sessions, teams, utc(2024, 5, 13, 7, 19)) == []  # Monday 09:19 in Paris
    [breach] = _check(sessions, teams, utc(2024, 5, 13, 7, 21))
    assert "30m business" in breach.title


def _assignees(sessions: sessionmaker[Session], ids: list[int]) -> list[str | None]:
    with sessions() as session:
        return [session.get_one(AlertRow, i).assignee for i in ids]


def test_auto_assign_round_robin_with_a_cap(sessions: sessionmaker[Session]) -> None:
    teams = {"support": TeamConfig(name="support", auto_assign=AutoAssignConfig(max_open_per_person=2))}
    ids = _alerts(sessions, 5, at=FRIDAY)
    with sessions.begin() as session:
        for name, on in [("ann", True), ("bob", True), ("cy", False)]:
            cases.set_available(session, user_name=name, available=on, now=FRIDAY)

    def members(session: Session, team: str) -> list[str]:
        return ["cy", "bob", "ann"] if team == "support" else []

    with sessions.begin() as session:
        assert sla.auto_assign(session, teams=teams, now=FRIDAY, members=members) == 4
    assert _assignees(sessions, ids) == ["ann", "bob", "ann", "bob", None]  # cy is off; caps hold
    with sessions.begin() as session:
        lifecycle.resolve(session, alert_id=ids[0], actor="ann", now=FRIDAY)
        assert sla.auto_assign(session, teams=teams, now=FRIDAY, members=members) == 1
    assert _assignees(sessions, ids)[4] == "ann"


def test_auto_assign_uses_the_teams_responders_and_waits_for_business_hours(
    sessions: sessionmaker[Session],
) -> None:
    teams = {
        "support": TeamConfig(
            name="support", timezone="Europe/Paris", business_hours=OFFICE, auto_assign=AutoAssignConfig()
        )
    }
    [alert_id] = _alerts(sessions, 1, at=FRIDAY)
    with sessions.begin() as session:
        accounts.add_user(
            session, name="ann", role="responder", teams=("support",), password_hash=None, now=FRIDAY
        )
        accounts.add_user(
            session, name="root", role="admin", teams=("support",), password_hash=None, now=FRIDAY
        )
        accounts.add_user(
            session, name="fin", role="responder", teams=("finance",), password_hash=None, now=FRIDAY
        )
        for name in ("ann", "root", "fin"):
            cases.set_available(session, user_name=name, available=True, now=FRIDAY)
    saturday = utc(2024, 5, 11, 10, 0)
    with sessions.begin() as session:
        assert sla.auto_assign(session, teams=teams, now=saturday) == 0
    with sessions.begin() as session:
        assert sla.auto_assign(session, teams=teams, now=utc(2024, 5, 13, 8, 0)) == 1
    assert _assignees(sessions, [alert_id]) == ["ann"]


def test_percentiles_per_team(sessions: sessionmaker[Session]) -> None:
    ids = _alerts(sessions, 5, at=FRIDAY)
    _alerts(sessions, 1, at=FRIDAY, team="finance")
    with sessions.begin() as session:
        for minutes, alert_id in zip([10, 20, 30, 40, 50], ids, strict=True):
            cases.record_first_response(
                session, alert_id=alert_id, at=FRIDAY + timedelta(minutes=minutes), by="ann"
            )
        for hours, alert_id in zip([1, 2, 3], ids, strict=False):
            lifecycle.resolve(session, alert_id=alert_id, actor="ann", now=FRIDAY + timedelta(hours=hours))
    with sessions() as session:
        stats = sla.team_stats(
            session, teams=TEAMS, since=FRIDAY - timedelta(days=1), until=FRIDAY + timedelta(days=1)
        )
    by_team = {s.team: s for s in stats}
    support = by_team["support"]
    assert (support.cases, support.answered, support.resolved) == (5, 5, 3)
    assert support.first_response_p50 == 30 * 60 and support.first_response_p90 == 46 * 60
    assert support.resolution_p50 == 2 * 3600 and support.resolution_p90 == pytest.approx(2.8 * 3600)
    assert support.first_response_target == 1800 and support.resolution_target == 8 * 3600
    finance = by_team["finance"]
    assert (finance.cases, finance.first_response_p50, finance.first_response_target) == (1, None, None)


def test_percentile() -> None:
    assert sla.percentile([], 0.5) is None
    assert sla.percentile([7.0], 0.9) == 7.0
    assert sla.percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5


def test_auto_assign_gives_a_whole_group_to_one_person(sessions: sessionmaker[Session]) -> None:
    teams = {"support": TeamConfig(name="support", auto_assign=AutoAssignConfig(max_open_per_person=1))}
    ids = _alerts(sessions, 4, at=FRIDAY)
    lone = _alerts(sessions, 1, at=FRIDAY + timedelta(minutes=1))
    with sessions.begin() as session:
        for alert_id in ids:
            group, _ = grouping.join_group(
                session,
                route="outages",
                grouping=GroupingConfig(group_by=["brand"]),
                labels={"brand": "Acme"},
                now=FRIDAY,
            )
            grouping.add_member(session, group_id=group.id, alert_id=alert_id)
        for name in ("ann", "bob"):
            cases.set_available(session, user_name=name, available=True, now=FRIDAY)
        assert sla.auto_assign(session, teams=teams, now=FRIDAY, members=lambda s, t: ["ann", "bob"]) == 5
    # The outage is ann's however many alerts it has; the cap of one counts it once.
    assert _assignees(sessions, ids + lone) == ["ann", "ann", "ann", "ann", "bob"]
