"""Authentication and team permissions on every route, generated from the app's route table.

A route added later is picked up here without anyone listing it: anonymous callers must be
refused (401 for the API, a redirect to /login for pages) unless the route is one of the few
public ones; every route that changes something must refuse viewers (but the few in
VIEWER_ROUTES: signing out, their own saved searches); and every one that names
an alert or delivery in its path must refuse a responder of another team while letting the
owning team's responder (unless the handler takes an ``AdminUser``) and an administrator
through. An acting route that names its targets
some other way must be listed in BODY_SCOPED with the test that checks its team rule.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any, get_type_hints

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from starlette.routing import BaseRoute, Mount, Route

from storage import replies
from storage.models import DeliveryRow
from tests.web.conftest import TEST_WEB, build_app, signed_in
from tests.web.factories import NOW, alert
from web.app import create_app
from web.auth import AdminUser, is_api
from web.auth.middleware import viewer_may
from web.auth.teams import TEAM_OF

PUBLIC = {("GET", "/healthz"), ("GET", "/login"), ("POST", "/login")}
# Acting routes with no alert or delivery in the path; each is checked by the test named.
BODY_SCOPED = {
    ("POST", "/logout"): "anyone signed in may sign out (test_auth.py::test_logout_ends_the_session)",
    ("POST", "/api/silences"): "team from the matchers (test_auth.py::test_silences_are_team_scoped)",
    ("POST", "/api/silences/{silence_id}/expire"): "team from the stored matchers (same test)",
    ("POST", "/api/alerts/bulk"): "each alert's team, in web.actions (inbox tests)",
    ("POST", "/alerts/bulk"): "each alert's team, in web.actions (inbox tests)",
    ("PUT", "/api/me/availability"): "the caller's own availability",
    ("POST", "/alerts/availability"): "the caller's own availability",
    ("POST", "/api/searches"): "the caller's own saved searches",
    ("DELETE", "/api/searches/{search_id}"): "the caller's own saved searches",
    ("POST", "/searches"): "the caller's own saved searches",
    ("POST", "/searches/{search_id}/delete"): "the caller's own saved searches",
}
# The acting routes a viewer may call (web.auth.middleware.viewer_may); any other answers them 403.
VIEWER_ROUTES = {
    ("POST", "/logout"),
    ("POST", "/api/searches"),
    ("DELETE", "/api/searches/{search_id}"),
    ("POST", "/searches"),
    ("POST", "/searches/{search_id}/delete"),
}
SAFE = {"GET", "HEAD", "OPTIONS"}
_PARAM = re.compile(r"{([^}:]+)(?::[^}]*)?}")


def _walk(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, set[str], Any]]:
    for route in routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if contexts is not None:  # FastAPI keeps included routers as branches
            for context in contexts():
                methods = set(getattr(context.original_route, "methods", None) or ())
                yield context.path, methods, context.endpoint
        elif isinstance(route, Mount):
            yield from _walk(list(getattr(route, "routes", None) or ()), prefix + route.path)
        elif isinstance(route, Route):
            yield prefix + route.path, set(route.methods or ()), route.endpoint


def _admin_only(endpoint: Any) -> bool:
    """True when the handler takes an ``AdminUser``: only administrators may call it at all."""
    try:
        hints = get_type_hints(endpoint, include_extras=True)
    except Exception:  # a handler whose annotations cannot be resolved is treated as not admin-only
        return False
    return any(hint == AdminUser for hint in hints.values())


def route_table() -> list[tuple[str, str]]:
    """(method, path) of every route the app serves, HEAD aside (it follows GET)."""
    app = create_app(session_factory=sessionmaker(), web=TEST_WEB)
    found = set()
    for path, methods, endpoint in _walk(list(app.routes)):
        for method in methods - {"HEAD"}:
            found.add((method, path))
            if _admin_only(endpoint):
                ADMIN_ONLY.add((method, path))
    return sorted(found, key=lambda mp: (mp[1], mp[0]))


ADMIN_ONLY: set[tuple[str, str]] = set()
ROUTES = route_table()
ACTING = [(m, p) for m, p in ROUTES if m not in SAFE and (m, p) not in PUBLIC]


def _reply(session: Session, alert_id: int) -> int:
    new = replies.NewReply(
        alert_id=alert_id,
        mention_id=None,
        team="support",
        source="x-main",
        source_kind="twitter",
        target_id="1",
        text="Sorry about that",
        template=None,
        state=replies.ReplyState.PENDING_APPROVAL,
        idempotency_key="auth-routes-1",
        drafted_by="someone",
    )
    return replies.create(session, new, now=NOW).id


# How to make a resource of team "support" for each path parameter that has a team lookup.
RESOURCES: dict[str, Callable[[Session, int], int]] = {
    "alert_id": lambda session, alert_id: alert_id,
    "delivery_id": lambda session, alert_id: session.query(DeliveryRow).filter_by(alert_id=alert_id).one().id,
    "reply_id": _reply,
}


def _ids(sessions: sessionmaker[Session]) -> dict[str, int]:
    """A support alert and one of each team-scoped resource, so acting paths name something real."""
    with sessions.begin() as session:
        alert_id = alert(session, team="support", channels=("slack-support",))
        return {name: make(session, alert_id) for name, make in RESOURCES.items()}


def concrete(path: str, ids: dict[str, int]) -> str:
    """``path`` with each parameter replaced by a real id where one is known, else 1."""
    return _PARAM.sub(lambda m: str(ids.get(m.group(1), 1)), path).replace("{table}", "mentions")


def _empty_body(path: str) -> dict[str, Any]:
    """An empty JSON object for the API, an empty form for pages: the permission check comes first."""
    return {"json": {}} if is_api(path) else {"data": {}}


def test_the_table_is_complete() -> None:
    # The walk found the app's routes, not an empty list that would make every test vacuous.
    paths = {p for _, p in ROUTES}
    assert {
        "/api/alerts/{alert_id}/ack",
        "/alerts",
        "/api/silences",
        "/metrics",
        "/healthz",
        "/login",
    } <= paths
    assert ("POST", "/api/alerts/{alert_id}/ack") in ACTING
    # Every route a viewer may call exists, so the viewer rule is checked against each of them.
    assert set(ACTING) >= VIEWER_ROUTES
    # The replies routes are covered, each on a real reply of the support team.
    assert {
        ("POST", "/api/replies/{reply_id}/send"),
        ("POST", "/api/replies/{reply_id}/check"),
        ("POST", "/api/replies/{reply_id}/approve"),
    } <= set(ACTING)
    assert ("POST", "/api/replies/{reply_id}/approve") in ADMIN_ONLY


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_anonymous_callers_are_refused(
    sessions: sessionmaker[Session], web_app: FastAPI, method: str, path: str
) -> None:
    with TestClient(web_app, follow_redirects=False) as anonymous:
        response = anonymous.request(method, concrete(path, {}))
    if (method, path) in PUBLIC:
        assert response.status_code not in (401, 403), response.text
    elif is_api(path):
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"] == "Bearer"
    else:
        assert response.status_code == 303, response.text
        assert response.headers["location"].startswith("/login")


def test_only_the_public_routes_and_static_files_are_open(web_app: FastAPI) -> None:
    with TestClient(web_app, follow_redirects=False) as anonymous:
        assert anonymous.get("/static/earshot.css").status_code == 200
        assert anonymous.get("/healthz").status_code == 200
        # A probe that happens to send a stale token is still answered: health needs no identity.
        assert anonymous.get("/healthz", headers={"Authorization": "Bearer stale"}).status_code == 200
        assert anonymous.get("/openapi.json").status_code == 401
        assert anonymous.get("/docs").status_code == 303
        # An unknown path is not a way around sign-in either.
        assert anonymous.get("/api/no-such-thing").status_code == 401


@pytest.mark.parametrize(("method", "path"), ACTING, ids=[f"{m} {p}" for m, p in ACTING])
def test_acting_routes_check_role_and_team(sessions: sessionmaker[Session], method: str, path: str) -> None:
    app = build_app(sessions)
    ids = _ids(sessions)
    target = concrete(path, ids)
    scoped = [name for name in _PARAM.findall(path) if name in TEAM_OF]
    assert all(name in RESOURCES for name in scoped), f"{path}: add a factory for it to RESOURCES"
    if not scoped and (method, path) != ("POST", "/logout"):
        assert (method, path) in BODY_SCOPED, f"{method} {path}: which team may use it? see BODY_SCOPED"
    with signed_in(app, sessions, role="viewer", teams=("support",)) as viewer:
        answer = viewer.request(method, target, **_empty_body(path))
        may = viewer_may(method, target)
        assert may == ((method, path) in VIEWER_ROUTES), f"{method} {path}: see VIEWER_ROUTES"
        if may:
            # Signing out and their own saved searches: nothing anyone else relies on.
            assert answer.status_code not in (401, 403), answer.text
        else:
            assert answer.status_code == 403, answer.text
    if not scoped:
        return
    with signed_in(app, sessions, role="responder", teams=("sales",)) as stranger:
        refused = stranger.request(method, target, **_empty_body(path))
        assert refused.status_code == 403, refused.text
    with signed_in(app, sessions, role="responder", teams=("support",)) as responder:
        answer = responder.request(method, target, **_empty_body(path))
        if (method, path) in ADMIN_ONLY:
            assert answer.status_code == 403, answer.text
        else:
            assert answer.status_code not in (401, 403), answer.text
    with signed_in(app, sessions, role="admin", name="root") as admin:
        allowed = admin.request(method, target, **_empty_body(path))
        assert allowed.status_code not in (401, 403), allowed.text
