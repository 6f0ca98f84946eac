"""Web fixtures: the app over the parametrised test database, driven in-process, signed in.

``client`` is an administrator's client (a Bearer token), so tests of what the app does need
no sign-in of their own; ``signed_in`` makes a client for any role and teams, ``anonymous``
one with no credentials at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.web.factories import NOW
from web.app import create_app
from web.auth import User
from web.auth.accounts import add_user, create_token
from web.config import WebConfig

BRANDS = ["Acme"]
COMPETITORS = {"Acme": ["Rival", "Zed"]}
# TestClient sends Host: testserver; a real deployment lists its own names.
TEST_WEB = WebConfig(allowed_hosts=["testserver"])


def build_app(sessions: sessionmaker[Session], **kwargs: Any) -> FastAPI:
    """The app as tests run it: frozen clock at NOW, Host testserver allowed."""
    kwargs.setdefault("clock", lambda: NOW)
    kwargs.setdefault("web", TEST_WEB)
    return create_app(session_factory=sessions, **kwargs)


def add_account(
    sessions: sessionmaker[Session],
    *,
    name: str,
    role: str = "admin",
    teams: tuple[str, ...] = (),
    password: str | None = None,
) -> tuple[User, str]:
    """A new user and a fresh API token of theirs."""
    with sessions.begin() as session:
        user = add_user(session, name=name, role=role, teams=teams, password=password, now=NOW)
        _, token = create_token(session, name=name, now=NOW)
    return user, token


def signed_in(
    app: FastAPI,
    sessions: sessionmaker[Session],
    *,
    role: str = "admin",
    teams: tuple[str, ...] = (),
    name: str | None = None,
) -> TestClient:
    """A client (not yet started) that sends a new user's API token with every request."""
    _, token = add_account(sessions, name=name or "-".join((role, *teams)), role=role, teams=teams)
    return TestClient(app, follow_redirects=False, headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def web_app(sessions: sessionmaker[Session]) -> FastAPI:
    """The app over the test database, with a clock frozen at NOW."""
    return build_app(sessions, brands=BRANDS, competitors=COMPETITORS)


@pytest.fixture
def client(web_app: FastAPI, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    """An in-process client signed in as an administrator."""
    with signed_in(web_app, sessions, role="admin", name="admin") as test_client:
        yield test_client


@pytest.fixture
def anonymous(web_app: FastAPI) -> Iterator[TestClient]:
    """An in-process client with no credentials."""
    with TestClient(web_app, follow_redirects=False) as test_client:
        yield test_client
