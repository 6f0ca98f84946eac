"""Vendored assets are served locally, pages load nothing from elsewhere, headers are strict."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from storage.db import create_db_engine, session_factory, upgrade
from tests.web.conftest import add_account, build_app


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One empty SQLite database for the module: these tests are about assets and markup, not storage."""
    engine = create_db_engine(f"sqlite:///{tmp_path_factory.mktemp('static') / 'earshot.db'}")
    upgrade(engine)
    sessions = session_factory(engine)
    _, token = add_account(sessions, name="static-admin")
    app = build_app(sessions, brands=["Acme"])
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as test_client:
        yield test_client
    engine.dispose()


@pytest.mark.parametrize(
    ("path", "marker"),
    [
        ("/static/vendor/htmx/htmx.min.js", "htmx"),
        ("/static/vendor/chartjs/chart.umd.min.js", "Chart.js v4"),
        ("/static/vendor/swagger-ui/swagger-ui-bundle.js", "SwaggerUIBundle"),
        ("/static/vendor/swagger-ui/swagger-ui.css", ".swagger-ui"),
        ("/static/vendor/htmx/LICENSE.txt", "Zero-Clause BSD"),
        ("/static/vendor/chartjs/LICENSE.md", "MIT License"),
        ("/static/vendor/swagger-ui/LICENSE.txt", "Apache License"),
        ("/static/app.js", "htmx.onLoad"),
        ("/static/earshot.css", ".badge"),
    ],
)
def test_static_files(client: TestClient, path: str, marker: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert marker in response.text
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("path", ["/", "/mentions", "/alerts", "/sources", "/docs"])
def test_pages_load_nothing_from_other_hosts(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    for url in re.findall(r'(?:src|href)="([^"]*)"', response.text):
        assert url.startswith(("/", "#", "data:")) or url == "", url
    csp = response.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe-eval" not in csp and "frame-ancestors 'none'" in csp
    assert response.headers["x-frame-options"] == "DENY"


def test_docs_and_openapi(client: TestClient) -> None:
    docs = client.get("/docs").text
    assert '<script src="/static/vendor/swagger-ui/swagger-ui-bundle.js">' in docs
    assert '<script src="/static/docs.js">' in docs
    schema = client.get("/openapi.json").json()
    paths = set(schema["paths"])
    assert {
        "/api/mentions",
        "/api/mentions/{mention_id}",
        "/api/alerts",
        "/api/alerts/{alert_id}",
        "/api/alerts/{alert_id}/ack",
        "/api/alerts/{alert_id}/resolve",
        "/api/alerts/{alert_id}/assign",
        "/api/deliveries/failed",
        "/api/deliveries/{delivery_id}/resend",
        "/api/trends/volume",
        "/api/trends/sentiment",
        "/api/trends/share-of-voice",
        "/api/sources",
        "/healthz",
    } <= paths
    assert not any(p in paths for p in ("/", "/mentions", "/alerts/{alert_id}/ack"))  # pages stay out
    assert client.get("/redoc").status_code == 404
