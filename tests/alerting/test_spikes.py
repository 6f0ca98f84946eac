"""Spike detection on synthetic volumes: the detector, the counting query, and the job's incidents."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from alerting import spikes
from alerting.config import RouteConfig, SpikeConfig, TeamConfig
from domain import Sentiment, Urgency
from storage.mentions import store_mentions
from storage.models import AlertRow, DeliveryRow
from tests.alerting.helpers import classified
from tests.factories import T0, mention

CONFIG = SpikeConfig()
FLAT = [10] * 12


@pytest.mark.parametrize(
    ("volumes", "metrics"),
    [
        (spikes.Volumes(11, 1, FLAT, [1] * 12), []),
        (spikes.Volumes(40, 4, FLAT, [1] * 12), ["volume"]),
        (spikes.Volumes(140, 2, [100] * 12, [1] * 12), []),  # 4 sd up, but only 1.4 times the usual
        (spikes.Volumes(40, 4, [2, 30, 5, 25, 0, 28, 3, 31, 1, 27, 4, 24], [1] * 12), []),  # noisy baseline
        (spikes.Volumes(12, 0, [0] * 12, [0] * 12), ["volume"]),  # from nothing to something
        (spikes.Volumes(6, 0, [0] * 12, [0] * 12), []),  # below min_mentions
        # A daily rush hour: quiet recent hours, but this hour is busy every day.
        (spikes.Volumes(45, 4, [5] * 12, [0] * 12, seasonal=[40, 42, 38, 44]), []),
        (spikes.Volumes(150, 10, [5] * 12, [0] * 12, seasonal=[40, 42, 38, 44]), ["volume"]),
        # Same volume, far more negative than usual.
        (spikes.Volumes(12, 9, FLAT, [1] * 12), ["negative_share"]),
        (spikes.Volumes(12, 3, FLAT, [1] * 12), []),
        (spikes.Volumes(40, 30, FLAT, [1] * 12), ["volume", "negative_share"]),
        (spikes.Volumes(0, 0, FLAT, [1] * 12), []),
    ],
)
def test_detect(volumes: spikes.Volumes, metrics: list[str]) -> None:
    assert [f.metric for f in spikes.detect(volumes, CONFIG)] == metrics


@pytest.mark.parametrize(("sensitivity", "spiked"), [(2.0, True), (3.0, True), (3.5, False), (5.0, False)])
def test_sensitivity(sensitivity: float, spiked: bool) -> None:
    volumes = spikes.Volumes(20, 1, FLAT, [1] * 12)  # (20 - 10) / sqrt(10) = 3.16 sd, exactly 2x
    assert bool(spikes.detect(volumes, SpikeConfig(sensitivity=sensitivity))) is spiked


def seed(
    sessions: sessionmaker[Session],
    *,
    hours_ago: int,
    count: int,
    negative: int = 0,
    text: str = "lumora works fine",
    prefix: str = "",
    brand: str = "Lumora",
    likes: int = 0,
) -> None:
    """``count`` mentions published spread over the hour that ended ``hours_ago`` hours before T0."""
    items = []
    for i in range(count):
        at = T0 - timedelta(hours=hours_ago + 1) + timedelta(seconds=(i + 0.5) * 3600 / count)
        m = mention(
            f"{prefix}{brand}-{hours_ago}-{i}", f"{text} {i}", at=at, brands=(brand,), likes=likes * i
        )
        feeling = Sentiment.NEGATIVE if i < negative else Sentiment.NEUTRAL
        cats = ("outage",) if "outage" in text else ()
        items.append((m, classified(*cats, urgency=Urgency.LOW, sentiment=feeling)))
    with sessions.begin() as session:
        store_mentions(session, [m for m, _ in items], [c for _, c in items], now=T0)


def test_volumes_counts_each_window(sessions: sessionmaker[Session]) -> None:
    for hours_ago in range(0, 13):
        seed(sessions, hours_ago=hours_ago, count=hours_ago + 1, negative=1)
    seed(sessions, hours_ago=24, count=7)  # same hour yesterday
    seed(sessions, hours_ago=0, count=3, brand="Vantix")  # another brand does not count
    with sessions() as session:
        got = spikes.volumes(session, brand="Lumora", now=T0, config=SpikeConfig(seasonal_days=3))
    assert (got.current, got.negative) == (1, 1)
    assert list(got.recent) == list(range(2, 14)) and list(got.recent_negative) == [1] * 12
    assert list(got.seasonal) == [7]  # data does not reach back two or three days


TEAMS = {"pr": TeamConfig(name="pr", channels=["pr-chat"]), "support": TeamConfig(name="support")}
ROUTES = [RouteConfig(name="default", team="support", default=True)]


def _check(sessions: sessionmaker[Session], minutes: float = 0) -> int | None:
    with sessions.begin() as session:
        return spikes.check_brand(
            session,
            brand="Lumora",
            config=CONFIG,
            teams=TEAMS,
            routes=ROUTES,
            now=T0 + timedelta(minutes=minutes),
        )


def test_spike_is_raised_once_with_its_evidence_and_resolved_when_over(
    sessions: sessionmaker[Session],
) -> None:
    for hours_ago in range(1, 13):
        seed(sessions, hours_ago=hours_ago, count=10, negative=1)
    seed(
        sessions, hours_ago=0, count=40, negative=30, text="lumora outage refund please", prefix="s", likes=5
    )
    alert_id = _check(sessions)
    assert alert_id is not None
    with sessions() as session:
        alert = session.get_one(AlertRow, alert_id)
        assert (alert.kind, alert.team, alert.urgency, alert.brand) == ("spike", "pr", "high", "Lumora")
        assert alert.title.startswith("Negative spike for Lumora: 40 mentions in the last hour")
        details = alert.details
        assert [f["metric"] for f in details["findings"]] == ["volume", "negative_share"]
        assert {"outage", "refund"} <= {t["term"] for t in details["top_terms"]}
        assert "lumora" not in {t["term"] for t in details["top_terms"]}
        assert details["top_categories"][0] == {"category": "outage", "count": 40}
        engagement = [m["engagement"] for m in details["top_mentions"]]
        assert engagement == sorted(engagement, reverse=True) and engagement[0] == 5 * 39
        assert session.scalars(select(DeliveryRow.channel)).all() == ["pr-chat"]
    assert _check(sessions, minutes=5) is None  # the same spike: not raised again
    assert _check(sessions, minutes=30) is None
    assert _check(sessions, minutes=120) is None  # the burst has left the last hour
    with sessions() as session:
        alert = session.get_one(AlertRow, alert_id)
        assert (alert.status, alert.resolved_by) == ("resolved", "earshot")
        assert len(session.scalars(select(AlertRow)).all()) == 1


def test_a_later_spike_is_a_new_incident(sessions: sessionmaker[Session]) -> None:
    seed(sessions, hours_ago=0, count=30, text="lumora outage", prefix="a")
    first = _check(sessions)
    assert first is not None and _check(sessions, minutes=90) is None  # over
    seed(sessions, hours_ago=-4, count=60, text="lumora outage again", prefix="b")  # 3 to 4 h after T0
    second = _check(sessions, minutes=240)
    assert second is not None and second != first


def test_missing_team_falls_back_to_the_default_route_team(sessions: sessionmaker[Session]) -> None:
    seed(sessions, hours_ago=0, count=30, text="lumora outage")
    with sessions.begin() as session:
        alert_id = spikes.check_brand(
            session, brand="Lumora", config=CONFIG, teams={"support": TEAMS["support"]}, routes=ROUTES, now=T0
        )
        assert alert_id is not None and session.get_one(AlertRow, alert_id).team == "support"
