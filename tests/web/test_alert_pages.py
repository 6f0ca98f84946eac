"""The inbox and alert pages, and acting on alerts from HTML forms as the signed-in user."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from storage.alerts import mark_dead
from storage.models import AlertEventRow, AlertRow, DeliveryRow
from tests.web.conftest import add_account, signed_in
from tests.web.factories import NOW, alert, classification, mention, store

HTMX = {"HX-Request": "true"}


@pytest.fixture
def alerts(sessions: sessionmaker[Session]) -> dict[str, int]:
    [mention_id] = store(
        sessions,
        [
            (
                mention(
                    "m1", text="Acme is down <b>again</b>", url="https://social.example/m1", followers=48_000
                ),
                classification(),
            )
        ],
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


def test_inbox_shows_the_post_author_reach_and_actions(client: TestClient, alerts: dict[str, int]) -> None:
    html = client.get("/alerts").text
    outage = alerts["outage"]
    # The post itself, escaped, with its author and reach; not the templated title.
    assert "Acme is down &lt;b&gt;again&lt;/b&gt;" in html and "48k followers" in html
    assert "Double charge" in html  # no mention: the alert's summary stands in
    assert html.index("Acme is down") < html.index("Double charge")  # high before medium
    assert f'value="ack:{outage}"' in html and f'value="resolve:{outage}"' in html
    assert 'hx-trigger="every 15s"' in html and "/static/inbox.js" in html and "/static/inbox.css" in html
    assert "Rows 1–2 of 2 (2 alerts)" in html
    # Nobody types who they are any more.
    assert 'name="actor"' not in html and "Your name" not in html


def test_polling_gets_only_the_table(client: TestClient, alerts: dict[str, int]) -> None:
    fragment = client.get("/alerts?status=active&team=finance", headers=HTMX).text
    assert 'id="alert-table"' in fragment and "<html" not in fragment and "Double charge" in fragment
    # The next poll asks for the same view, filters included.
    assert 'hx-get="/alerts?status=active&amp;team=finance&amp;page=1"' in fragment
    assert "Acme is down" not in fragment


def test_row_buttons_and_bulk_act_as_the_signed_in_user(
    client: TestClient, sessions: sessionmaker[Session], alerts: dict[str, int]
) -> None:
    outage, billing = alerts["outage"], alerts["billing"]
    response = client.post(
        "/alerts/bulk", data={"target": f"ack:{outage}", "back": "status=active&team=support"}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/alerts?status=active&team=support&done=1&skipped=0"
    assert status_of(sessions, outage) == ("acknowledged", "admin", None)
    assert "1 alert updated." in client.get(response.headers["location"]).text

    selected = client.post("/alerts/bulk", data={"rows": [f"{outage}", f"{billing}"], "action": "resolve"})
    assert selected.status_code == 303 and selected.headers["location"].endswith("done=2&skipped=0")
    assert status_of(sessions, billing) == ("resolved", None, "admin")
    assert "Outage in EU" not in client.get("/alerts").text
    assert "Acme is down" in client.get("/alerts?status=resolved").text

    assert client.post("/alerts/bulk", data={"rows": ["1,x"], "action": "ack"}).status_code == 422
    assert client.post("/alerts/bulk", data={"rows": [str(outage)]}).status_code == 422
    assert client.post("/alerts/bulk", data={"target": "ack:987654"}).status_code == 404


def test_htmx_row_swap(client: TestClient, sessions: sessionmaker[Session], alerts: dict[str, int]) -> None:
    outage = alerts["outage"]
    response = client.post(f"/alerts/{outage}/ack", data={"view": "row"}, headers=HTMX)
    assert response.status_code == 200
    row = response.text.strip()
    assert row.startswith(f'<tr id="row-a{outage}" class="inbox-row status-in_progress"')
    assert f'value="ack:{outage}"' not in row and f'value="resolve:{outage}"' in row
    assert status_of(sessions, outage) == ("acknowledged", "admin", None)
    again = client.post(f"/alerts/{outage}/ack", data={"view": "row"}, headers=HTMX)
    assert again.status_code == 409 and 'role="alert"' in again.text and "only a firing alert" in again.text


def test_claim_assigns_to_me(
    client: TestClient, sessions: sessionmaker[Session], alerts: dict[str, int]
) -> None:
    outage = alerts["outage"]
    assert client.post("/alerts/bulk", data={"target": f"mine:{outage}"}).status_code == 303
    assert trail(sessions, outage)[-1] == ("assigned", "admin", "nobody -> admin")
    mine = client.get("/alerts?mine=true").text
    assert "Acme is down" in mine and "Double charge" not in mine
    assert "Acme is down" not in client.get("/alerts?unassigned=true").text


def test_plain_form_posts_redirect_to_the_detail_page(
    client: TestClient, sessions: sessionmaker[Session], alerts: dict[str, int]
) -> None:
    billing = alerts["billing"]
    response = client.post(f"/alerts/{billing}/resolve", data={"note": "refunded"})
    assert response.status_code == 303 and response.headers["location"] == f"/alerts/{billing}"
    assert status_of(sessions, billing) == ("resolved", None, "admin")
    page = client.get(f"/alerts/{billing}").text
    assert "refunded" in page and "admin" in page
    conflict = client.post(f"/alerts/{billing}/resolve")
    assert conflict.status_code == 409 and "already resolved" in conflict.text


def test_assign_from_the_detail_page(
    client: TestClient, sessions: sessionmaker[Session], alerts: dict[str, int]
) -> None:
    add_account(sessions, name="dev", role="responder", teams=("support",))
    outage = alerts["outage"]
    response = client.post(f"/alerts/{outage}/assign", data={"assignee": "dev"})
    assert response.status_code == 303
    assert trail(sessions, outage)[-1] == ("assigned", "admin", "nobody -> dev")
    # An empty assignee takes it yourself.
    client.post(f"/alerts/{outage}/assign", data={"assignee": ""})
    assert trail(sessions, outage)[-1] == ("assigned", "admin", "dev -> admin")


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
    assert f'action="/alerts/{outage}/note"' in html and f'action="/alerts/{outage}/answered"' in html
    assert 'name="actor"' not in html and "Your name" not in html

    resent = client.post(f"/deliveries/{delivery}/resend")
    assert resent.status_code == 303 and resent.headers["location"] == f"/alerts/{outage}"
    assert trail(sessions, outage)[-1] == ("resend", "earshot", "slack-support")
    assert client.post(f"/deliveries/{delivery}/resend").status_code == 409
    assert client.post("/deliveries/987654/resend").status_code == 404


def test_case_status_notes_and_answered_elsewhere(
    client: TestClient, sessions: sessionmaker[Session], alerts: dict[str, int]
) -> None:
    outage = alerts["outage"]
    assert client.post(f"/alerts/{outage}/status", data={"status": "waiting_on_customer"}).status_code == 303
    # Working on a firing alert acknowledges it, which stops its escalation.
    assert status_of(sessions, outage) == ("acknowledged", "admin", None)
    assert client.post(f"/alerts/{outage}/note", data={"text": "VIP <script>x</script>"}).status_code == 303
    assert client.post(f"/alerts/{outage}/answered").status_code == 303
    html = client.get(f"/alerts/{outage}").text
    assert "VIP &lt;script&gt;x&lt;/script&gt;" in html
    assert re.search(r"First response</dt><dd>2024-05-10 12:30 UTC by admin \(elsewhere\)", html)
    actions = [a for a, _, _ in trail(sessions, outage)]
    assert "case_note" in actions and "first_response" in actions
    assert client.post(f"/alerts/{outage}/answered").status_code == 409
    assert client.post(f"/alerts/{outage}/note", data={"text": ""}).status_code == 422
    assert client.post(f"/alerts/{outage}/status", data={"status": "sleeping"}).status_code == 422


def test_viewers_see_no_buttons_and_cannot_act(
    web_app: FastAPI, sessions: sessionmaker[Session], alerts: dict[str, int]
) -> None:
    with signed_in(web_app, sessions, role="viewer", name="vic") as vic:
        html = vic.get("/alerts").text
        assert "Acme is down" in html and 'value="ack:' not in html and "Acknowledge</button>" not in html
        assert vic.post("/alerts/bulk", data={"target": f"ack:{alerts['outage']}"}).status_code == 403
        assert 'action="/alerts/' not in vic.get(f"/alerts/{alerts['outage']}").text.split("Audit trail")[0]
    assert status_of(sessions, alerts["outage"]) == ("firing", None, None)


@pytest.mark.parametrize("action", ["ack", "resolve"])
def test_unknown_alert_is_404(client: TestClient, alerts: dict[str, int], action: str) -> None:
    assert client.post(f"/alerts/987654/{action}").status_code == 404


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
    assert client.post(f"/alerts/{outage}/ack", headers=headers).status_code == 403
    assert client.post("/alerts/bulk", data={"target": f"ack:{outage}"}, headers=headers).status_code == 403
    assert client.post(f"/api/alerts/{outage}/resolve", json={}, headers=headers).status_code == 403
    assert status_of(sessions, outage) == ("firing", None, None)
    # The same request from the dashboard's own pages goes through.
    same = {"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"}
    assert client.post(f"/alerts/{outage}/ack", headers=same).status_code == 303
