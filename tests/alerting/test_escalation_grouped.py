"""Escalation follows grouping at the issue's scale: 36 outage alerts page once per step, not 36 times."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from alerting import escalation
from alerting.config import EscalationConfig, EscalationStep, RouteConfig, RouteMatch, TeamConfig
from domain import Urgency
from storage.alerting_tables import AlertEscalationRow
from tests.alerting.helpers import Harness, at, classified
from tests.factories import mention

CHAIN = EscalationConfig(steps=[EscalationStep(wait=300, channels=["pager"])], repeat=2)


def test_thirty_six_grouped_alerts_escalate_as_one(sessions: sessionmaker[Session]) -> None:
    route = RouteConfig(
        name="outages",
        team="ops",
        match=RouteMatch(categories=["outage"]),
        group_by=["brand"],
        group_wait="30s",
        group_interval="60s",
    )
    default = RouteConfig(name="default", team="ops", default=True)
    teams = [TeamConfig(name="ops", channels=["recording"], escalation=CHAIN)]
    h = Harness(sessions, [route, default], teams, channels=("recording", "pager"))
    outage = classified("outage", urgency=Urgency.CRITICAL)
    alerts = [h.raise_for(mention(str(i), f"lumora down {i}"), outage)[0] for i in range(12)]
    h.clock.now = at(30)
    h.deliver()
    # More of the same outage arrives after the first grouped notification went out.
    h.clock.now = at(100)
    alerts += [h.raise_for(mention(f"late{i}", f"still down {i}"), outage)[0] for i in range(24)]
    h.clock.now = at(160)
    h.deliver()
    assert len(alerts) == 36 and sorted(i for group in h.sent() for i in group) == sorted(alerts)
    assert len(h.sent()) == 2  # two grouped notifications, not 36
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(AlertEscalationRow)) == 1
    pages = 0
    for step in range(1, 4):
        h.clock.now = at(30 + 300 * step + 1)
        with sessions.begin() as session:
            pages += escalation.run_due(session, now=h.clock())
        h.deliver()
    # One escalation, run through its chain (one step, repeated twice): three pages in all.
    assert pages == 3
    pager = [n for n in h.recorders["pager"].sent if n.action == "escalate"]
    assert len(pager) == 3 and {n.alert.group_key for n in pager} == {"outages|brand=Lumora"}
