"""The marketers' dashboard API: ranges, brand selection, the previous period, drill-down."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.web.conftest import build_app, signed_in
from tests.web.factories import NOW, classification, mention, store

HOUR, DAY = timedelta(hours=1), timedelta(days=1)


@pytest.fixture
def stored(sessions: sessionmaker[Session]) -> list[int]:
    """This week: Acme 4 (2 positive, 1 negative, 1 unclassified), Rival 2. The week before: Acme 2."""
    owned = dataclasses.replace(
        mention("own", at=NOW - HOUR, handle="@acme", followers=10_000_000, text="Acme here: all fixed"),
        owned=True,
    )
    return store(
        sessions,
        [
            (
                mention("a1", at=NOW - 2 * HOUR, handle="@big", followers=50_000),
                classification("positive", categories=["outage"]),
            ),
            (
                mention("a2", at=NOW - DAY, handle="@small", followers=10),
                classification("positive", categories=["praise"]),
            ),
            (
                mention("a3", at=NOW - 3 * DAY, handle="@mid", followers=900),
                classification("negative", categories=["outage"]),
            ),
            (owned, None),
            (mention("r1", at=NOW - HOUR, brands=("Rival",), handle="@r"), classification("negative")),
            (mention("r2", at=NOW - 2 * DAY, brands=("Rival",), handle="@r"), classification("neutral")),
            (mention("p1", at=NOW - 8 * DAY), classification("negative", categories=["outage"])),
            (mention("p2", at=NOW - 10 * DAY), classification("negative")),
        ],
    )


def test_summary_against_the_previous_period(client: TestClient, stored: list[int]) -> None:
    body = client.get("/api/analytics?range=7d").json()
    assert body["brand"] == "Acme" and body["brands"] == ["Acme", "Rival", "Zed"]
    assert (
        body["previous_since"].startswith("2024-04-26T12:30:00") and body["previous_until"] == body["since"]
    )
    rows = {row["brand"]: row for row in body["summary"]}
    acme, rival, zed = rows["Acme"], rows["Rival"], rows["Zed"]
    assert (acme["mentions"], acme["previous_mentions"], acme["mentions_change"]) == (4, 2, 100.0)
    # Net sentiment: (2 positive - 1 negative) / 3 classified, against -100 the week before.
    assert (acme["net_sentiment"], acme["previous_net_sentiment"], acme["net_sentiment_change"]) == (
        33.3,
        -100.0,
        133.3,
    )
    assert (acme["share"], acme["previous_share"], acme["share_change"]) == (66.67, 100.0, -33.33)
    assert acme["own"] is True and rival["own"] is False
    assert (rival["mentions"], rival["mentions_change"], rival["net_sentiment"]) == (2, None, -50.0)
    assert rival["previous_net_sentiment"] is None and rival["net_sentiment_change"] is None
    assert (zed["mentions"], zed["net_sentiment"], zed["share"]) == (0, None, 0.0)
    assert zed["mentions_change"] == 0.0  # nothing, as before
    categories = {c["category"]: c for c in body["categories"]}
    assert (categories["outage"]["mentions"], categories["outage"]["previous_mentions"]) == (2, 1)
    assert categories["outage"]["change"] == 100.0 and categories["praise"]["change"] is None
    # By reach, without the brand's own account and its 10M followers.
    assert [a["handle"] for a in body["authors"]] == ["@big", "@mid", "@small"]


def test_net_sentiment_and_share_of_voice_per_brand_over_time(client: TestClient, stored: list[int]) -> None:
    body = client.get("/api/analytics?range=24h&vs=Rival").json()
    assert body["brands"] == ["Acme", "Rival"] and body["bucket"] == "hour" and len(body["buckets"]) == 25
    assert body["buckets"][-3:] == [b for b in body["buckets"][-3:] if b.startswith("2024-05-10T1")]
    # 10:00: a1 (positive); 11:00: own (unclassified) and r1 (negative); 12:00 nothing.
    assert body["net_sentiment"]["Acme"][-3:] == [100.0, None, None]
    assert body["net_sentiment"]["Rival"][-3:] == [None, -100.0, None]
    assert body["volume"]["Acme"][-3:] == [1, 1, 0] and body["volume"]["Rival"][-3:] == [0, 1, 0]
    assert body["share_of_voice"]["Acme"][-3:] == [100.0, 50.0, None]
    assert body["share_of_voice"]["Rival"][-3:] == [0.0, 50.0, None]
    assert body["sentiment"]["positive"][-3:] == [1, 0, 0] and body["sentiment"]["unclassified"][-3:] == [
        0,
        1,
        0,
    ]


@pytest.mark.parametrize(
    ("range_name", "bucket", "buckets"),
    [("24h", "hour", 25), ("7d", "hour", 169), ("30d", "day", 31), ("90d", "day", 91), ("12m", "week", 53)],
)
def test_ranges(client: TestClient, range_name: str, bucket: str, buckets: int) -> None:
    body = client.get(f"/api/analytics?range={range_name}").json()
    assert body["range"] == range_name and body["bucket"] == bucket and len(body["buckets"]) == buckets
    assert body["until"].startswith("2024-05-10T12:30:00")
    assert body["buckets"][0] <= body["since"] < body["buckets"][1]


def test_custom_range_and_explicit_bucket(client: TestClient, stored: list[int]) -> None:
    body = client.get(
        "/api/analytics?since=2024-05-01T00:00:00Z&until=2024-05-08T00:00:00Z&bucket=day"
    ).json()
    assert body["range"] == "custom" and body["bucket"] == "day" and len(body["buckets"]) == 7
    assert (
        sum(body["volume"]["Acme"]) == 2 and sum(body["volume"]["Rival"]) == 0
    )  # a3 and p1; r2 is after until
    assert body["previous_since"].startswith("2024-04-24T00:00:00")


def test_brand_selection(client: TestClient, stored: list[int]) -> None:
    body = client.get("/api/analytics?range=7d&brand=Rival&vs=Acme&vs=Rival").json()
    assert body["brand"] == "Rival" and body["brands"] == ["Rival", "Acme"]
    assert list(body["volume"]) == ["Rival", "Acme"] and body["sentiment"]["negative"].count(1) == 1
    assert [a["handle"] for a in body["authors"]] == ["@r"]


@pytest.mark.parametrize(
    "query",
    [
        "range=custom&since=2024-05-10T00:00:00Z&until=2024-05-01T00:00:00Z",
        "range=12m&bucket=hour",
        "range=forever",
        "vs=" + "&vs=".join(f"b{i}" for i in range(11)),
    ],
)
def test_bad_views_are_422(client: TestClient, query: str) -> None:
    assert client.get(f"/api/analytics?{query}").status_code == 422


def test_emerging_terms_surface_planted_words(client: TestClient, sessions: sessionmaker[Session]) -> None:
    everyday = "Acme support cloud hub login works for the team"
    baseline = [
        (mention(f"b{i}", at=NOW - 8 * DAY - i * HOUR, text=f"{everyday} {i}"), None) for i in range(40)
    ]
    window = [
        (
            mention(
                f"w{i}",
                at=NOW - i * HOUR,
                text=f"{everyday} but the blackout hit billing" if i % 2 else everyday,
            ),
            None,
        )
        for i in range(12)
    ]
    store(sessions, baseline + window)
    terms = client.get("/api/analytics?range=7d").json()["terms"]
    assert [t["term"] for t in terms[:2]] == ["billing", "blackout"] or [t["term"] for t in terms[:2]] == [
        "blackout",
        "billing",
    ]
    assert {"acme", "support", "cloud", "hub", "the", "but"}.isdisjoint(t["term"] for t in terms)
    assert terms[0]["mentions"] == 6 and terms[0]["baseline_mentions"] == 0


def chart_data(html: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" class="chart-data">(.*?)</script>', html, re.S)
    assert match
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def test_drill_down_returns_exactly_the_mentions_of_a_point(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    edge = NOW.replace(minute=0) - 5 * HOUR  # on a bucket boundary
    start = NOW - 24 * HOUR  # on the window's start, inside its first (clipped) bucket
    store(
        sessions,
        [
            (mention("e1", at=edge), classification("negative")),
            (mention("e2", at=edge - timedelta(microseconds=1)), classification("positive")),
            (mention("s1", at=start), classification("negative")),
            (mention("s0", at=start - timedelta(seconds=1)), classification("negative")),
            (mention("x1", at=edge + 30 * timedelta(minutes=1), brands=("Acme", "Rival")), None),
        ],
    )
    charts = chart_data(client.get("/?range=24h").text)
    checked = 0
    for key in ("volume", "sentiment"):
        for series in charts[key]:
            for index, count in enumerate(series["data"]):
                since, until = charts["bounds"][index]
                params: dict[str, str] = {"brand": series["brand"], "since": since, "until": until}
                if series.get("sentiment"):
                    params["sentiment"] = series["sentiment"]
                if not count and index % 5:
                    continue  # every non-empty point, and a sample of empty ones
                total = client.get("/api/mentions", params=params).json()["total"]
                assert total == count, (key, series["label"], since)
                checked += 1 if count else 0
    assert checked >= 6
    assert datetime.fromisoformat(charts["bounds"][0][0]) == start.replace(tzinfo=None)


def test_without_configured_brands_the_busiest_are_compared(sessions: sessionmaker[Session]) -> None:
    with signed_in(build_app(sessions), sessions, name="nobrands") as bare:
        body = bare.get("/api/analytics").json()
        assert body["brand"] is None and body["brands"] == [] and body["summary"] == []
        assert bare.get("/").status_code == 200
        an_hour_ago = NOW - HOUR
        store(
            sessions,
            [
                (mention("x", at=an_hour_ago, brands=("Beta",)), None),
                (mention("y", at=an_hour_ago, brands=("Alpha", "Beta")), None),
            ],
        )
        body = bare.get("/api/analytics?range=24h").json()
        assert body["brand"] == "Beta" and body["brands"] == ["Beta", "Alpha"]
        assert [s["mentions"] for s in body["summary"]] == [2, 1]
        # Nobody was mentioned the day before: no share to compare with, every brand is new.
        assert {(s["previous_share"], s["share_change"], s["mentions_change"]) for s in body["summary"]} == {
            (None, None, None)
        }
        assert bare.get("/?range=24h").status_code == 200
