"""Silences over the API, and their effect on the pipeline: stored, audited, not sent."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from collectors.base import FetchResult
from scheduler.delivery import deliver_due
from scheduler.pipeline import run_source
from storage.models import AlertEventRow, AlertRow
from tests.factories import Clock, RecordingChannel, ScriptedCollector, components, mention
from tests.web.conftest import signed_in
from tests.web.factories import NOW


def _create(client: TestClient, **overrides: object) -> dict:  # type: ignore[type-arg]
    body = {
        "matchers": {"brand": "Lumora"},
        "duration_minutes": 120,
        "comment": "known outage",
    }
    body.update(overrides)
    response = client.post("/api/silences", json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_create_list_expire(client: TestClient, web_app: FastAPI, sessions: sessionmaker[Session]) -> None:
    # The signed-in user is the author; nobody types a name.
    created = _create(client)
    assert created["state"] == "active" and created["created_by"] == "admin"
    assert [s["id"] for s in client.get("/api/silences").json()] == [created["id"]]
    with signed_in(web_app, sessions, name="bob") as bob:
        expired = bob.post(f"/api/silences/{created['id']}/expire")
        assert expired.status_code == 200 and expired.json()["expired_by"] == "bob"
        assert bob.get("/api/silences").json() == []
        assert [s["state"] for s in bob.get("/api/silences?include_expired=true").json()] == ["expired"]
        assert bob.post(f"/api/silences/{created['id']}/expire").status_code == 409
        assert bob.post("/api/silences/999/expire").status_code == 404


def test_an_author_field_is_refused(client: TestClient) -> None:
    body = {"matchers": {"brand": "Lumora"}, "duration_minutes": 60, "author": "mallory", "comment": "why"}
    assert client.post("/api/silences", json=body).status_code == 422


def test_invalid_silences_are_422(client: TestClient) -> None:
    base = {"matchers": {"brand": "Lumora"}, "duration_minutes": 60, "comment": "why"}
    for bad in (
        {**base, "matchers": {}},
        {**base, "matchers": {"text": "=~ (unclosed"}},
        {**base, "comment": ""},
        {**base, "duration_minutes": None},
        {**base, "extra": 1},
    ):
        assert client.post("/api/silences", json=bad).status_code == 422, bad


def test_silenced_alerts_are_stored_not_sent(client: TestClient, sessions: sessionmaker[Session]) -> None:
    silence = _create(client)
    channel = RecordingChannel()
    collector = ScriptedCollector(
        "fake",
        [FetchResult(mentions=[mention("1", "lumora is down again, sync stuck, 500 errors")], cursor={})],
    )
    comps = components(sessions, {"fake": collector}, channel=channel, clock=Clock(NOW))
    assert run_source(comps, "fake").alerts == 1
    deliver_due(comps)
    assert channel.sent == []
    with sessions() as s:
        alert = s.scalars(select(AlertRow)).one()
        notes = [e.note for e in s.scalars(select(AlertEventRow).where(AlertEventRow.action == "silenced"))]
    assert alert.status == "firing"
    assert notes and f"#{silence['id']}" in notes[0]
