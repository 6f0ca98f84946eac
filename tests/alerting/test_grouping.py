"""Grouping with Alertmanager timing: group_wait, group_interval, repeat_interval, as outbox holds."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from alerting import grouping, lifecycle
from alerting.config import GroupingConfig, RouteConfig, RouteMatch, TeamConfig
from domain import Urgency
from storage.models import DeliveryRow
from tests.alerting.helpers import Harness, at, classified, deliveries
from tests.factories import mention

TEAMS = [TeamConfig(name="ops", channels=["recording"]), TeamConfig(name="support", channels=["recording"])]
GROUPED = RouteConfig(
    name="outages",
    team="ops",
    match=RouteMatch(categories=["outage"]),
    group_by=["brand"],
    group_wait="30s",
    group_interval="5m",
    repeat_interval="1h",
)
DEFAULT = RouteConfig(name="default", team="support", default=True)

# (seconds since start, step, argument, expected)
TIMELINE: list[tuple[int, str, Any, Any]] = [
    (0, "raise", ("A", "Lumora"), None),
    (10, "raise", ("B", "Lumora"), None),
    (10, "raise", ("C", "Vantix"), None),
    (29, "deliver", None, []),  # group_wait: nothing yet
    (30, "deliver", None, [["A", "B"]]),  # the first notification collects both
    (40, "deliver", None, [["C"]]),  # Vantix is its own group
    (60, "raise", ("D", "Lumora"), None),
    (329, "deliver", None, []),  # group_interval after the last notification (30 + 300)
    (330, "deliver", None, [["D"]]),
    (3639, "repeat", None, 0),
    (3640, "repeat", None, 1),  # Vantix unchanged and firing for repeat_interval after 40
    (3640, "deliver", None, [["C"]]),
    (3700, "ack", "C", None),  # acknowledged: no longer re-notified
    (3930, "repeat", None, 1),  # Lumora: 330 + 3600; every firing alert of the group again
    (3930, "deliver", None, [["A", "B", "D"]]),
    (7240, "repeat", None, 0),  # Vantix only holds an acknowledged alert
    (7300, "resolve", "ABD", None),
    (7400, "raise", ("E", "Lumora"), None),  # everything resolved: a new group, group_wait again
    (7429, "deliver", None, []),
    (7430, "deliver", None, [["E"]]),
]


def test_grouping_timeline(sessions: sessionmaker[Session]) -> None:
    h = Harness(sessions, [GROUPED, DEFAULT], TEAMS)
    ids: dict[str, int] = {}
    names: dict[int, str] = {}
    for seconds, step, arg, expected in TIMELINE:
        h.clock.now = at(seconds)
        if step == "raise":
            name, brand = arg
            (ids[name],) = h.raise_for(mention(name, f"{brand} down", brands=(brand,)), classified("outage"))
            names[ids[name]] = name
        elif step == "deliver":
            before = len(h.sent())
            h.deliver()
            got = [[names[i] for i in batch] for batch in h.sent()[before:]]
            assert got == expected, (seconds, got)
        elif step == "repeat":
            with sessions.begin() as session:
                assert (
                    grouping.repeat_due(session, teams={t.name: t for t in TEAMS}, now=h.clock()) == expected
                )
        elif step == "ack":
            with sessions.begin() as session:
                lifecycle.acknowledge(session, alert_id=ids[arg], actor="ann", now=h.clock())
        elif step == "resolve":
            with sessions.begin() as session:
                for name in arg:
                    lifecycle.resolve(session, alert_id=ids[name], actor="ann", now=h.clock())


def test_held_rows_have_a_future_due_time_and_a_grouped_notification_has_one_key(
    sessions: sessionmaker[Session],
) -> None:
    h = Harness(sessions, [GROUPED, DEFAULT], TEAMS)
    (a,) = h.raise_for(mention("a", "Lumora down"), classified("outage"))
    h.advance(5)
    (b,) = h.raise_for(mention("b", "Lumora down too"), classified("outage"))
    # Held, not polled: both rows are due when group_wait ends.
    assert [d["due"] for d in deliveries(sessions, a) + deliveries(sessions, b)] == [at(30), at(30)]
    h.clock.now = at(30)
    report = h.deliver()
    assert (report.delivered, report.notifications) == (2, 1)
    (notification,) = h.recorders["recording"].sent
    assert notification.idempotency_key.startswith("earshot-batch-")
    assert notification.alert.count == 2 and notification.alert.title.startswith("2 alerts (brand=Lumora)")


def test_ungrouped_route_notifies_each_alert_at_once(sessions: sessionmaker[Session]) -> None:
    h = Harness(sessions, [GROUPED, DEFAULT], TEAMS)
    for i in range(3):
        h.raise_for(mention(f"p{i}", "lumora billing"), classified("billing"))
    report = h.deliver()
    assert (report.delivered, report.notifications) == (3, 3)
    assert all(len(batch) == 1 for batch in h.sent())


def test_crash_after_sending_a_group_resends_it_once_with_the_same_key(
    sessions: sessionmaker[Session],
) -> None:
    h = Harness(sessions, [GROUPED, DEFAULT], TEAMS)
    h.raise_for(mention("a", "Lumora down"), classified("outage"))
    h.raise_for(mention("b", "Lumora down again"), classified("outage"))
    h.clock.now = at(30)

    class Killed(BaseException):
        pass

    def die(_: object) -> None:
        raise Killed

    h.recorders["recording"].on_send = die
    with pytest.raises(Killed):
        h.deliver()
    h.recorders["recording"].on_send = None
    assert h.deliver().delivered == 0  # leased
    h.advance(h.alerting.lease_seconds + 1)
    assert h.deliver().delivered == 2
    h.advance(3600)
    assert h.deliver().delivered == 0
    keys = [n.idempotency_key for n in h.recorders["recording"].sent]
    assert len(keys) == 2 and len(set(keys)) == 1


@pytest.mark.parametrize(
    ("config", "active"),
    [
        (GroupingConfig(), False),
        (GroupingConfig(group_by=["brand"]), True),
        (GroupingConfig(group_wait=10), True),
        (GroupingConfig(group_interval=10), True),
        (GroupingConfig(repeat_interval=0), True),
    ],
)
def test_grouping_is_off_unless_configured(config: GroupingConfig, active: bool) -> None:
    assert grouping.is_active(config) is active


@pytest.mark.parametrize(
    ("group_by", "labels", "expected"),
    [
        (
            ["brand", "category"],
            {"brand": ("Lumora",), "categories": ("outage", "billing")},
            "r|brand=Lumora|category=outage",
        ),
        (["brand"], {"brand": ()}, "r|brand=-"),
        (
            ["urgency", "source"],
            {"urgency": Urgency.HIGH, "source": ("x-main", "x")},
            "r|urgency=high|source=x-main",
        ),
        ([], {"brand": ("Lumora",)}, "r"),
    ],
)
def test_group_keys(group_by: list[str], labels: dict[str, Any], expected: str) -> None:
    assert grouping.group_key("r", grouping.group_labels(group_by, labels)) == expected


def test_route_inherits_global_grouping_defaults(sessions: sessionmaker[Session]) -> None:
    from alerting.config import AlertingConfig

    plain = RouteConfig(name="outages", team="ops", match=RouteMatch(categories=["outage"]))
    config = AlertingConfig(grouping=GroupingConfig(group_wait=60), backoff_seconds=10, max_attempts=3)
    h = Harness(sessions, [plain, DEFAULT], TEAMS, alerting=config)
    (a,) = h.raise_for(mention("a", "Lumora down"), classified("outage"))
    assert deliveries(sessions, a)[0]["due"] == at(60)
    with sessions() as s:
        assert s.scalars(select(DeliveryRow)).one().status == "pending"


# PagerDuty-style lifecycle: every notification about a group carries the key it was triggered with.
def _lumora(h: Harness, name: str) -> int:
    (alert,) = h.raise_for(mention(name, f"lumora {name} is down"), classified("outage"))
    return alert


def _keys(h: Harness, action: str) -> list[str]:
    return [n.alert.group_key for n in h.recorders["recording"].sent if n.action == action]


def test_a_group_is_acknowledged_and_resolved_under_the_key_it_fired_with(
    sessions: sessionmaker[Session],
) -> None:
    h = Harness(sessions, [GROUPED, DEFAULT], TEAMS)
    a, b = _lumora(h, "A"), _lumora(h, "B")
    h.clock.now = at(30)
    h.deliver()
    (fired,) = _keys(h, "fire")
    assert fired == "outages|brand=Lumora"
    for action, alert in [("ack", a), ("ack", b), ("resolve", a), ("resolve", b)]:
        with sessions.begin() as session:
            if action == "ack":
                lifecycle.acknowledge(session, alert_id=alert, actor="ann", now=h.clock())
            else:
                lifecycle.resolve(session, alert_id=alert, actor="ann", now=h.clock())
        h.deliver()
        if alert == a:  # B is still open: the group's incident must stay as it is
            assert _keys(h, "acknowledge" if action == "ack" else "resolve") == []
    # One acknowledge and one resolve, for the whole group, addressed to the incident it triggered.
    assert _keys(h, "acknowledge") == [fired] and _keys(h, "resolve") == [fired]


def test_a_single_alert_of_a_group_fires_with_the_group_key(sessions: sessionmaker[Session]) -> None:
    h = Harness(sessions, [GROUPED, DEFAULT], TEAMS)
    a = _lumora(h, "A")
    h.clock.now = at(30)
    h.deliver()
    with sessions.begin() as session:
        lifecycle.resolve(session, alert_id=a, actor="ann", now=h.clock())
    h.deliver()
    assert _keys(h, "fire") == _keys(h, "resolve") == ["outages|brand=Lumora"]


def test_an_alert_acknowledged_before_its_group_was_sent_does_not_fire(
    sessions: sessionmaker[Session],
) -> None:
    h = Harness(sessions, [GROUPED, DEFAULT], TEAMS)
    a, b = _lumora(h, "A"), _lumora(h, "B")
    with sessions.begin() as session:
        lifecycle.acknowledge(session, alert_id=a, actor="ann", now=h.clock())
    h.clock.now = at(30)
    report = h.deliver()
    assert h.sent() == [[b]] and report.cancelled == 1
    # Acknowledging the other one as well: nothing about A ever went out, so nothing to take back.
    with sessions.begin() as session:
        lifecycle.acknowledge(session, alert_id=b, actor="ann", now=h.clock())
    h.deliver()
    assert [n.action for n in h.recorders["recording"].sent] == ["fire", "acknowledge"]
    assert [d["action"] for d in deliveries(sessions, a)] == []  # dropped, with an audit event


def test_everything_acknowledged_before_the_group_was_sent_sends_nothing(
    sessions: sessionmaker[Session],
) -> None:
    h = Harness(sessions, [GROUPED, DEFAULT], TEAMS)
    for alert in (_lumora(h, "A"), _lumora(h, "B")):
        with sessions.begin() as session:
            lifecycle.acknowledge(session, alert_id=alert, actor="ann", now=h.clock())
    h.clock.now = at(30)
    h.deliver()
    assert h.recorders["recording"].sent == []
