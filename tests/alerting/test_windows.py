"""Team time windows: quiet hours and business hours in the team's zone; hold, redirect, bypass."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from alerting.config import RouteConfig, RouteMatch, TeamConfig
from alerting.windows import OffHoursPolicy, Schedule, TimeWindow, decide
from domain import Urgency
from tests.alerting.helpers import Harness, classified, deliveries, events
from tests.factories import mention

NIGHTS = TimeWindow(start="22:00", end="07:00")
WEEKDAYS = TimeWindow(days=["mon", "tue", "wed", "thu", "fri"], start="09:00", end="18:00")
PARIS = "Europe/Paris"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("schedule", "now", "expected"),
    [
        # Paris is UTC+1 in winter: quiet 22:00-07:00 local is 21:00-06:00 UTC.
        (Schedule(PARIS, [NIGHTS]), "2026-01-14 20:59", "2026-01-14 20:59"),
        (Schedule(PARIS, [NIGHTS]), "2026-01-14 21:00", "2026-01-15 06:00"),
        (Schedule(PARIS, [NIGHTS]), "2026-01-15 05:59", "2026-01-15 06:00"),
        # Daylight saving starts on 29 March 2026: 07:00 local is then 05:00 UTC.
        (Schedule(PARIS, [NIGHTS]), "2026-03-29 00:30", "2026-03-29 05:00"),
        # Business hours Mon-Fri 09-18 local: Friday evening waits for Monday 09:00 (08:00 UTC).
        (Schedule(PARIS, (), [WEEKDAYS]), "2026-01-16 17:30", "2026-01-19 08:00"),
        (Schedule(PARIS, (), [WEEKDAYS]), "2026-01-14 10:00", "2026-01-14 10:00"),
        # Both: quiet hours inside business hours still hold.
        (
            Schedule(PARIS, [TimeWindow(start="12:00", end="13:00")], [WEEKDAYS]),
            "2026-01-14 11:30",
            "2026-01-14 12:00",
        ),
        (Schedule("America/New_York", [NIGHTS]), "2026-01-15 04:00", "2026-01-15 12:00"),
        (Schedule(PARIS), "2026-01-14 23:00", "2026-01-14 23:00"),
    ],
)
def test_next_on(schedule: Schedule, now: str, expected: str) -> None:
    assert schedule.next_on(utc(now)) == utc(expected)


REDIRECT = OffHoursPolicy(action="redirect", redirect_team="ops")


@pytest.mark.parametrize(
    ("policy", "urgency", "now", "not_before", "redirected"),
    [
        (OffHoursPolicy(), Urgency.HIGH, "2026-01-14 23:00", "2026-01-15 06:00", False),  # held
        (OffHoursPolicy(), Urgency.CRITICAL, "2026-01-14 23:00", "2026-01-14 23:00", False),  # bypass
        (
            OffHoursPolicy(bypass_urgency=None),
            Urgency.CRITICAL,
            "2026-01-14 23:00",
            "2026-01-15 06:00",
            False,
        ),
        (REDIRECT, Urgency.MEDIUM, "2026-01-14 23:00", "2026-01-14 23:00", True),
        (REDIRECT, Urgency.MEDIUM, "2026-01-14 12:00", "2026-01-14 12:00", False),  # team is on
    ],
)
def test_decide(
    policy: OffHoursPolicy, urgency: Urgency, now: str, not_before: str, redirected: bool
) -> None:
    decision = decide(Schedule(PARIS, [NIGHTS]), policy, urgency, utc(now))
    assert (decision.not_before, decision.redirected) == (utc(not_before), redirected)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"name": "x", "timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        ({"name": "x", "off_hours": {"action": "redirect"}}, "needs redirect_team or redirect_channels"),
        ({"name": "x", "quiet_hours": [{"start": "25:00", "end": "07:00"}]}, "quiet_hours.0.start"),
        ({"name": "x", "quiet_hours": [{"days": ["funday"], "start": "1:00", "end": "2:00"}]}, "days.0"),
    ],
)
def test_bad_team_windows_are_config_errors(data: dict[str, object], error: str) -> None:
    with pytest.raises(ValidationError) as info:
        TeamConfig.model_validate(data)
    assert error in str(info.value)


def test_yaml_sexagesimal_times_are_read_as_clock_times() -> None:
    # PyYAML reads an unquoted 22:00 as the integer 1320.
    window = TimeWindow.model_validate({"start": 1320, "end": 420})
    assert (window.start.hour, window.end.hour) == (22, 7)


def _harness(sessions: sessionmaker[Session], policy: OffHoursPolicy) -> Harness:
    support = TeamConfig(
        name="support", channels=["support-chat"], timezone=PARIS, quiet_hours=[NIGHTS], off_hours=policy
    )
    ops = TeamConfig(name="ops", channels=["pager"])
    routes = [
        RouteConfig(name="billing", team="support", match=RouteMatch(categories=["billing"])),
        RouteConfig(name="default", team="ops", default=True),
    ]
    h = Harness(sessions, routes, [support, ops], channels=("support-chat", "pager"))
    h.clock.now = utc("2026-01-14 23:00")
    return h


@pytest.mark.parametrize(
    ("policy", "urgency", "expected", "event"),
    [
        (OffHoursPolicy(), Urgency.HIGH, [("support-chat", "2026-01-15 06:00")], "held"),
        (OffHoursPolicy(), Urgency.CRITICAL, [("support-chat", "2026-01-14 23:00")], "bypassed"),
        (REDIRECT, Urgency.HIGH, [("pager", "2026-01-14 23:00")], "redirected"),
        (
            OffHoursPolicy(action="redirect", redirect_channels=["pager", "support-chat"]),
            Urgency.HIGH,
            [("pager", "2026-01-14 23:00"), ("support-chat", "2026-01-14 23:00")],
            "redirected",
        ),
    ],
)
def test_windows_shape_the_outbox(
    sessions: sessionmaker[Session],
    policy: OffHoursPolicy,
    urgency: Urgency,
    expected: list[tuple[str, str]],
    event: str,
) -> None:
    h = _harness(sessions, policy)
    (alert,) = h.raise_for(mention("1", "lumora charged me twice"), classified("billing", urgency=urgency))
    assert [(d["channel"], d["due"]) for d in deliveries(sessions, alert)] == [
        (c, utc(t)) for c, t in expected
    ]
    assert event in [action for action, _ in events(sessions, alert)]


def test_held_alert_is_delivered_when_the_window_opens(sessions: sessionmaker[Session]) -> None:
    h = _harness(sessions, OffHoursPolicy())
    h.raise_for(mention("1", "lumora charged me twice"), classified("billing"))
    assert h.deliver().delivered == 0
    h.clock.now = utc("2026-01-15 05:59")
    assert h.deliver().delivered == 0
    h.clock.now = utc("2026-01-15 06:00")
    assert h.deliver().delivered == 1
    assert len(h.recorders["support-chat"].sent) == 1


def test_resolving_a_held_alert_cancels_its_notification(sessions: sessionmaker[Session]) -> None:
    from alerting import lifecycle

    h = _harness(sessions, OffHoursPolicy())
    (alert,) = h.raise_for(mention("1", "lumora charged me twice"), classified("billing"))
    with sessions.begin() as session:
        lifecycle.resolve(session, alert_id=alert, actor="ann", now=h.clock())
    assert (
        deliveries(sessions, alert) == []
    )  # neither the held fire nor a resolve to a channel that never heard
    assert events(sessions, alert)[-1] == ("cancelled", "held: support-chat")
    h.clock.now = utc("2026-01-15 06:00")
    assert h.deliver().delivered == 0
