"""The alert list and detail pages, and acting on alerts from HTML (htmx and plain forms)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from storage.alerts import mark_dead
from storage.models import AlertEventRow, AlertRow, DeliveryRow
from tests.web.factories import NOW, alert, classification, mention, store

HTMX = {"HX-Request": "true"}


@pytest.fixture
def alerts(sessions: sessionmaker[Session]) -> dict[str, int]:
    [mention_id] = store(
        sessions, [(mention("m1", text="Acme is down", url="https://social.example/m1"), classification())]
    )
    with sessions.begin() as session:
        return {
            "outage": alert(
                session, title="Outage in EU", mention_id=mention_id, reason="route outages matched"
            ),
            "billing": alert(session, title="Double charge", team="finance", urgency="medium"),
        }


def status_of(sessions: sessionmaker[Session], alert_id: int) -> tuple[str, str | None, str | None]:
    with sessions() as session:
        row = session.get_one(AlertRow, alert_id)
        return row.status, row.acknowledged_by, row.resolved_by


def trail(sessions: sessionmaker[Session], alert_id: int) -> list[tuple[str, str, str]]:
    with sessions() as session:
        rows = session.scalars(
            select(AlertEventRow).where(AlertEventRow.alert_id == alert_id).order_by(AlertEventRow.id)
        )
        return [(e.action, e.actor, e.note) for e in rows]


def test_list_shows_reason_route_and_buttons(client: TestClient, alerts: dict[str, int]) -> None:
    html = client.get("/alerts").text
    assert "Outage in EU" in html and "Double charge" in html
    assert "route outages matched" in html and "route outages" in html
    outage = alerts["outage"]
    assert f'hx-post="/alerts/{outage}/ack"' in html and f'hx-post="/alerts/{outage}/resolve"' in html
    assert f'<form method="post" action="/alerts/{outage}/ack"' in html
    assert 'hx-trigger="every 30s"' in html and 'id="actor"' in html


def test_ack_with_htmx_swaps_the_row(
    client: TestClient, sessions: sessionmaker[Session], alerts: dict[str, int]
) -> None:
    outage = alerts["outage"]
    response = client.post(f"/alerts/{outage}/ack", data={"actor": "ann", "view": "row"}, headers=HTMX)
    assert response.status_code == 200
    row = response.text.strip()
    assert row.startswith(f'<tr id="alert-{outage}" class="status-acknowledged">')
    assert "/ack" not in row and f'hx-post="/alerts/{outage}/resolve"' in row
    assert status_of(sessions, outage) == ("acknowledged", "ann", None)
    assert trail(sessions, outage)[-1] == ("acknowledged", "ann", "")

    # Acknowledging twice is a conflict: the row comes back with the reason, nothing changes.
    again = client.post(f"/alerts/{outage}/ack", data={"actor": "bob", "view": "row"}, headers=HTMX)
    assert again.status_code == 409
    assert 'role="alert"' in again.text and "only a firing alert can be acknowledged" in again.text
    assert status_of(sessions, outage) == ("acknowledged", "ann", None)

    resolved = client.post(f"/alerts/{outage}/resolve", data={"actor": "bob", "view": "row"}, headers=HTMX)
    assert resolved.status_code == 200 and 'class="status-resolved"' in resolved.text
    assert "<form" not in resolved.text
    assert status_of(sessions, outage) == ("resolved", "ann", "bob")
    # The open list no longer shows it; the resolved tab does.
    assert "Outage in EU" not in client.get("/alerts").text
    assert "Outage in EU" in client.get("/alerts?status=resolved").text


def test_plain_form_posts_redirect_to_the_detail_page(
    client: TestClient, sessions: sessionmaker[Session], alerts: dict[str, int]
) -> None:
    billing = alerts["billing"]
    response = client.post(f"/alerts/{billing}/resolve", data={"actor": "cho", "note": "refunded"})
    assert response.status_code == 303 and response.headers["location"] == f"/alerts/{billing}"
    assert status_of(sessions, billing) == ("resolved", None, "cho")
    page = client.get(f"/alerts/{billing}").text
    assert "refunded" in page and "cho" in page
    conflict = client.post(f"/alerts/{billing}/resolve", data={"actor": "cho"})
    assert conflict.status_code == 409 and "already resolved" in conflict.text
    # A blank name still leaves a trace of where the action came from.
    client.post(f"/alerts/{alerts['outage']}/ack", data={"actor": "  "})
    assert status_of(sessions, alerts["outage"]) == ("acknowledged", "dashboard", None)


def test_assign_from_the_detail_page(
    client: TestClient, sessions: sessionmaker[Session], alerts: dict[str, int]
) -> None:
    outage = alerts["outage"]
    response = client.post(f"/alerts/{outage}/assign", data={"actor": "lead", "assignee": "dev"})
    assert response.status_code == 303
    assert trail(sessions, outage)[-1] == ("assigned", "lead", "nobody -> dev")
    assert client.post(f"/alerts/{outage}/assign", data={"actor": "lead"}).status_code == 422


def test_detail_page_shows_everything(
    client: TestClient, sessions: sessionmaker[Session], alerts: dict[str, int]
) -> None:
    outage = alerts["outage"]
    with sessions.begin() as session:
        [delivery] = session.scalars(select(DeliveryRow.id).where(DeliveryRow.alert_id == outage)).all()
        mark_dead(session, delivery, now=NOW, error="webhook answered 404")
    html = client.get(f"/alerts/{outage}").text
    assert "Outage in EU" in html and "route outages matched" in html
    assert "<td>fired</td>" in html and "<td>dead_lettered</td>" in html
    assert "webhook answered 404" in html
    assert "Acme is down" in html and 'href="https://social.example/m1"' in html
    assert "&#34;categories&#34;" in html  # the route snapshot, as escaped JSON
    assert f'action="/deliveries/{delivery}/resend"' in html

    resent = client.post(f"/deliveries/{delivery}/resend")
    assert resent.status_code == 303 and resent.headers["location"] == f"/alerts/{outage}"
    assert trail(sessions, outage)[-1] == ("resend", "earshot", "slack-support")
    assert client.post(f"/deliveries/{delivery}/resend").status_code == 409
    assert client.post("/deliveries/987654/resend").status_code == 404


@pytest.mark.parametrize("action", ["ack", "resolve"])
def test_unknown_alert_is_404(client: TestClient, alerts: dict[str, int], action: str) -> None:
    assert client.post(f"/alerts/987654/{action}", data={"actor": "ann"}).status_code == 404
    assert client.post(f"/alerts/987654/{action}", data={"view": "row"}, headers=HTMX).status_code == 404


@pytest.mark.parametrize("path", ["ack", "resolve"])
def test_actions_are_post_only(client: TestClient, alerts: dict[str, int], path: str) -> None:
    assert client.get(f"/alerts/{alerts['outage']}/{path}").status_code == 405
    assert client.get(f"/api/alerts/{alerts['outage']}/{path}").status_code == 405


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
    ],
)
def test_cross_site_posts_are_refused(
    client: TestClient, sessions: sessionmaker[Session], alerts: dict[str, int], headers: dict[str, str]
) -> None:
    outage = alerts["outage"]
    assert client.post(f"/alerts/{outage}/ack", data={"actor": "x"}, headers=headers).status_code == 403
    assert (
        client.post(f"/api/alerts/{outage}/resolve", json={"actor": "x"}, headers=headers).status_code == 403
    )
    assert status_of(sessions, outage) == ("firing", None, None)
    # The same request from the dashboard's own pages goes through.
    same = {"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"}
    assert client.post(f"/alerts/{outage}/ack", data={"actor": "x"}, headers=same).status_code == 303
