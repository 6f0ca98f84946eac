"""Trend endpoints computed from a known set of stored mentions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.web.factories import NOW, classification, mention, store

HOUR = timedelta(hours=1)


@pytest.fixture
def stored(sessions: sessionmaker[Session]) -> list[int]:
    """In the last 3 hours: Acme 3 (one also Rival), Rival 2, Zed 0, Other 1 (untracked); Acme 1 long ago."""
    return store(
        sessions,
        [
            (
                mention("a1", at=NOW - 2.5 * HOUR, brands=("Acme", "Rival"), handle="@al", likes=3),
                classification("negative", "high", ["outage"]),
            ),
            (
                mention("a2", at=NOW - 1.5 * HOUR, handle="@al"),
                classification("positive", categories=["praise"]),
            ),
            (mention("a3", at=NOW - 0.5 * HOUR, handle="@bo"), None),
            (
                mention("r1", at=NOW - 0.25 * HOUR, brands=("Rival",), handle="@cy"),
                classification("neutral", categories=["question"]),
            ),
            (mention("o1", at=NOW - HOUR, brands=("Other",), handle="@cy"), classification("positive")),
            (mention("old", at=NOW - timedelta(days=20)), classification("negative", categories=["outage"])),
        ],
    )


def test_hourly_volume_defaults_to_48_hours_of_tracked_brands(client: TestClient, stored: list[int]) -> None:
    body = client.get("/api/trends/volume").json()
    assert body["bucket"] == "hour"
    assert body["since"].startswith("2024-05-08T12:30:00") and body["until"].startswith("2024-05-10T12:30:00")
    assert len(body["buckets"]) == 49  # 12:00 two days ago .. 12:00 today
    assert body["buckets"][-1].startswith("2024-05-10T12:00:00")
    # Own brand first, then its competitors; the untracked brand is not charted.
    assert list(body["series"]) == ["Acme", "Rival", "Zed"]
    # a1 10:00, a2 11:00, a3 12:00, r1 12:15 (NOW is 12:30).
    assert body["series"]["Acme"][-4:] == [0, 1, 1, 1]
    assert body["series"]["Rival"][-4:] == [0, 1, 0, 1]
    assert sum(body["series"]["Zed"]) == 0


def test_daily_volume_for_one_brand(client: TestClient, stored: list[int]) -> None:
    body = client.get("/api/trends/volume?brand=Acme&bucket=day&since=2024-04-20T00:00:00Z").json()
    assert list(body["series"]) == ["Acme"]
    assert len(body["buckets"]) == 21 and body["buckets"][0].startswith("2024-04-20")
    assert body["series"]["Acme"][0] == 1 and body["series"]["Acme"][-1] == 3
    assert sum(body["series"]["Acme"]) == 4


def test_sentiment(client: TestClient, stored: list[int]) -> None:
    body = client.get("/api/trends/sentiment?since=2024-05-10T09:00:00Z").json()
    assert len(body["buckets"]) == 4
    assert body["series"]["Acme"] == {
        "negative": [0, 1, 0, 0],
        "neutral": [0, 0, 0, 0],
        "positive": [0, 0, 1, 0],
        "unclassified": [0, 0, 0, 1],
    }
    assert body["series"]["Rival"]["neutral"] == [0, 0, 0, 1]
    other = client.get("/api/trends/sentiment?brand=Other&since=2024-05-10T09:00:00Z").json()
    assert other["series"] == {
        "Other": {"negative": [0] * 4, "neutral": [0] * 4, "positive": [0, 0, 1, 0], "unclassified": [0] * 4}
    }


def test_share_of_voice(client: TestClient, stored: list[int]) -> None:
    body = client.get("/api/trends/share-of-voice").json()
    rows = [(i["brand"], i["own"], i["mentions"], round(i["share"], 3)) for i in body["items"]]
    assert rows == [("Acme", True, 3, 0.6), ("Rival", False, 2, 0.4), ("Zed", False, 0, 0.0)]
    all_time = client.get("/api/trends/share-of-voice?brand=Acme&since=2024-04-01T00:00:00Z").json()
    assert [(i["brand"], i["mentions"]) for i in all_time["items"]] == [("Acme", 4), ("Rival", 2), ("Zed", 0)]


def test_categories_and_authors(client: TestClient, stored: list[int]) -> None:
    categories = client.get("/api/trends/categories").json()
    assert categories == [
        {"category": "outage", "mentions": 1},
        {"category": "praise", "mentions": 1},
        {"category": "question", "mentions": 1},
    ]
    authors = client.get("/api/trends/authors?brand=Acme").json()
    assert [(a["handle"], a["mentions"], a["engagement"]) for a in authors] == [("@al", 2, 3), ("@bo", 1, 0)]


def test_authors_by_reach(client: TestClient, sessions: sessionmaker[Session]) -> None:
    store(
        sessions,
        [
            (mention("s1", at=NOW - HOUR, handle="@small", followers=10), None),
            (mention("s2", at=NOW - HOUR, handle="@small", followers=10), None),
            (mention("b1", at=NOW - HOUR, handle="@big", followers=90_000), None),
            (mention("u1", at=NOW - HOUR, handle="@unknown", followers=None), None),
            (mention("r1", at=NOW - HOUR, brands=("Rival",), handle="@rival", followers=10**6), None),
        ],
    )
    by_reach = client.get("/api/trends/authors?brand=Acme&order=reach").json()
    assert [(a["handle"], a["followers"], a["mentions"]) for a in by_reach] == [
        ("@big", 90_000, 1),
        ("@small", 10, 2),
        ("@unknown", None, 1),
    ]
    by_mentions = client.get("/api/trends/authors?brand=Acme").json()
    assert by_mentions[0]["handle"] == "@small"
    assert client.get("/api/trends/authors?order=loudest").status_code == 422


BAD_WINDOWS = [
    "bucket=minute",
    "since=2024-05-11T00:00:00Z",  # after "now"
    "since=2024-05-10T00:00:00Z&until=2024-05-09T00:00:00Z",
    "since=2023-01-01T00:00:00Z",  # too many hourly buckets
]


def test_bad_windows_are_422(client: TestClient) -> None:
    for query in BAD_WINDOWS:
        assert client.get(f"/api/trends/volume?{query}").status_code == 422, query
    # A long window is fine in day buckets.
    assert client.get("/api/trends/volume?bucket=day&since=2023-01-01T00:00:00Z").status_code == 200


def test_without_configured_brands_the_busiest_are_charted(
    sessions: sessionmaker[Session], stored: list[int]
) -> None:
    from tests.web.conftest import build_app, signed_in

    with signed_in(build_app(sessions), sessions) as bare:
        body = bare.get("/api/trends/volume").json()
        share = bare.get("/api/trends/share-of-voice").json()
    assert list(body["series"]) == ["Acme", "Rival", "Other"]
    assert [(i["brand"], i["own"], i["mentions"]) for i in share["items"]] == [
        ("Acme", False, 3),
        ("Rival", False, 2),
        ("Other", False, 1),
    ]


def test_weekly_volume_starts_on_mondays(client: TestClient, stored: list[int]) -> None:
    body = client.get("/api/trends/volume?brand=Acme&bucket=week&since=2024-04-03T00:00:00Z").json()
    assert body["bucket"] == "week"
    # 2024-04-01 was a Monday; the window starts on the Wednesday after it.
    assert [b[:10] for b in body["buckets"]] == [
        "2024-04-01",
        "2024-04-08",
        "2024-04-15",
        "2024-04-22",
        "2024-04-29",
        "2024-05-06",
    ]
    assert body["series"]["Acme"] == [0, 0, 1, 0, 0, 3]  # 'old' on Saturday 20 April; a1-a3 this week
