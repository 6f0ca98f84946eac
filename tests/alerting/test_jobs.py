"""The periodic jobs a configuration gets, and alerting end to end through the real pipeline."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from alerting.config import (
    AlertingConfig,
    DigestConfig,
    EscalationConfig,
    EscalationStep,
    RouteConfig,
    RouteMatch,
    SpikeConfig,
    TeamConfig,
)
from alerting.jobs import SourceSchedule, periodic_jobs
from alerting.routing import Router
from collectors.base import FetchResult
from scheduler.delivery import deliver_due
from scheduler.pipeline import run_source
from storage.alerting_tables import AlertEscalationRow
from storage.installation import installation_id
from storage.models import DeliveryRow
from tests.factories import Clock, RecordingChannel, ScriptedCollector, components, mention

OUTAGE = "lumora is down again, sync stuck and 500 errors everywhere"
BERLIN = "lumora login broken, website down and timing out for everyone in Berlin"
PAGING = EscalationConfig(steps=[EscalationStep(wait=120, channels=["pager"])])
TEAMS = [
    TeamConfig(name="ops", channels=["recording"], escalation=PAGING),
    TeamConfig(name="support", channels=["recording"]),
]


@pytest.mark.parametrize(
    ("config", "teams", "brands", "sources", "names"),
    [
        (
            AlertingConfig(),
            TEAMS,
            ["Lumora"],
            [SourceSchedule("demo", "demo", 20)],
            ["alerting timers (escalations, repeats)", "spike detection", "source health"],
        ),
        (
            AlertingConfig(spikes=SpikeConfig(enabled=False)),
            TEAMS,
            ["Lumora"],
            [],
            ["alerting timers (escalations, repeats)"],
        ),
        (
            AlertingConfig(),
            [TeamConfig(name="pr", digest=DigestConfig())],
            [],
            [],
            ["alerting timers (escalations, repeats)", "digests"],
        ),
    ],
)
def test_jobs_for_a_configuration(
    sessions: sessionmaker[Session],
    config: AlertingConfig,
    teams: list[TeamConfig],
    brands: list[str],
    sources: list[SourceSchedule],
    names: list[str],
) -> None:
    jobs = periodic_jobs(
        sessions=sessions,
        config=config,
        teams=teams,
        routes=[],
        channels={},
        brands=brands,
        sources=sources,
        clock=Clock(),
    )
    assert [j.name for j in jobs] == names
    for job in jobs:
        job.run()  # each runs in its own transaction without error on an empty database


def test_mention_to_grouped_notification_to_escalation(sessions: sessionmaker[Session]) -> None:
    clock = Clock()
    collector = ScriptedCollector(
        "fake",
        [FetchResult(mentions=[mention("1", OUTAGE), mention("2", BERLIN, handle="b")], cursor={})],
    )
    comps = components(sessions, {"fake": collector}, clock=clock)
    routes = [
        RouteConfig(name="outages", team="ops", match=RouteMatch(categories="outage"), group_wait=30),
        RouteConfig(name="default", team="support", default=True),
    ]
    comps.router = Router(routes, TEAMS)
    pager = RecordingChannel()
    comps.channels["pager"] = pager
    report = run_source(comps, "fake")
    assert report.alerts == 2
    assert deliver_due(comps).delivered == 0  # group_wait
    clock.advance(seconds=30)
    delivered = deliver_due(comps)
    assert (delivered.delivered, delivered.notifications) == (2, 1)
    (timers,) = [
        j
        for j in periodic_jobs(
            sessions=sessions,
            config=comps.alerting,
            teams=TEAMS,
            routes=routes,
            channels=comps.channels,
            brands=[],
            sources=[],
            clock=clock,
        )
        if j.name.startswith("alerting timers")
    ]
    clock.advance(seconds=119)  # escalation waits count from the notification, not the alert
    assert timers.run() == (0, 0)
    clock.advance(seconds=1)
    # One escalation per group, never one per alert: the second alert joined the group's.
    assert timers.run() == (1, 0)
    assert deliver_due(comps).delivered == 1
    assert sorted(n.action for n in pager.sent) == ["escalate"]
    with sessions() as session:
        states = session.scalars(select(AlertEscalationRow.state)).all()
        assert states == ["done"]
        keys = session.scalars(
            select(DeliveryRow.idempotency_key).where(DeliveryRow.action == "escalate")
        ).all()
        assert keys == [f"earshot-{installation_id(session)}-1-pager-escalate-c0s0"]
    clock.advance(seconds=timedelta(hours=1).total_seconds())
    assert timers.run() == (0, 0)
