"""GET /api/mentions filters and pagination, GET /api/mentions/{id}."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from storage.mentions import set_clusters
from tests.web.factories import NOW, classification, mention, store


@pytest.fixture
def ids(sessions: sessionmaker[Session]) -> list[int]:
    """Five mentions, one hour apart, newest first in the returned order of ids."""
    stored = store(
        sessions,
        [
            (
                mention("m0", at=NOW - timedelta(hours=5), text="checkout is broken again"),
                classification("negative", "high", ["outage", "billing"]),
            ),
            (
                mention("m1", at=NOW - timedelta(hours=4), brands=("Rival",), source="rss"),
                classification("positive", "low", ["praise"]),
            ),
            (
                mention(
                    "m2", at=NOW - timedelta(hours=3), text="Love the new app", handle="@eve", followers=9
                ),
                classification("positive", "low", ["praise"]),
            ),
            (mention("m3", at=NOW - timedelta(hours=2), brands=("Acme", "Rival")), None),
            (
                mention("m4", at=NOW - timedelta(hours=1), text="Checkout broken, card charged twice"),
                classification("negative", "critical", ["billing"]),
            ),
        ],
    )
    with sessions.begin() as session:
        set_clusters(session, {stored[4]: stored[0]})
    return stored


def external_ids(client: TestClient, query: str) -> tuple[list[str], int]:
    response = client.get(f"/api/mentions?{query}")
    assert response.status_code == 200, response.text
    return [item["external_id"] for item in response.json()["items"]], response.json()["total"]


def test_lists_newest_first_with_everything_attached(client: TestClient, ids: list[int]) -> None:
    body = client.get("/api/mentions").json()
    assert body["total"] == 5 and body["limit"] == 50 and body["offset"] == 0
    assert [i["external_id"] for i in body["items"]] == ["m4", "m3", "m2", "m1", "m0"]
    newest = body["items"][0]
    assert newest["id"] == ids[4]
    assert newest["cluster_id"] == ids[0]
    assert newest["brands"] == ["Acme"]
    assert newest["author"] == {"handle": "@dana", "display_name": "Dana", "followers": 1200, "url": None}
    assert newest["classification"]["sentiment"] == "negative"
    assert newest["classification"]["urgency"] == "critical"
    assert newest["classification"]["categories"] == ["billing"]
    assert body["items"][1]["classification"] is None
    assert body["items"][1]["brands"] == ["Acme", "Rival"]


# One test walks the whole table: each case is cheap, a fresh database per case is not.
FILTER_CASES = [
    ("brand=Rival", ["m3", "m1"]),
    ("source=rss", ["m1"]),
    ("sentiment=negative", ["m4", "m0"]),
    ("urgency=critical", ["m4"]),
    ("category=billing", ["m4", "m0"]),
    ("category=praise&brand=Acme", ["m2"]),
    ("q=checkout", ["m4", "m0"]),
    # m0..m4 are at 07:30, 08:30, 09:30, 10:30, 11:30 UTC; since is inclusive, until exclusive.
    ("since=2024-05-10T09:30:00Z", ["m4", "m3", "m2"]),
    ("until=2024-05-10T09:30:00%2B00:00", ["m1", "m0"]),
    ("since=2024-05-10T11:00:00%2B02:00", ["m4", "m3", "m2"]),
    # A naive timestamp is UTC.
    ("since=2024-05-10T08:00:00&until=2024-05-10T10:00:00", ["m2", "m1"]),
    ("brand=Nobody", []),
]


def test_filters(client: TestClient, ids: list[int]) -> None:
    for query, expected in FILTER_CASES:
        assert external_ids(client, query) == (expected, len(expected)), query


def test_pagination(client: TestClient, ids: list[int]) -> None:
    first = client.get("/api/mentions?limit=2").json()
    second = client.get("/api/mentions?limit=2&offset=2").json()
    last = client.get("/api/mentions?limit=2&offset=4").json()
    beyond = client.get("/api/mentions?limit=2&offset=10").json()
    pages = [[i["external_id"] for i in page["items"]] for page in (first, second, last, beyond)]
    assert pages == [["m4", "m3"], ["m2", "m1"], ["m0"], []]
    assert {page["total"] for page in (first, second, last, beyond)} == {5}
    filtered = client.get("/api/mentions?sentiment=positive&limit=1&offset=1").json()
    assert [i["external_id"] for i in filtered["items"]] == ["m1"] and filtered["total"] == 2


def test_bad_parameters_are_422(client: TestClient) -> None:
    for query in ["sentiment=angry", "urgency=soon", "limit=0", "limit=201", "offset=-1", "since=yesterday"]:
        assert client.get(f"/api/mentions?{query}").status_code == 422, query


def test_detail_and_404(client: TestClient, ids: list[int]) -> None:
    body = client.get(f"/api/mentions/{ids[2]}").json()
    assert body["external_id"] == "m2"
    assert body["text"] == "Love the new app"
    assert body["author"]["handle"] == "@eve" and body["author"]["followers"] == 9
    assert body["raw"] == {}
    missing = client.get(f"/api/mentions/{max(ids) + 100}")
    assert missing.status_code == 404
    assert "does not exist" in missing.json()["detail"]


SEARCH_CASES = [
    # The query language: OR, quotes, exclusion, lang:, from:; words match case-insensitively.
    ("q=refund%20OR%20checkout", ["m4", "m0"]),
    ('q="card charged"', ["m4"]),
    ('q="charged card"', []),
    ("q=checkout%20-twice", ["m0"]),
    ("q=-checkout", ["m3", "m2", "m1"]),
    ("q=from:eve", ["m2"]),
    ("q=from:@eve%20OR%20twice", ["m4", "m2"]),
    ("q=lang:en", []),  # the factory's mentions carry no source language
    ("q=about%20-Rival&brand=Acme", []),
    ("q=about%20Rival", ["m3", "m1"]),
    ("q=checkout&sentiment=unclassified", []),
    ("sentiment=unclassified", ["m3"]),
]


def test_search_uses_the_query_language(client: TestClient, ids: list[int]) -> None:
    for query, expected in SEARCH_CASES:
        assert external_ids(client, query) == (expected, len(expected)), query


def test_a_search_that_does_not_parse_is_a_clear_422(client: TestClient, ids: list[int]) -> None:
    response = client.get('/api/mentions?q="unclosed')
    assert response.status_code == 422
    assert response.json()["detail"] == "search: unterminated quoted phrase at position 1"
    assert client.get("/api/mentions/export.csv?q=(a").status_code == 422
