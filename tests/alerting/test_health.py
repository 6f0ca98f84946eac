"""Collector health alerts: failing or empty for N runs alerts ops once, resolved on recovery."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from alerting import health
from alerting.config import HealthConfig, RouteConfig, TeamConfig
from domain import Urgency
from storage import sources as source_repo
from storage.models import AlertEventRow, AlertRow, SourceHealthRow
from tests.factories import T0

TEAMS = {"ops": TeamConfig(name="ops", channels=["pager"]), "support": TeamConfig(name="support")}
ROUTES = [RouteConfig(name="default", team="support", default=True)]
RSS = health.SourceSchedule("news", "rss", 300)


def _row(failures: int = 0, empty: int = 0) -> SourceHealthRow:
    return SourceHealthRow(
        source="news",
        kind="rss",
        consecutive_failures=failures,
        consecutive_empty=empty,
        last_error="TemporarilyUnavailable: HTTP 503\nmore",
        items_last_run=0,
    )


@pytest.mark.parametrize(
    ("row", "config", "expected"),
    [
        (None, HealthConfig(), None),
        (_row(failures=2), HealthConfig(), None),
        (
            _row(failures=3),
            HealthConfig(),
            ("failed 3 runs in a row: TemporarilyUnavailable: HTTP 503", Urgency.HIGH),
        ),
        (_row(empty=50), HealthConfig(), None),  # empty checks are off by default
        (_row(empty=11), HealthConfig(empty_runs=12), None),
        (
            _row(empty=12),
            HealthConfig(empty_runs=12),
            ("returned nothing new for 12 runs in a row", Urgency.MEDIUM),
        ),
        (
            _row(failures=5, empty=20),
            HealthConfig(empty_runs=12),
            ("failed 5 runs in a row: TemporarilyUnavailable: HTTP 503", Urgency.HIGH),
        ),
    ],
)
def test_problem(
    row: SourceHealthRow | None, config: HealthConfig, expected: tuple[str, Urgency] | None
) -> None:
    assert health.problem(row, config) == expected


def _run(sessions: sessionmaker[Session], step: str, minutes: int) -> list[int]:
    now = T0 + timedelta(minutes=minutes)
    with sessions.begin() as session:
        if step == "fail":
            source_repo.record_failure(session, source="news", kind="rss", error="HTTP 503", now=now)
        elif step == "ok":
            source_repo.record_success(session, source="news", kind="rss", items=3, now=now)
        return health.check_sources(
            session, sources=[RSS], config=HealthConfig(), teams=TEAMS, routes=ROUTES, now=now
        )


def test_one_alert_per_incident_resolved_on_recovery(sessions: sessionmaker[Session]) -> None:
    script = ["fail", "fail", "fail", "fail", "fail", "ok", "ok", "fail", "fail", "fail"]
    raised = [bool(_run(sessions, step, 5 * i)) for i, step in enumerate(script)]
    assert raised == [False, False, True, False, False, False, False, False, False, True]
    with sessions() as session:
        first, second = session.scalars(select(AlertRow).order_by(AlertRow.id)).all()
        assert (first.kind, first.team, first.urgency) == ("source_health", "ops", "high")
        assert first.title == "Source news (rss) failed 3 runs in a row"
        assert (first.status, first.resolved_by) == ("resolved", "earshot")
        assert second.status == "firing"
        notes = session.scalars(
            select(AlertEventRow.note).where(
                AlertEventRow.alert_id == first.id, AlertEventRow.action == "resolved"
            )
        ).all()
        assert notes == ["source news recovered"]
