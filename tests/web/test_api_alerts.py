"""Alerts over the API: the triage inbox, detail with audit trail, actions by the signed-in user."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from storage.alerts import mark_dead
from storage.models import AlertRow, DeliveryRow
from tests.web.conftest import add_account, signed_in
from tests.web.factories import NOW, alert, classification, mention, store


@pytest.fixture
def alerts(sessions: sessionmaker[Session]) -> dict[str, int]:
    """Three alerts: outage (support, Acme, with a mention), billing (finance, Acme), pr (comms, Rival)."""
    [mention_id] = store(sessions, [(mention("m1", text="Acme is down"), classification("negative", "high"))])
    with sessions.begin() as session:
        return {
            "outage": alert(session, title="Outage", mention_id=mention_id, channels=("slack", "pager")),
            "billing": alert(session, title="Billing", team="finance", urgency="medium"),
            "pr": alert(session, title="PR", team="comms", brand="Rival", channels=(), urgency="low"),
        }


def titles(client: TestClient, path: str) -> list[str]:
    response = client.get(path)
    assert response.status_code == 200, response.text
    return [row["alert"]["title"] for row in response.json()["items"]]


def test_list_and_filters(client: TestClient, alerts: dict[str, int]) -> None:
    # Most urgent first: high, medium, low.
    assert titles(client, "/api/alerts") == ["Outage", "Billing", "PR"]
    assert titles(client, "/api/alerts?team=finance") == ["Billing"]
    assert titles(client, "/api/alerts?brand=Rival") == ["PR"]
    assert titles(client, "/api/alerts?urgency=high") == ["Outage"]
    assert titles(client, "/api/alerts?source=demo") == ["Outage"]
    assert titles(client, "/api/alerts?limit=1") == ["Outage"]
    assert titles(client, "/api/alerts?status=resolved") == []
    assert client.get("/api/alerts?status=sleeping").status_code == 422
    first = client.get("/api/alerts?team=support").json()["items"][0]
    assert (
        first["alert"]["route"] == "outages"
        and first["alert"]["reason"] == "category outage with urgency high"
    )
    assert first["status"] == "open" and first["alert"]["urgency"] == "high"
    assert first["excerpt"] == "Acme is down" and first["author"] == "@dana" and first["followers"] == 1200
    assert first["source"] == "demo" and first["age_seconds"] == 0 and first["assignee"] is None


def test_detail_has_audit_trail_deliveries_mention_and_case(
    client: TestClient, alerts: dict[str, int]
) -> None:
    body = client.get(f"/api/alerts/{alerts['outage']}").json()
    assert body["route_snapshot"] == {"name": "outages", "match": {"categories": ["outage"]}}
    assert [e["action"] for e in body["events"]] == ["fired"]
    assert sorted(d["channel"] for d in body["deliveries"]) == ["pager", "slack"]
    assert {d["status"] for d in body["deliveries"]} == {"pending"}
    assert body["mention"]["text"] == "Acme is down"
    assert body["mention"]["classification"]["urgency"] == "high"
    assert body["case"]["status"] == "open" and body["case"]["first_response_at"] is None
    assert body["notes"] == []
    assert client.get(f"/api/alerts/{alerts['pr']}").json()["mention"] is None


def test_acknowledge_then_resolve_as_the_signed_in_user(client: TestClient, alerts: dict[str, int]) -> None:
    alert_id = alerts["outage"]
    acked = client.post(f"/api/alerts/{alert_id}/ack", json={"note": "on it"})
    assert acked.status_code == 200, acked.text
    body = acked.json()
    assert body["status"] == "acknowledged" and body["acknowledged_by"] == "admin"
    assert body["case"]["status"] == "in_progress"
    assert body["acknowledged_at"].startswith("2024-05-10T12:30:00")
    assert ("acknowledged", "admin", "on it") in [
        (e["action"], e["actor"], e["note"]) for e in body["events"]
    ]
    # Every channel that heard the alert fire is told it was acknowledged.
    assert sorted(d["channel"] for d in body["deliveries"] if d["action"] == "acknowledge") == [
        "pager",
        "slack",
    ]

    again = client.post(f"/api/alerts/{alert_id}/ack")
    assert again.status_code == 409
    assert "only a firing alert" in again.json()["detail"]

    resolved = client.post(f"/api/alerts/{alert_id}/resolve", json={}).json()
    assert resolved["status"] == "resolved" and resolved["resolved_by"] == "admin"
    assert resolved["case"]["status"] == "resolved"
    assert [e["action"] for e in resolved["events"] if e["action"] != "case_status"] == [
        "fired",
        "acknowledged",
        "resolved",
    ]
    assert client.post(f"/api/alerts/{alert_id}/resolve").status_code == 409
    assert client.post(f"/api/alerts/{alert_id}/ack").status_code == 409
    assert titles(client, "/api/alerts?status=resolved") == ["Outage"]


def test_an_actor_in_the_body_is_not_who_acted(
    client: TestClient, sessions: sessionmaker[Session], alerts: dict[str, int]
) -> None:
    client.post(f"/api/alerts/{alerts['billing']}/resolve", json={"actor": "mallory"})
    with sessions() as session:
        row = session.get_one(AlertRow, alerts["billing"])
        assert (row.status, row.resolved_by) == ("resolved", "admin")


def test_a_conflict_changes_nothing(
    client: TestClient, sessions: sessionmaker[Session], alerts: dict[str, int]
) -> None:
    alert_id = alerts["billing"]
    client.post(f"/api/alerts/{alert_id}/resolve")
    assert client.post(f"/api/alerts/{alert_id}/ack").status_code == 409
    with sessions() as session:
        row = session.get_one(AlertRow, alert_id)
        assert (row.status, row.acknowledged_by, row.resolved_by) == ("resolved", None, "admin")


def test_assign_to_a_user(
    client: TestClient, sessions: sessionmaker[Session], alerts: dict[str, int]
) -> None:
    add_account(sessions, name="cho", role="responder", teams=("finance",))
    add_account(sessions, name="dev", role="responder", teams=("finance",))
    alert_id = alerts["billing"]
    body = client.post(
        f"/api/alerts/{alert_id}/assign", json={"assignee": "cho", "note": "billing expert"}
    ).json()
    assert body["assignee"] == "cho"
    assert [(e["action"], e["actor"], e["note"]) for e in body["events"][1:]] == [
        ("assigned", "admin", "nobody -> cho"),
        ("note", "admin", "billing expert"),
    ]
    reassigned = client.post(f"/api/alerts/{alert_id}/assign", json={"assignee": "dev"}).json()
    assert reassigned["assignee"] == "dev" and reassigned["events"][-1]["note"] == "cho -> dev"
    assert reassigned["status"] == "firing"
    nobody = client.post(f"/api/alerts/{alert_id}/assign", json={"assignee": "ghost"})
    assert nobody.status_code == 409 and "no user named 'ghost'" in nobody.json()["detail"]


def test_unknown_alert_is_404(client: TestClient, alerts: dict[str, int]) -> None:
    for action in ["ack", "resolve", "assign"]:
        response = client.post(f"/api/alerts/99999/{action}", json={"assignee": "admin"})
        assert response.status_code == 404, action
    assert client.get("/api/alerts/99999").status_code == 404


INVALID_BODIES = [
    ("resolve", {"note": "n" * 2001}),
    ("assign", {}),
    ("assign", {"assignee": ""}),
    ("assign", {"assignee": "   "}),
    ("assign", {"assignee": "x" * 129}),
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


def test_bulk_acts_on_many_and_reports_the_rest(
    client: TestClient, sessions: sessionmaker[Session], alerts: dict[str, int]
) -> None:
    client.post(f"/api/alerts/{alerts['billing']}/ack")
    ids = [alerts["outage"], alerts["billing"], alerts["pr"]]
    response = client.post("/api/alerts/bulk", json={"action": "ack", "alert_ids": ids})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["done"] == [alerts["outage"], alerts["pr"]]
    assert list(body["skipped"]) == [str(alerts["billing"])]
    assert "only a firing alert" in body["skipped"][str(alerts["billing"])]
    resolved = client.post("/api/alerts/bulk", json={"action": "resolve", "alert_ids": ids}).json()
    assert sorted(resolved["done"]) == sorted(ids)
    with sessions() as session:
        rows = session.scalars(select(AlertRow).where(AlertRow.id.in_(ids))).all()
        assert {(r.status, r.resolved_by) for r in rows} == {("resolved", "admin")}
    assert client.post("/api/alerts/bulk", json={"action": "ack", "alert_ids": [99999]}).status_code == 404
    assert client.post("/api/alerts/bulk", json={"action": "ack", "alert_ids": []}).status_code == 422
    assert client.post("/api/alerts/bulk", json={"action": "delete", "alert_ids": ids}).status_code == 422


def test_bulk_assign(client: TestClient, sessions: sessionmaker[Session], alerts: dict[str, int]) -> None:
    add_account(sessions, name="cho", role="responder", teams=("support", "finance"))
    ids = [alerts["outage"], alerts["billing"]]
    body = client.post(
        "/api/alerts/bulk", json={"action": "assign", "alert_ids": ids, "assignee": "cho"}
    ).json()
    assert body == {"done": ids, "skipped": {}}
    assert titles(client, "/api/alerts?unassigned=true") == ["PR"]
    missing = client.post("/api/alerts/bulk", json={"action": "assign", "alert_ids": ids})
    assert missing.status_code == 409


def test_a_responder_acts_only_for_their_team(
    web_app: FastAPI, sessions: sessionmaker[Session], alerts: dict[str, int]
) -> None:
    with signed_in(web_app, sessions, role="responder", teams=("support",), name="sam") as sam:
        assert sam.post(f"/api/alerts/{alerts['billing']}/ack").status_code == 403
        mixed = sam.post(
            "/api/alerts/bulk", json={"action": "ack", "alert_ids": [alerts["outage"], alerts["billing"]]}
        )
        assert mixed.status_code == 403
        # Refused as a whole: the alert sam could act on was not touched either.
        assert sam.get(f"/api/alerts/{alerts['outage']}").json()["status"] == "firing"
        assert sam.post(f"/api/alerts/{alerts['outage']}/ack").json()["acknowledged_by"] == "sam"
        # "mine" is the signed-in user's queue.
        sam.post(f"/api/alerts/{alerts['outage']}/assign", json={"assignee": "sam"})
        assert [r["alert"]["title"] for r in sam.get("/api/alerts?mine=true").json()["items"]] == ["Outage"]
    with signed_in(web_app, sessions, role="viewer", name="vic") as vic:
        assert vic.get("/api/alerts").status_code == 200
        assert vic.post(f"/api/alerts/{alerts['pr']}/ack").status_code == 403
        assert (
            vic.post("/api/alerts/bulk", json={"action": "ack", "alert_ids": [alerts["pr"]]}).status_code
            == 403
        )


def test_age_and_order_use_the_clock(client: TestClient, sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        newer = alert(session, title="newer", urgency="high")
        older = alert(session, title="older", urgency="high")
        session.get_one(AlertRow, older).created_at = NOW - timedelta(hours=3)
        critical = alert(session, title="critical", urgency="critical")
        session.get_one(AlertRow, critical).created_at = NOW - timedelta(minutes=1)
    items = client.get("/api/alerts").json()["items"]
    assert [i["alert"]["title"] for i in items] == ["critical", "older", "newer"]
    assert [i["age_seconds"] for i in items] == [60, 3 * 3600, 0]
    assert newer != older
