"""Cases over the API: status, notes, answered elsewhere, availability and response-time figures."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from alerting.config import SlaConfig, TeamConfig
from storage import cases
from storage.case_tables import CaseRow
from storage.models import AlertRow
from tests.web.conftest import signed_in
from tests.web.factories import NOW, alert
from web.api.cases import case_metric_families


@pytest.fixture
def outage(sessions: sessionmaker[Session]) -> int:
    with sessions.begin() as session:
        return alert(session, title="Outage")


def test_case_moves_through_its_statuses(client: TestClient, outage: int) -> None:
    case = client.get(f"/api/alerts/{outage}/case").json()
    assert case["status"] == "open" and case["first_response_due"] is None
    moved = client.post(f"/api/alerts/{outage}/case/status", json={"status": "in_progress"})
    assert moved.status_code == 200 and moved.json()["status"] == "in_progress"
    # Working on it acknowledged the alert, which stops its escalation.
    assert client.get(f"/api/alerts/{outage}").json()["acknowledged_by"] == "admin"
    assert (
        client.post(f"/api/alerts/{outage}/case/status", json={"status": "waiting_on_customer"}).json()[
            "status"
        ]
        == "waiting_on_customer"
    )
    done = client.post(f"/api/alerts/{outage}/case/status", json={"status": "resolved"}).json()
    assert done["status"] == "resolved" and done["resolved_at"].startswith("2024-05-10T12:30")
    assert client.get(f"/api/alerts/{outage}").json()["status"] == "resolved"
    again = client.post(f"/api/alerts/{outage}/case/status", json={"status": "open"})
    assert again.status_code == 409 and "cannot be reopened" in again.json()["detail"]
    assert client.post(f"/api/alerts/{outage}/case/status", json={"status": "nope"}).status_code == 422
    events = [
        (e["action"], e["actor"], e["note"]) for e in client.get(f"/api/alerts/{outage}").json()["events"]
    ]
    assert ("case_status", "admin", "in_progress -> waiting_on_customer") in events


def test_notes_and_answered_elsewhere(client: TestClient, outage: int) -> None:
    created = client.post(f"/api/alerts/{outage}/notes", json={"text": "VIP, be careful"})
    assert created.status_code == 201
    assert [(n["author"], n["text"]) for n in created.json()] == [("admin", "VIP, be careful")]
    assert client.post(f"/api/alerts/{outage}/notes", json={"text": ""}).status_code == 422
    assert client.post(f"/api/alerts/{outage}/notes", json={"text": "x" * 2001}).status_code == 422
    answered = client.post(f"/api/alerts/{outage}/case/answered").json()
    assert answered["first_response_by"] == "admin" and answered["first_response_via"] == "elsewhere"
    assert answered["status"] == "waiting_on_customer"
    assert client.post(f"/api/alerts/{outage}/case/answered").status_code == 409
    assert client.get("/api/alerts/99999/case").status_code == 404
    assert client.post("/api/alerts/99999/notes", json={"text": "x"}).status_code == 404


def test_other_teams_and_viewers_cannot_touch_a_case(
    web_app: FastAPI, sessions: sessionmaker[Session], outage: int
) -> None:
    with signed_in(web_app, sessions, role="responder", teams=("finance",), name="fin") as fin:
        assert fin.get(f"/api/alerts/{outage}/case").status_code == 200
        assert fin.post(f"/api/alerts/{outage}/notes", json={"text": "hi"}).status_code == 403
        assert fin.post(f"/api/alerts/{outage}/case/status", json={"status": "resolved"}).status_code == 403
        assert fin.post(f"/api/alerts/{outage}/case/answered").status_code == 403
    with signed_in(web_app, sessions, role="viewer", name="vic") as vic:
        assert vic.post(f"/api/alerts/{outage}/case/answered").status_code == 403
        assert vic.put("/api/me/availability", json={"available": True}).status_code == 403
    with signed_in(web_app, sessions, role="responder", teams=("support",), name="sup") as sup:
        assert sup.post(f"/api/alerts/{outage}/notes", json={"text": "mine"}).status_code == 201


def test_availability(web_app: FastAPI, sessions: sessionmaker[Session]) -> None:
    with signed_in(web_app, sessions, role="responder", teams=("support",), name="ann") as ann:
        assert ann.get("/api/me/availability").json() == {"available": False}
        assert ann.put("/api/me/availability", json={"available": True}).json() == {"available": True}
        assert ann.get("/api/me/availability").json() == {"available": True}
        page = ann.post("/alerts/availability", data={"available": "false"})
        assert page.status_code == 303
    with sessions() as session:
        assert cases.available(session, ["ann"]) == []


def test_stats_per_team_with_sla_targets(
    web_app: FastAPI, client: TestClient, sessions: sessionmaker[Session]
) -> None:
    web_app.state.teams = {
        "support": TeamConfig(name="support", sla=SlaConfig(first_response="30m", resolution="4h"))
    }
    with sessions.begin() as session:
        ids = [alert(session, title=f"c{i}") for i in range(4)]
        for i, alert_id in enumerate(ids):
            session.get_one(AlertRow, alert_id).created_at = NOW - timedelta(hours=5)
            session.get_one(CaseRow, alert_id).opened_at = NOW - timedelta(hours=5)
            cases.record_first_response(
                session,
                alert_id=alert_id,
                at=NOW - timedelta(hours=5) + timedelta(minutes=10 * (i + 1)),
                by="ann",
            )
    body = client.get("/api/cases/stats?days=7").json()
    [support] = body["teams"]
    assert support["team"] == "support" and support["cases"] == 4 and support["answered"] == 4
    assert support["first_response_p50"] == 25 * 60 and support["first_response_p90"] == 37 * 60
    assert support["resolution_p50"] is None and support["first_response_target"] == 1800
    case = client.get(f"/api/alerts/{ids[0]}/case").json()
    assert case["first_response_due"].startswith("2024-05-10T08:00") and case["resolution_due"].startswith(
        "2024-05-10T11:30"
    )
    html = client.get("/alerts").text
    assert "Response times, last 30 days" in html and "25m / 37m" in html and "respond 30m" in html
    assert client.get("/api/cases/stats?days=0").status_code == 422


def test_metric_families(web_app: FastAPI, sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        for minutes in (10, 30):
            alert_id = alert(session, title=f"m{minutes}")
            session.get_one(CaseRow, alert_id).opened_at = NOW - timedelta(hours=1)
            cases.record_first_response(
                session, alert_id=alert_id, at=NOW - timedelta(hours=1) + timedelta(minutes=minutes), by="ann"
            )
    first, resolution = case_metric_families(web_app.state.earshot, {})
    samples = {(s.labels["team"], s.labels["quantile"]): s.value for s in first.samples}
    assert samples == {("support", "0.5"): 20 * 60, ("support", "0.9"): 28 * 60}
    assert first.name == "earshot_case_first_response_seconds" and resolution.samples == []
