"""SLA breach alerts are their own kind: stored, read back and sent as ``sla_breach``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from alerting import sla
from alerting.channels.pagerduty import PagerDutyChannel
from alerting.channels.render import alert_view
from alerting.config import SlaConfig, TeamConfig
from domain import AlertKind, Notification, NotificationAction, Urgency
from storage.alerts import NewAlert, create_alert, to_domain
from storage.models import AlertRow
from tests.alerting.channels.helpers import make_http_channel
from tests.web import conftest as web_fixtures

T0 = datetime(2024, 5, 10, 12, 0, tzinfo=UTC)
TEAMS = {
    "support": TeamConfig(name="support", channels=["slack-support"], sla=SlaConfig(first_response="30m"))
}


def _complaint(sessions: sessionmaker[Session]) -> int:
    with sessions.begin() as session:
        new = NewAlert(
            kind=AlertKind.MENTION,
            title="complaint",
            summary="",
            urgency=Urgency.HIGH,
            team="support",
            route_name="complaints",
            route_snapshot={},
            reason="test",
            group_key="support|complaint",
            channels=(),
        )
        return create_alert(session, new, now=T0).id


def test_a_missed_first_response_raises_an_alert_of_kind_sla_breach(sessions: sessionmaker[Session]) -> None:
    complaint = _complaint(sessions)
    with sessions.begin() as session:
        assert sla.check_breaches(session, teams=TEAMS, now=T0 + timedelta(minutes=29)) == []
        [breach_id] = sla.check_breaches(session, teams=TEAMS, now=T0 + timedelta(minutes=31))
    with sessions() as session:
        row = session.get_one(AlertRow, breach_id)
        assert row.kind == "sla_breach" and row.team == "support"
        assert row.details["cases"] == [complaint]
        breach = to_domain(row)
        kinds = {r.kind for r in session.query(AlertRow)}
    assert breach.kind is AlertKind.SLA_BREACH
    assert kinds == {"mention", "sla_breach"}
    fire = Notification(alert=breach, action=NotificationAction.FIRE, idempotency_key="breach-1")
    assert "sla_breach" in alert_view(fire).footer
    # PagerDuty pages for it like any incident (only digests become change events).
    channel = make_http_channel("pagerduty", 9)
    assert isinstance(channel, PagerDutyChannel)
    event = channel.render(fire)
    assert event["event_action"] == "trigger" and event["payload"]["class"] == "sla_breach"


def test_the_alert_pages_show_an_sla_breach(sessions: sessionmaker[Session]) -> None:
    complaint = _complaint(sessions)
    with sessions.begin() as session:
        [breach_id] = sla.check_breaches(session, teams=TEAMS, now=T0 + timedelta(minutes=31))
    app = web_fixtures.build_app(sessions)
    with web_fixtures.signed_in(app, sessions, role="admin", name="admin") as client:
        page = client.get(f"/alerts/{breach_id}")
        listed = client.get(f"/api/alerts/{breach_id}")
    assert page.status_code == 200, page.text
    assert f"Alert #{breach_id} · sla_breach" in page.text
    assert listed.status_code == 200 and listed.json()["kind"] == "sla_breach"
    assert listed.json()["details"]["cases"] == [complaint]
