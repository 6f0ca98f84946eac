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


def series(charts: dict[str, Any], key: str) -> dict[str, list[Any]]:
    return {s["label"]: s["data"] for s in charts[key]}


def test_overview_defaults_to_seven_days_of_the_own_brand_and_its_competitors(
    client: TestClient, data: list[int]
) -> None:
    response = client.get("/")
    assert response.status_code == 200
    html = response.text
    for canvas in ("volume", "net", "share", "sentiment"):
        assert f'<canvas data-chart="{canvas}"' in html
    assert '<script src="/static/vendor/chartjs/chart.umd.min.js" defer></script>' in html
    assert 'hx-get="/?range=7d&amp;brand=Acme&amp;vs=Rival&amp;vs=Zed"' in html
    # Open alerts by urgency.
    assert [open_count(html, level) for level in ("critical", "high", "medium", "low")] == [1, 1, 0, 0]
    # Urgent mentions of the range: the 5-day-old one is inside 7 days.
    assert "Acme checkout down for everyone" in html and "ancient history" in html
    assert "Loud Person" in html and "250k followers" in html
    charts = chart_data(html)
    assert len(charts["labels"]) == 7 * 24 + 1 and len(charts["bounds"]) == 7 * 24 + 1
    # The first bucket starts at 12:00 but the window at 12:30: its drill-down starts at the window.
    assert charts["bounds"][0] == ["2024-05-03T12:30:00", "2024-05-03T13:00:00"]
    assert charts["bounds"][-1] == ["2024-05-10T12:00:00", "2024-05-10T12:30:00"]
    assert list(series(charts, "volume")) == ["Acme", "Rival", "Zed"]
    assert {k: sum(v) for k, v in series(charts, "volume").items()} == {"Acme": 32, "Rival": 1, "Zed": 0}
    assert {s["label"]: sum(s["data"]) for s in charts["sentiment"]} == {
        "negative": 2,
        "neutral": 0,
        "positive": 0,
        "unclassified": 30,
    }
    assert {s["brand"] for s in charts["sentiment"]} == {"Acme"}


def test_overview_range_and_brand_come_from_the_url(client: TestClient, data: list[int]) -> None:
    html = client.get("/?range=24h&brand=Rival&vs=Acme").text
    charts = chart_data(html)
    assert len(charts["labels"]) == 25
    assert list(series(charts, "volume")) == ["Rival", "Acme"]
    assert {k: sum(v) for k, v in series(charts, "volume").items()} == {
        "Rival": 1,
        "Acme": 2,
    }  # u1; p0 at 24 h
    # Net sentiment is per brand, never merged: Rival's one positive mention, Acme's one negative.
    net = {k: [v for v in values if v is not None] for k, values in series(charts, "net").items()}
    assert net == {"Rival": [100.0], "Acme": [-100.0]}
    # Share of voice over time adds up to 100% in every bucket with mentions.
    shares = series(charts, "share")
    for rival, acme in zip(shares["Rival"], shares["Acme"], strict=True):
        assert (rival is None and acme is None) or abs(rival + acme - 100) < 0.01
    assert "ancient history" not in html
    assert "<option selected>Rival</option>" in html
    assert 'name="vs" value="Acme" checked' in html and 'name="vs" value="Zed">' in html


def test_overview_custom_range_picks_day_buckets(client: TestClient, data: list[int]) -> None:
    html = client.get("/?range=custom&since=2024-04-01T00:00&until=2024-05-10T00:00").text
    charts = chart_data(html)
    assert len(charts["labels"]) == 39
    assert charts["bounds"][0] == ["2024-04-01T00:00:00", "2024-04-02T00:00:00"]
    assert 'href="/api/analytics/volume.csv?range=custom&amp;since=2024-04-01T00%3A00%3A00' in html


def test_overview_refuses_a_bad_view_and_shows_the_default(client: TestClient, data: list[int]) -> None:
    response = client.get("/?range=custom&since=2024-05-10T00:00&until=2024-05-01T00:00")
    assert response.status_code == 422
    assert "since must be before until" in response.text
    assert len(chart_data(response.text)["labels"]) == 7 * 24 + 1
    assert client.get("/?range=forever").status_code == 422


def test_overview_refresh_gets_only_the_fragment(client: TestClient, data: list[int]) -> None:
    fragment = client.get("/?range=24h", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<div id="overview"')
    assert "<html" not in fragment.text and '<canvas data-chart="volume"' in fragment.text
    assert 'hx-get="/?range=24h&amp;' in fragment.text
    assert fragment.headers["vary"] == "HX-Request"


def test_empty_overview(client: TestClient) -> None:
    html = client.get("/").text
    assert "Nothing high or critical in this range." in html
    assert {k: sum(v) for k, v in series(chart_data(html), "volume").items()} == {
        "Acme": 0,
        "Rival": 0,
        "Zed": 0,
    }
    assert "Nothing stands out from the baseline." in html


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


def test_inbox_search_uses_the_query_language_and_offers_export(client: TestClient, data: list[int]) -> None:
    html = client.get("/mentions?q=checkout%20OR%20fine").text
    assert "2 matching" in html and "Rival is fine" in html and "Acme checkout down" in html
    assert 'href="/api/mentions/export.csv?q=checkout+OR+fine"' in html
    assert "1 matching" in client.get("/mentions?q=checkout%20OR%20fine%20-rival").text
    bad = client.get('/mentions?q="unclosed')
    assert bad.status_code == 422 and "search: unterminated quoted phrase at position 1" in bad.text
