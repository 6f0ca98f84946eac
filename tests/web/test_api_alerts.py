"""Alerts over the API: list, detail with audit trail, ack / resolve / assign, deliveries."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from storage.alerts import mark_dead
from storage.models import AlertRow, DeliveryRow
from tests.web.factories import NOW, alert, classification, mention, store


@pytest.fixture
def alerts(sessions: sessionmaker[Session]) -> dict[str, int]:
    """Three alerts: outage (support, Acme, with a mention), billing (finance, Acme), pr (comms, Rival)."""
    [mention_id] = store(sessions, [(mention("m1", text="Acme is down"), classification("negative", "high"))])
    with sessions.begin() as session:
        return {
            "outage": alert(session, title="Outage", mention_id=mention_id, channels=("slack", "pager")),
            "billing": alert(session, title="Billing", team="finance", urgency="medium"),
            "pr": alert(session, title="PR", team="comms", brand="Rival", channels=()),
        }


def titles(client: TestClient, path: str) -> list[str]:
    response = client.get(path)
    assert response.status_code == 200, response.text
    return [a["title"] for a in response.json()]


def test_list_and_filters(client: TestClient, alerts: dict[str, int]) -> None:
    assert titles(client, "/api/alerts") == ["PR", "Billing", "Outage"]
    assert titles(client, "/api/alerts?team=finance") == ["Billing"]
    assert titles(client, "/api/alerts?brand=Rival") == ["PR"]
    assert titles(client, "/api/alerts?limit=1") == ["PR"]
    assert titles(client, "/api/alerts?status=resolved") == []
    assert client.get("/api/alerts?status=sleeping").status_code == 422
    first = client.get("/api/alerts?team=support").json()[0]
    assert first["route"] == "outages" and first["reason"] == "category outage with urgency high"
    assert first["status"] == "firing" and first["urgency"] == "high"


def test_detail_has_audit_trail_deliveries_and_mention(client: TestClient, alerts: dict[str, int]) -> None:
    body = client.get(f"/api/alerts/{alerts['outage']}").json()
    assert body["route_snapshot"] == {"name": "outages", "match": {"categories": ["outage"]}}
    assert [e["action"] for e in body["events"]] == ["fired"]
    assert sorted(d["channel"] for d in body["deliveries"]) == ["pager", "slack"]
    assert {d["status"] for d in body["deliveries"]} == {"pending"}
    assert body["mention"]["text"] == "Acme is down"
    assert body["mention"]["classification"]["urgency"] == "high"
    assert client.get(f"/api/alerts/{alerts['pr']}").json()["mention"] is None


def test_acknowledge_then_resolve(client: TestClient, alerts: dict[str, int]) -> None:
    alert_id = alerts["outage"]
    acked = client.post(f"/api/alerts/{alert_id}/ack", json={"actor": "ann", "note": "on it"})
    assert acked.status_code == 200, acked.text
    body = acked.json()
    assert body["status"] == "acknowledged" and body["acknowledged_by"] == "ann"
    assert body["acknowledged_at"].startswith("2024-05-10T12:30:00")
    assert [(e["action"], e["actor"], e["note"]) for e in body["events"]][-1] == (
        "acknowledged",
        "ann",
        "on it",
    )
    # Every channel that heard the alert fire is told it was acknowledged.
    assert sorted(d["channel"] for d in body["deliveries"] if d["action"] == "acknowledge") == [
        "pager",
        "slack",
    ]

    again = client.post(f"/api/alerts/{alert_id}/ack", json={"actor": "bob"})
    assert again.status_code == 409
    assert "only a firing alert" in again.json()["detail"]

    resolved = client.post(f"/api/alerts/{alert_id}/resolve", json={"actor": "bob"}).json()
    assert resolved["status"] == "resolved" and resolved["resolved_by"] == "bob"
    assert [e["action"] for e in resolved["events"]] == ["fired", "acknowledged", "resolved"]
    assert client.post(f"/api/alerts/{alert_id}/resolve", json={"actor": "bob"}).status_code == 409
    assert client.post(f"/api/alerts/{alert_id}/ack", json={"actor": "bob"}).status_code == 409
    assert titles(client, "/api/alerts?status=resolved") == ["Outage"]


def test_a_conflict_changes_nothing(
    client: TestClient, sessions: sessionmaker[Session], alerts: dict[str, int]
) -> None:
    alert_id = alerts["billing"]
    client.post(f"/api/alerts/{alert_id}/resolve", json={"actor": "ann"})
    assert client.post(f"/api/alerts/{alert_id}/ack", json={"actor": "mallory"}).status_code == 409
    with sessions() as session:
        row = session.get_one(AlertRow, alert_id)
        assert (row.status, row.acknowledged_by, row.resolved_by) == ("resolved", None, "ann")


def test_assign(client: TestClient, alerts: dict[str, int]) -> None:
    alert_id = alerts["billing"]
    body = client.post(
        f"/api/alerts/{alert_id}/assign", json={"actor": "lead", "assignee": "cho", "note": "billing expert"}
    ).json()
    assert body["assignee"] == "cho"
    assert [(e["action"], e["actor"], e["note"]) for e in body["events"][1:]] == [
        ("assigned", "lead", "nobody -> cho"),
        ("note", "lead", "billing expert"),
    ]
    reassigned = client.post(
        f"/api/alerts/{alert_id}/assign", json={"actor": "lead", "assignee": "dev"}
    ).json()
    assert reassigned["assignee"] == "dev" and reassigned["events"][-1]["note"] == "cho -> dev"
    assert reassigned["status"] == "firing"


def test_unknown_alert_is_404(client: TestClient, alerts: dict[str, int]) -> None:
    for action in ["ack", "resolve", "assign"]:
        response = client.post(f"/api/alerts/99999/{action}", json={"actor": "ann", "assignee": "bob"})
        assert response.status_code == 404, action
    assert client.get("/api/alerts/99999").status_code == 404


INVALID_BODIES = [
    ("ack", {}),
    ("ack", {"actor": "   "}),
    ("ack", {"actor": "x" * 129}),
    ("resolve", {"actor": "ann", "note": "n" * 2001}),
    ("assign", {"actor": "ann"}),
    ("assign", {"actor": "ann", "assignee": ""}),
]


def test_invalid_bodies_are_422(client: TestClient, alerts: dict[str, int]) -> None:
    for path, body in INVALID_BODIES:
        response = client.post(f"/api/alerts/{alerts['outage']}/{path}", json=body)
        assert response.status_code == 422, (path, body)
    body = client.get(f"/api/alerts/{alerts['outage']}").json()
    assert body["status"] == "firing" and body["assignee"] is None and len(body["events"]) == 1


def test_failed_deliveries_and_resend(
    client: TestClient, sessions: sessionmaker[Session], alerts: dict[str, int]
) -> None:
    with sessions.begin() as session:
        slack, pager = session.scalars(
            select(DeliveryRow.id).where(DeliveryRow.alert_id == alerts["outage"]).order_by(DeliveryRow.id)
        ).all()
        mark_dead(session, pager, now=NOW, error="410 Gone: webhook deleted")
    failed = client.get("/api/deliveries/failed").json()
    assert [(d["id"], d["channel"], d["status"], d["last_error"]) for d in failed] == [
        (pager, "pager", "dead", "410 Gone: webhook deleted")
    ]
    resent = client.post(f"/api/deliveries/{pager}/resend")
    assert resent.status_code == 200, resent.text
    assert resent.json()["status"] == "pending" and resent.json()["attempts"] == 0
    assert client.get("/api/deliveries/failed").json() == []
    events = client.get(f"/api/alerts/{alerts['outage']}").json()["events"]
    assert [(e["action"], e["note"]) for e in events][-2:] == [
        ("dead_lettered", "pager: 410 Gone: webhook deleted"),
        ("resend", "pager"),
    ]
    assert client.post(f"/api/deliveries/{slack}/resend").status_code == 409  # pending, not dead
    assert client.post("/api/deliveries/99999/resend").status_code == 404
