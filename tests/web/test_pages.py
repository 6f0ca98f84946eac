"""Dashboard pages render from storage: overview, inbox, mention, sources, 404s."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from storage.sources import record_failure, record_success
from tests.web.factories import NOW, alert, classification, mention, store


@pytest.fixture
def data(sessions: sessionmaker[Session]) -> list[int]:
    ids = store(
        sessions,
        [
            (
                mention(
                    "u1",
                    at=NOW - timedelta(hours=2),
                    text="Acme checkout down for everyone",
                    url="https://social.example/u1",
                    handle="@loud",
                    display_name="Loud Person",
                    followers=250_000,
                ),
                classification("negative", "critical", ["outage"]),
            ),
            (
                mention("r1", at=NOW - timedelta(hours=1), brands=("Rival",), text="Rival is fine"),
                classification("positive"),
            ),
            (
                mention("old", at=NOW - timedelta(days=5), text="ancient history"),
                classification("negative", "high"),
            ),
        ]
        + [(mention(f"p{i}", at=NOW - timedelta(days=1, minutes=i)), None) for i in range(30)],
    )
    with sessions.begin() as session:
        alert(session, urgency="critical", mention_id=ids[0])
        alert(session, urgency="high", title="Second")
    return ids


def chart_data(html: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" class="chart-data">(.*?)</script>', html, re.S)
    assert match, "chart data missing"
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def open_count(html: str, level: str) -> int:
    match = re.search(rf'(\d+)</span>\s*<span class="label">{level} open', html)
    assert match, f"no {level} card"
    return int(match.group(1))


def test_overview(client: TestClient, data: list[int]) -> None:
    response = client.get("/")
    assert response.status_code == 200
    html = response.text
    for canvas in ("volume", "sentiment", "share"):
        assert f'<canvas data-chart="{canvas}"' in html
    assert "Acme" in html and "Rival" in html and "Zed" in html
    assert '<script src="/static/vendor/chartjs/chart.umd.min.js" defer></script>' in html
    assert 'hx-trigger="every 30s"' in html
    # Open alerts by urgency.
    assert [open_count(html, level) for level in ("critical", "high", "medium", "low")] == [1, 1, 0, 0]
    # Latest urgent mentions: the critical one of the last 48 h, not the 5-day-old high one.
    assert "Acme checkout down for everyone" in html and "ancient history" not in html
    assert "Loud Person" in html and "250k followers" in html
    charts = chart_data(html)
    assert [s["label"] for s in charts["volume"]["series"]] == ["Acme", "Rival", "Zed"]
    assert len(charts["volume"]["labels"]) == 49
    assert sum(charts["volume"]["series"][0]["data"]) == 31  # u1 + 30 from yesterday
    assert {s["label"]: sum(s["data"]) for s in charts["sentiment"]["series"]} == {
        "negative": 1,
        "neutral": 0,
        "positive": 0,
        "unclassified": 30,
    }
    assert charts["share"] == {"labels": ["Acme", "Rival", "Zed"], "data": [31, 1, 0]}


def test_overview_refresh_gets_only_the_fragment(client: TestClient, data: list[int]) -> None:
    fragment = client.get("/", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<div id="overview"')
    assert "<html" not in fragment.text and '<canvas data-chart="volume"' in fragment.text
    assert fragment.headers["vary"] == "HX-Request"


def test_empty_overview(client: TestClient) -> None:
    html = client.get("/").text
    assert "Nothing high or critical in the last 48 hours." in html
    assert chart_data(html)["share"] == {"labels": ["Acme", "Rival", "Zed"], "data": [0, 0, 0]}


def test_inbox_shows_badges_author_and_link(client: TestClient, data: list[int]) -> None:
    html = client.get("/mentions?urgency=critical").text
    assert "1 matching" in html
    assert '<span class="badge sentiment-negative">negative</span>' in html
    assert '<span class="badge urgency-critical">critical</span>' in html
    assert '<span class="tag">outage</span>' in html
    assert "Loud Person" in html and "@loud" in html and "250k followers" in html
    link = '<a class="original" href="https://social.example/u1" rel="noopener noreferrer nofollow"'
    assert link in html
    assert "Rival is fine" not in html


def test_inbox_filters_from_a_form_with_blank_fields(client: TestClient, data: list[int]) -> None:
    html = client.get("/mentions?brand=Rival&sentiment=&urgency=&category=&source=&since=&until=&q=fine").text
    assert "1 matching" in html and "Rival is fine" in html
    assert "<option selected>Rival</option>" in html
    since = client.get("/mentions?since=2024-05-10T09:00").text  # datetime-local, naive = UTC
    assert "2 matching" in since


def test_inbox_pagination(client: TestClient, data: list[int]) -> None:
    first = client.get("/mentions?brand=Acme").text
    assert "32 matching · showing 1–25" in first
    assert 'href="/mentions?brand=Acme&amp;offset=25"' in first and 'rel="prev"' not in first
    last = client.get("/mentions?brand=Acme&offset=25").text
    assert "showing 26–32" in last and 'rel="next"' not in last
    assert 'href="/mentions?brand=Acme&amp;offset=0"' in last
    assert last.count('<article class="mention">') == 7


def test_inbox_rejects_bad_filters_clearly(client: TestClient, data: list[int]) -> None:
    response = client.get("/mentions?sentiment=furious")
    assert response.status_code == 422
    assert "sentiment must be one of negative, neutral, positive" in response.text
    assert "not a date" in client.get("/mentions?since=tomorrow").text


def test_mention_page(client: TestClient, data: list[int]) -> None:
    html = client.get(f"/mentions/{data[0]}").text
    assert "Acme checkout down for everyone" in html and "test-1" in html
    response = client.get("/mentions/999999")
    assert response.status_code == 404 and "does not exist" in response.text


def test_sources_page(client: TestClient, sessions: sessionmaker[Session]) -> None:
    assert "No source has run yet." in client.get("/sources").text
    with sessions.begin() as session:
        record_success(session, source="mastodon-main", kind="mastodon", items=4, now=NOW)
        record_failure(session, source="feeds", kind="rss", error="timed out after 30 s", now=NOW)
    html = client.get("/sources").text
    assert "mastodon-main" in html and '<span class="badge health-ok">ok</span>' in html
    assert "feeds" in html and '<span class="badge health-failing">failing</span>' in html
    assert "timed out after 30 s" in html


def test_unknown_pages_are_404(client: TestClient) -> None:
    assert client.get("/alerts/424242").status_code == 404
    assert client.get("/nowhere").status_code == 404
