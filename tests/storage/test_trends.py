"""Aggregate queries computed from a known set of stored mentions, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.orm import Session, sessionmaker

from alerting.lifecycle import resolve
from storage import trends
from tests.web.factories import NOW, alert, classification, mention, store

H9 = datetime(2024, 5, 10, 9, 0, tzinfo=UTC)
UNTIL = datetime(2024, 5, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def known(sessions: sessionmaker[Session]) -> list[int]:
    """Acme: 09:10 (also Rival), 10:05, 10:40, 11:15; Rival: 11:20, 11:50; plus out-of-window mentions."""
    return store(
        sessions,
        [
            (
                mention("both", at=H9 + timedelta(minutes=10), brands=("Acme", "Rival"), handle="@al"),
                classification("negative", "high", ["outage", "billing"]),
            ),
            (
                mention("a1", at=H9 + timedelta(hours=1, minutes=5), handle="@al", likes=5),
                classification("negative", "critical", ["outage"]),
            ),
            (
                mention("a2", at=H9 + timedelta(hours=1, minutes=40), handle="@bo", likes=50),
                classification("positive", "low", ["praise"]),
            ),
            (mention("a3", at=H9 + timedelta(hours=2, minutes=15), handle="@cy"), None),
            (
                mention("r1", at=H9 + timedelta(hours=2, minutes=20), brands=("Rival",), handle="@bo"),
                classification("neutral", "low", ["question"]),
            ),
            (
                mention("r2", at=H9 + timedelta(hours=2, minutes=50), brands=("Rival",), handle="@al"),
                classification("negative", "medium", ["outage"]),
            ),
            # Outside [09:00, 12:00): one just before, one exactly at the end (exclusive), one days ago.
            (mention("early", at=H9 - timedelta(seconds=1)), classification("positive")),
            (mention("late", at=UNTIL, brands=("Rival",)), classification("positive", categories=["praise"])),
            (mention("old", at=NOW - timedelta(days=3)), classification("negative", categories=["outage"])),
        ],
    )


def test_bucket_starts_cover_the_window_in_utc() -> None:
    since = datetime(2024, 5, 10, 11, 30, tzinfo=timezone(timedelta(hours=2)))  # 09:30 UTC
    starts = trends.bucket_starts(since, UNTIL, "hour")
    assert starts == [H9, H9 + timedelta(hours=1), H9 + timedelta(hours=2)]
    days = trends.bucket_starts(NOW - timedelta(days=2), NOW, "day")
    assert [d.day for d in days] == [8, 9, 10]
    assert all(d.hour == 0 and d.tzinfo is UTC for d in days)


def test_hourly_volume_per_brand(sessions: sessionmaker[Session], known: list[int]) -> None:
    with sessions() as session:
        series = trends.volume(session, since=H9, until=UNTIL, bucket="hour", brands=["Acme", "Rival", "Zed"])
        everything = trends.volume(session, since=H9, until=UNTIL, bucket="hour")
    assert series == {"Acme": [1, 2, 1], "Rival": [1, 0, 2], "Zed": [0, 0, 0]}
    assert everything == {"Acme": [1, 2, 1], "Rival": [1, 0, 2]}


def test_volume_with_a_non_utc_since(sessions: sessionmaker[Session], known: list[int]) -> None:
    since = datetime(2024, 5, 10, 12, 0, tzinfo=timezone(timedelta(hours=2)))  # 10:00 UTC
    with sessions() as session:
        series = trends.volume(session, since=since, until=UNTIL, bucket="hour", brands=["Acme"])
    assert series == {"Acme": [2, 1]}


def test_daily_volume(sessions: sessionmaker[Session], known: list[int]) -> None:
    since = NOW - timedelta(days=3)
    with sessions() as session:
        series = trends.volume(session, since=since, until=NOW, bucket="day", brands=["Acme", "Rival"])
    # 7 May: "old"; 10 May: early, both, a1, a2, a3 for Acme; both, r1, r2, late for Rival.
    assert series == {"Acme": [1, 0, 0, 5], "Rival": [0, 0, 0, 4]}


def test_sentiment_per_brand_and_bucket(sessions: sessionmaker[Session], known: list[int]) -> None:
    with sessions() as session:
        series = trends.sentiment(session, since=H9, until=UNTIL, bucket="hour", brands=["Acme", "Rival"])
    assert series["Acme"] == {
        "negative": [1, 1, 0],
        "neutral": [0, 0, 0],
        "positive": [0, 1, 0],
        "unclassified": [0, 0, 1],
    }
    assert series["Rival"] == {
        "negative": [1, 0, 1],
        "neutral": [0, 0, 1],
        "positive": [0, 0, 0],
        "unclassified": [0, 0, 0],
    }


def test_share_of_voice(sessions: sessionmaker[Session], known: list[int]) -> None:
    with sessions() as session:
        shares = trends.share_of_voice(session, brands=["Acme", "Rival", "Zed"], since=H9, until=UNTIL)
        nobody = trends.share_of_voice(session, brands=["Zed"], since=H9, until=UNTIL)
    assert [(s.brand, s.mentions) for s in shares] == [("Acme", 4), ("Rival", 3), ("Zed", 0)]
    assert [round(s.share, 4) for s in shares] == [round(4 / 7, 4), round(3 / 7, 4), 0.0]
    assert nobody == [trends.BrandShare("Zed", 0, 0.0)]


def test_top_categories(sessions: sessionmaker[Session], known: list[int]) -> None:
    with sessions() as session:
        overall = trends.top_categories(session, since=H9, until=UNTIL)
        acme = trends.top_categories(session, since=H9, until=UNTIL, brand="Acme", limit=2)
    assert overall == [("outage", 3), ("billing", 1), ("praise", 1), ("question", 1)]
    assert acme == [("outage", 2), ("billing", 1)]


def test_top_authors(sessions: sessionmaker[Session], known: list[int]) -> None:
    with sessions() as session:
        authors = trends.top_authors(session, since=H9, until=UNTIL)
        rival = trends.top_authors(session, since=H9, until=UNTIL, brand="Rival", limit=1)
    assert [(a.handle, a.mentions, a.engagement) for a in authors] == [
        ("@al", 3, 5),
        ("@bo", 2, 50),
        ("@cy", 1, 0),
    ]
    assert authors[0].followers == 1200 and authors[0].display_name == "Dana"
    assert [(a.handle, a.mentions) for a in rival] == [("@al", 2)]


def test_busiest_brands(sessions: sessionmaker[Session], known: list[int]) -> None:
    with sessions() as session:
        assert trends.busiest_brands(session, since=H9, until=UNTIL) == ["Acme", "Rival"]
        assert trends.busiest_brands(session, since=H9, until=UNTIL, limit=1) == ["Acme"]


def test_open_alerts_by_urgency(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        # Distinct titles: an open alert's group key is unique (one open alert per group).
        alert(session, urgency="high")
        alert(session, urgency="high", title="second")
        done = alert(session, urgency="critical", title="third")
        alert(session, urgency="low", title="fourth")
        resolve(session, alert_id=done, actor="ops", now=NOW)
    with sessions() as session:
        counts = trends.open_alerts_by_urgency(session)
    assert counts == {"low": 1, "medium": 0, "high": 2, "critical": 0}


def test_empty_database(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        assert trends.volume(session, since=H9, until=UNTIL, brands=["Acme"]) == {"Acme": [0, 0, 0]}
        assert trends.top_categories(session, since=H9, until=UNTIL) == []
        assert trends.top_authors(session, since=H9, until=UNTIL) == []
        assert trends.share_of_voice(session, brands=[], since=H9, until=UNTIL) == []


def test_stories_count_near_duplicates_once(sessions: sessionmaker[Session]) -> None:
    from storage.mentions import set_clusters, store_mentions
    from tests.factories import mention as make_mention

    at = datetime(2026, 11, 1, 12, 30, tzinfo=UTC)
    copies = [make_mention(str(i), f"RT story {i}", at=at) for i in range(4)]
    other = make_mention("x", "another story", at=at, brands=("Vantix",))
    with sessions() as s, s.begin():
        stored = store_mentions(s, [*copies, other], now=at)
        first = min(m.id for m in stored if m.mention.brands == ("Lumora",))
        set_clusters(s, {m.id: first for m in stored if m.mention.brands == ("Lumora",)})
    since, until = datetime(2026, 11, 1, 12, tzinfo=UTC), datetime(2026, 11, 1, 14, tzinfo=UTC)
    with sessions() as s:
        assert trends.volume(s, since=since, until=until, brands=["Lumora"])["Lumora"] == [4, 0]
        assert trends.volume(s, since=since, until=until, brands=["Lumora"], unit="stories")["Lumora"] == [
            1,
            0,
        ]
        shares = trends.share_of_voice(
            s, brands=["Lumora", "Vantix"], since=since, until=until, unit="stories"
        )
        assert [(x.brand, x.mentions, x.share) for x in shares] == [("Lumora", 1, 0.5), ("Vantix", 1, 0.5)]
