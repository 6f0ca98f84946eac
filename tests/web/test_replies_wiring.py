"""The running web app gets the configured teams and reply desk from earshot.yaml (earshot.webapp)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from earshot.compose import App
from earshot.settings import Settings
from earshot.webapp import web_app
from scheduler.components import Components
from tests.collectors.repliers.desk import NOW, seed_alert
from tests.collectors.repliers.fakes import FakeX, serving
from tests.web.conftest import signed_in


def _built(settings: Settings, engine: Engine, sessions: sessionmaker[Session]) -> App:
    # web_app reads only the settings, the session factory and the clock of a built Earshot.
    components = cast(Components, SimpleNamespace(sessions=sessions, clock=lambda: NOW))
    return App(settings=settings, engine=engine, components=components)


def test_the_web_app_posts_replies_and_shows_sla_targets_from_the_config(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    fake = FakeX()
    with serving(fake) as base:
        settings = Settings.model_validate(
            {
                "web": {"allowed_hosts": ["testserver"]},
                "teams": [{"name": "support", "sla": {"first_response": "30m", "resolution": "8h"}}],
                "replies": {
                    "accounts": {"x": fake.account(base)},
                    "teams": {"support": {"templates": [{"name": "sorry", "text": "Hi @$author, on it."}]}},
                },
            }
        )
        app = web_app(_built(settings, engine, sessions))
        assert app.state.teams == {"support": settings.teams[0]}
        alert_id = seed_alert(sessions, fake.target())
        with signed_in(app, sessions, role="responder", teams=("support",), name="rui") as rui:
            drafted = rui.post(f"/api/alerts/{alert_id}/replies", json={"template": "sorry"})
            assert drafted.status_code == 201, drafted.text
            sent = rui.post(f"/api/replies/{drafted.json()['id']}/send")
            assert sent.status_code == 200, sent.text
            assert sent.json()["state"] == "posted"
            [support] = [t for t in rui.get("/api/cases/stats").json()["teams"] if t["team"] == "support"]
            desk = app.state.replies
            replier = desk.pool.get("x", "twitter")
        # Leaving the client shuts the app down: the desk's connections to the sources are closed.
        assert desk.pool.get("x", "twitter") is not replier
        desk.pool.close()
    assert [p.json["text"] for p in fake.posts()] == ["Hi @dana_ops, on it."]
    assert (support["first_response_target"], support["resolution_target"]) == (1800, 8 * 3600)
    assert desk.config.accounts.keys() == {"x"}
