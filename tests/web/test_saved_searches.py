"""Saved searches: each signed-in user saves, lists, reopens and deletes only their own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from storage.saved_searches import delete_search, list_searches, save_search
from tests.web.conftest import signed_in
from tests.web.factories import NOW


@pytest.fixture
def alice(web_app: FastAPI, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    with signed_in(web_app, sessions, role="responder", teams=("marketing",), name="alice") as client:
        yield client


@pytest.fixture
def bob(web_app: FastAPI, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    with signed_in(web_app, sessions, role="responder", teams=("support",), name="bob") as client:
        yield client


def test_repository_keeps_searches_per_user(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        first = save_search(session, user_id=1, name="Refunds", page="mentions", query="q=refund", now=NOW)
        save_search(session, user_id=2, name="Refunds", page="overview", query="range=30d", now=NOW)
        again = save_search(
            session, user_id=1, name="Refunds", page="mentions", query="q=chargeback", now=NOW
        )
    assert again.id == first.id and again.url == "/mentions?q=chargeback"
    with sessions.begin() as session:
        assert [(s.name, s.query) for s in list_searches(session, user_id=1)] == [("Refunds", "q=chargeback")]
        assert [s.url for s in list_searches(session, user_id=2)] == ["/?range=30d"]
        assert not delete_search(session, user_id=2, search_id=first.id)
        assert delete_search(session, user_id=1, search_id=first.id)
        assert list_searches(session, user_id=1) == []
    with sessions.begin() as session, pytest.raises(ValueError, match="page must be one of"):
        save_search(session, user_id=1, name="x", page="https://evil.example", query="", now=NOW)


def test_api_saves_lists_and_deletes_only_the_users_own(alice: TestClient, bob: TestClient) -> None:
    made = alice.post("/api/searches", json={"name": "Refunds", "query": "q=refund+OR+chargeback&offset=50"})
    assert made.status_code == 201
    saved = made.json()
    # The page offset is not part of a search; the rest is kept as sent.
    assert saved["url"] == "/mentions?q=refund+OR+chargeback" and saved["page"] == "mentions"
    bob.post(
        "/api/searches", json={"name": "Rival month", "page": "overview", "query": "range=30d&brand=Rival"}
    )
    assert [s["name"] for s in alice.get("/api/searches").json()] == ["Refunds"]
    assert [s["url"] for s in bob.get("/api/searches").json()] == ["/?range=30d&brand=Rival"]
    assert bob.delete(f"/api/searches/{saved['id']}").status_code == 404  # not bob's
    assert alice.delete(f"/api/searches/{saved['id']}").status_code == 204
    assert alice.get("/api/searches").json() == []
    assert alice.delete(f"/api/searches/{saved['id']}").status_code == 404


def test_api_refuses_bad_searches(alice: TestClient, anonymous: TestClient) -> None:
    assert alice.post("/api/searches", json={"name": "", "query": ""}).status_code == 422
    assert alice.post("/api/searches", json={"name": "   "}).status_code == 422
    assert alice.post("/api/searches", json={"name": "x", "page": "/admin"}).status_code == 422
    assert alice.post("/api/searches", json={"name": "x" * 129}).status_code == 422
    assert anonymous.get("/api/searches").status_code == 401


def test_pages_save_reopen_and_delete(alice: TestClient, bob: TestClient) -> None:
    inbox = alice.get("/mentions?q=refund&brand=Acme")
    assert '<input type="hidden" name="query" value="brand=Acme&amp;q=refund">' in inbox.text
    saved = alice.post(
        "/searches", data={"name": "Acme refunds", "page": "mentions", "query": "brand=Acme&q=refund"}
    )
    assert saved.status_code == 303 and saved.headers["location"] == "/mentions?brand=Acme&q=refund"
    listed = alice.get("/searches").text
    assert "Acme refunds" in listed and 'href="/mentions?brand=Acme&amp;q=refund"' in listed
    assert "Acme refunds" in alice.get("/mentions").text  # offered on the inbox too
    assert "Acme refunds" not in bob.get("/searches").text
    overview = alice.get("/?range=30d&brand=Acme")
    assert (
        '<input type="hidden" name="query" value="range=30d&amp;brand=Acme&amp;vs=Rival&amp;vs=Zed">'
        in overview.text
    )
    search_id = alice.get("/api/searches").json()[0]["id"]
    assert bob.post(f"/searches/{search_id}/delete").status_code == 303
    assert "Acme refunds" in alice.get("/searches").text  # bob's click deleted nothing of alice's
    assert alice.post(f"/searches/{search_id}/delete").status_code == 303
    assert "No saved searches yet" in alice.get("/searches").text
