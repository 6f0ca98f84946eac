"""Replies over the API, in-process, against a fake X on 127.0.0.1: roles, errors and the thread."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from werkzeug import Response

from tests.collectors.repliers.desk import desk_for, seed_alert
from tests.collectors.repliers.fakes import FakeX, serving
from tests.web.conftest import signed_in


@pytest.fixture
def fake_x() -> Iterator[tuple[FakeX, str]]:
    """A fake X and its base URL."""
    fake = FakeX()
    with serving(fake) as base:
        yield fake, base


@pytest.fixture
def alert_id(web_app: FastAPI, sessions: sessionmaker[Session], fake_x: tuple[FakeX, str]) -> int:
    """An alert of team support on a tweet, with the app's reply desk posting to the fake X."""
    fake, base = fake_x
    web_app.state.replies = desk_for("x", fake.account(base), template="Hi @$author, we're on it ($case_id).")
    return seed_alert(sessions, fake.target())


def test_a_responder_drafts_from_a_template_sends_and_sees_it_in_the_thread(
    web_app: FastAPI, sessions: sessionmaker[Session], fake_x: tuple[FakeX, str], alert_id: int
) -> None:
    fake, _ = fake_x
    with signed_in(web_app, sessions, role="responder", teams=("support",), name="rui") as rui:
        offer = rui.get(f"/api/alerts/{alert_id}/replies").json()
        assert offer["composer"]["mode"] == "post" and offer["composer"]["max_chars"] == 280
        assert offer["composer"]["templates"] == [
            {"name": "sorry", "text": f"Hi @dana_ops, we're on it (#{alert_id})."}
        ]
        assert offer["composer"]["can_act"] and offer["replies"] == []
        drafted = rui.post(f"/api/alerts/{alert_id}/replies", json={"template": "sorry"})
        assert drafted.status_code == 201, drafted.text
        assert drafted.json()["state"] == "draft" and drafted.json()["drafted_by"] == "rui"
        sent = rui.post(f"/api/replies/{drafted.json()['id']}/send")
        assert sent.status_code == 200, sent.text
        assert sent.json()["state"] == "posted" and sent.json()["remote_id"] == "1897653920112345678"
        assert sent.json()["posted_by"] == "rui"
        [shown] = rui.get(f"/api/alerts/{alert_id}/replies").json()["replies"]
        assert shown["remote_url"] == "https://x.com/i/web/status/1897653920112345678"
        events = rui.get(f"/api/alerts/{alert_id}").json()["events"]
    assert any(e["action"] == "replied" and e["actor"] == "rui" for e in events)
    assert [p.json["text"] for p in fake.posts()] == [f"Hi @dana_ops, we're on it (#{alert_id})."]


def test_a_rate_limit_answers_429_with_retry_after_and_keeps_the_draft(
    client: TestClient, fake_x: tuple[FakeX, str], alert_id: int
) -> None:
    fake, _ = fake_x
    fake.failures.append(fake.rate_limit())
    reply_id = client.post(f"/api/alerts/{alert_id}/replies", json={"text": fake.text}).json()["id"]
    refused = client.post(f"/api/replies/{reply_id}/send")
    assert refused.status_code == 429
    assert "rate limit" in refused.json()["detail"].lower()
    assert int(refused.headers["Retry-After"]) > 0
    assert refused.json()["reply"]["state"] == "failed" and refused.json()["reply"]["text"] == fake.text
    [kept] = client.get(f"/api/alerts/{alert_id}/replies").json()["replies"]
    assert kept["state"] == "failed" and "rate limit" in kept["error"].lower()


def test_a_5xx_answers_503_and_a_refusal_502(
    client: TestClient, fake_x: tuple[FakeX, str], alert_id: int
) -> None:
    fake, _ = fake_x
    fake.failures += [
        Response("down", status=503),
        Response('{"detail": "You are not allowed"}', status=403, content_type="application/json"),
    ]
    reply_id = client.post(f"/api/alerts/{alert_id}/replies", json={"text": fake.text}).json()["id"]
    first = client.post(f"/api/replies/{reply_id}/send")
    assert first.status_code == 503 and "503" in first.json()["detail"]
    second = client.post(f"/api/replies/{reply_id}/send")
    assert second.status_code == 502 and "403" in second.json()["detail"]
    assert client.post(f"/api/replies/{reply_id}/send").json()["state"] == "posted"
    assert len(fake.published) == 1


def test_roles_viewers_read_other_teams_are_refused_admins_approve(
    web_app: FastAPI, sessions: sessionmaker[Session], fake_x: tuple[FakeX, str], alert_id: int
) -> None:
    fake, _ = fake_x
    web_app.state.replies.config.teams["support"].require_approval = True
    with (
        signed_in(web_app, sessions, role="viewer", teams=("support",), name="vic") as viewer,
        signed_in(web_app, sessions, role="responder", teams=("billing",), name="olga") as outsider,
        signed_in(web_app, sessions, role="responder", teams=("support",), name="rui") as responder,
        signed_in(web_app, sessions, role="admin", name="ada") as admin,
        TestClient(web_app) as anonymous,
    ):
        assert anonymous.get(f"/api/alerts/{alert_id}/replies").status_code == 401
        assert viewer.get(f"/api/alerts/{alert_id}/replies").json()["composer"]["can_act"] is False
        assert viewer.post(f"/api/alerts/{alert_id}/replies", json={"text": "hi"}).status_code == 403
        assert outsider.post(f"/api/alerts/{alert_id}/replies", json={"text": "hi"}).status_code == 403
        drafted = responder.post(f"/api/alerts/{alert_id}/replies", json={"text": fake.text}).json()
        assert drafted["state"] == "pending_approval"
        assert responder.post(f"/api/replies/{drafted['id']}/send").status_code == 409
        assert responder.post(f"/api/replies/{drafted['id']}/approve").status_code == 403
        assert outsider.post(f"/api/replies/{drafted['id']}/send").status_code == 403
        assert admin.post(f"/api/replies/{drafted['id']}/approve").json()["approved_by"] == "ada"
        assert responder.post(f"/api/replies/{drafted['id']}/send").json()["state"] == "posted"
    assert len(fake.posts()) == 1


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 422),
        ({"text": "a", "template": "sorry"}, 422),
        ({"template": "nope"}, 422),
        ({"text": "x" * 281}, 422),
        ({"text": "  "}, 422),
    ],
)
def test_bad_drafts_are_refused(client: TestClient, alert_id: int, body: dict[str, str], status: int) -> None:
    assert client.post(f"/api/alerts/{alert_id}/replies", json=body).status_code == status
    assert client.get(f"/api/alerts/{alert_id}/replies").json()["replies"] == []


def test_unknown_alert_and_reply_are_404(client: TestClient) -> None:
    assert client.get("/api/alerts/999/replies").status_code == 404
    assert client.post("/api/alerts/999/replies", json={"text": "hi"}).status_code == 404
    assert client.post("/api/replies/999/send").status_code == 404


def test_without_a_reply_account_the_composer_says_what_to_configure(
    web_app: FastAPI, client: TestClient, sessions: sessionmaker[Session]
) -> None:
    alert_id = seed_alert(sessions, FakeX().target())
    offer = client.get(f"/api/alerts/{alert_id}/replies").json()["composer"]
    assert offer["mode"] == "post" and "replies.accounts.x" in offer["unavailable"]
    reply_id = client.post(f"/api/alerts/{alert_id}/replies", json={"text": "Sorry!"}).json()["id"]
    refused = client.post(f"/api/replies/{reply_id}/send")
    assert refused.status_code == 409 and "replies.accounts.x" in refused.json()["detail"]
