"""Escalation chains: wait, notify the next channels unless acknowledged, repeat; snapshotted at fire."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from alerting import escalation, lifecycle
from alerting.config import EscalationConfig, EscalationStep, RouteConfig, RouteMatch, TeamConfig
from alerting.routing import Router
from domain import Urgency
from storage.alerting_tables import AlertEscalationRow
from tests.alerting.helpers import Harness, at, classified, deliveries, events
from tests.factories import mention

CHAIN = EscalationConfig(
    steps=[EscalationStep(wait=300, channels=["pager"]), EscalationStep(wait=600, channels=["phone"])],
    repeat=1,
)
ROUTES = [
    RouteConfig(name="outages", team="ops", match=RouteMatch(categories=["outage"])),
    RouteConfig(name="default", team="ops", default=True),
]


def _harness(sessions: sessionmaker[Session], chain: EscalationConfig = CHAIN) -> Harness:
    teams = [TeamConfig(name="ops", channels=["recording"], escalation=chain)]
    return Harness(sessions, ROUTES, teams, channels=("recording", "pager", "phone"))


def _escalations(sessions: sessionmaker[Session], alert: int) -> list[tuple[str, str]]:
    return [(d["channel"], d["key"]) for d in deliveries(sessions, alert) if d["action"] == "escalate"]


# (seconds, step, expected escalations notified by that run)
PLAIN = [
    (299, "run", 0),
    (300, "run", 1),
    (899, "run", 0),
    (900, "run", 1),
    (1200, "run", 1),
    (1800, "run", 1),
]
ACKED = [(300, "run", 1), (600, "ack", None), (900, "run", 0), (5000, "run", 0)]
RESOLVED = [(100, "resolve", None), (300, "run", 0)]


@pytest.mark.parametrize(
    ("script", "channels", "state"),
    [
        ([*PLAIN, (9000, "run", 0)], ["pager", "phone", "pager", "phone"], "done"),
        (ACKED, ["pager"], "stopped"),
        (RESOLVED, [], "stopped"),
    ],
)
def test_escalation_timeline(
    sessions: sessionmaker[Session], script: list[tuple[int, str, Any]], channels: list[str], state: str
) -> None:
    h = _harness(sessions)
    (alert,) = h.raise_for(mention("1", "lumora down"), classified("outage", urgency=Urgency.CRITICAL))
    for seconds, step, expected in script:
        h.clock.now = at(seconds)
        with sessions.begin() as session:
            if step == "run":
                assert escalation.run_due(session, now=h.clock()) == expected, seconds
            elif step == "ack":
                lifecycle.acknowledge(session, alert_id=alert, actor="ann", now=h.clock())
            else:
                lifecycle.resolve(session, alert_id=alert, actor="ann", now=h.clock())
    assert [c for c, _ in _escalations(sessions, alert)] == channels
    # Each step and round has its own idempotency key, so a receiver does not drop round two.
    assert len({k for _, k in _escalations(sessions, alert)}) == len(channels)
    with sessions() as session:
        assert session.get_one(AlertEscalationRow, alert).state == state


def test_acknowledging_tells_every_channel_that_was_paged(sessions: sessionmaker[Session]) -> None:
    h = _harness(sessions)
    (alert,) = h.raise_for(mention("1", "lumora down"), classified("outage"))
    h.clock.now = at(300)
    with sessions.begin() as session:
        escalation.run_due(session, now=h.clock())
    with sessions.begin() as session:
        lifecycle.acknowledge(session, alert_id=alert, actor="ann", now=h.clock())
    acks = sorted(d["channel"] for d in deliveries(sessions, alert) if d["action"] == "acknowledge")
    assert acks == ["pager", "recording"]
    assert ("escalation_stopped", "acknowledged") in events(sessions, alert)
    h.deliver()
    assert [n.action for n in h.recorders["pager"].sent] == ["escalate", "acknowledge"]


def test_chain_is_snapshotted_when_the_alert_fires(sessions: sessionmaker[Session]) -> None:
    h = _harness(sessions)
    (old,) = h.raise_for(mention("1", "lumora down"), classified("outage"))
    # The team's chain is edited while the first alert escalates.
    edited = EscalationConfig(steps=[EscalationStep(wait=60, channels=["phone"])])
    h.router = Router(ROUTES, [TeamConfig(name="ops", channels=["recording"], escalation=edited)])
    (new,) = h.raise_for(mention("2", "lumora down again"), classified("outage"))
    with sessions() as session:
        assert session.get_one(AlertEscalationRow, old).chain == CHAIN.model_dump(mode="json")
    h.clock.now = at(300)
    with sessions.begin() as session:
        assert escalation.run_due(session, now=h.clock()) == 2
    assert [c for c, _ in _escalations(sessions, old)] == ["pager"]
    assert [c for c, _ in _escalations(sessions, new)] == ["phone"]


@pytest.mark.parametrize(
    ("urgency", "escalates"), [(Urgency.MEDIUM, False), (Urgency.HIGH, True), (Urgency.CRITICAL, True)]
)
def test_only_urgent_enough_alerts_escalate(
    sessions: sessionmaker[Session], urgency: Urgency, escalates: bool
) -> None:
    h = _harness(sessions)
    (alert,) = h.raise_for(mention("1", "lumora down"), classified("outage", urgency=urgency))
    with sessions() as session:
        assert (session.get(AlertEscalationRow, alert) is not None) is escalates


def test_escalation_waits_count_from_a_held_notification(sessions: sessionmaker[Session]) -> None:
    from alerting.windows import TimeWindow

    night = TimeWindow(start="00:00", end="06:00")  # UTC; the test clock starts at 12:00
    teams = [TeamConfig(name="ops", channels=["recording"], escalation=CHAIN, quiet_hours=[night])]
    h = Harness(sessions, ROUTES, teams, channels=("recording", "pager", "phone"))
    h.clock.now = at(13 * 3600)  # 01:00: quiet, so the fire notification waits until 06:00
    (alert,) = h.raise_for(mention("1", "lumora down"), classified("outage"))
    assert deliveries(sessions, alert)[0]["due"] == at(18 * 3600)
    with sessions() as session:
        assert session.get_one(AlertEscalationRow, alert).next_at == at(18 * 3600 + 300)


def test_escalation_follows_grouping_one_per_group(sessions: sessionmaker[Session]) -> None:
    grouped = RouteConfig(
        name="outages",
        team="ops",
        match=RouteMatch(categories=["outage"]),
        group_by=["brand"],
        group_wait="30s",
    )
    teams = [TeamConfig(name="ops", channels=["recording"], escalation=CHAIN)]
    h = Harness(sessions, [grouped, ROUTES[1]], teams, channels=("recording", "pager", "phone"))
    alerts = [
        h.raise_for(mention(str(i), f"lumora down {i}"), classified("outage", urgency=Urgency.CRITICAL))[0]
        for i in range(5)
    ]
    h.clock.now = at(30)
    h.deliver()
    assert h.sent() == [alerts]  # one grouped notification...
    h.clock.now = at(330)
    with sessions.begin() as session:
        assert escalation.run_due(session, now=h.clock()) == 1  # ...and one escalation, not five
    h.deliver()
    (page,) = h.recorders["pager"].sent
    assert sorted(a["id"] for a in page.alert.details["group"]["alerts"]) == alerts
    assert page.alert.group_key == "outages|brand=Lumora"
    # Acknowledging some of the group does not stop it: the rest still needs someone.
    with sessions.begin() as session:
        for alert in alerts[:4]:
            lifecycle.acknowledge(session, alert_id=alert, actor="ann", now=h.clock())
    h.clock.now = at(930)
    with sessions.begin() as session:
        assert escalation.run_due(session, now=h.clock()) == 1
    h.deliver()
    (phone,) = h.recorders["phone"].sent
    assert phone.alert.id == alerts[4] and phone.alert.group_key == "outages|brand=Lumora"
    with sessions.begin() as session:
        lifecycle.acknowledge(session, alert_id=alerts[4], actor="ann", now=h.clock())
    h.clock.now = at(5000)
    with sessions.begin() as session:
        assert escalation.run_due(session, now=h.clock()) == 0
    h.deliver()
    # The group is acknowledged once, on every channel that heard about it.
    acks = {
        c: [n.alert.group_key for n in r.sent if n.action == "acknowledge"] for c, r in h.recorders.items()
    }
    assert acks == {c: ["outages|brand=Lumora"] for c in ("recording", "pager", "phone")}
