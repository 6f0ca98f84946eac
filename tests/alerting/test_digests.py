"""Digests: scheduled daily or weekly summaries per team, once per period, to any channel."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from alerting import digests
from alerting.config import DigestConfig, TeamConfig
from domain import Sentiment, Urgency
from storage.mentions import store_mentions
from storage.models import AlertRow, DeliveryRow
from tests.alerting.helpers import classified
from tests.factories import mention


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("digest", "zone", "now", "due"),
    [
        (DigestConfig(at="09:00"), "UTC", "2026-01-14 09:00", "2026-01-14 09:00"),
        (DigestConfig(at="09:00"), "UTC", "2026-01-14 08:59", "2026-01-13 09:00"),
        (DigestConfig(at="09:00"), "Europe/Paris", "2026-01-14 08:30", "2026-01-14 08:00"),
        (DigestConfig(at="09:00"), "Europe/Paris", "2026-07-14 07:30", "2026-07-14 07:00"),  # summer time
        (
            DigestConfig(schedule="weekly", weekday="mon", at="08:00"),
            "UTC",
            "2026-01-14 12:00",
            "2026-01-12 08:00",
        ),
        (
            DigestConfig(schedule="weekly", weekday="wed", at="13:00"),
            "UTC",
            "2026-01-14 12:00",
            "2026-01-07 13:00",
        ),
    ],
)
def test_latest_due(digest: DigestConfig, zone: str, now: str, due: str) -> None:
    assert digests.latest_due(digest, zone, utc(now)) == utc(due)


TEAM = TeamConfig(
    name="pr", channels=["pr-chat"], digest=DigestConfig(at="09:00", channels=["pr-mail"], top=2)
)


def _seed(sessions: sessionmaker[Session]) -> None:
    now = utc("2026-01-14 09:00")
    items = []
    # Yesterday 09:00 -> today 09:00: 6 Lumora (3 negative); the day before: 4 Lumora (1 negative).
    for i in range(6):
        m = mention(f"n{i}", f"lumora post {i}", at=now - timedelta(hours=i + 1), likes=i)
        items.append(
            (
                m,
                classified(
                    urgency=Urgency.LOW, sentiment=Sentiment.NEGATIVE if i < 3 else Sentiment.POSITIVE
                ),
            )
        )
    for i in range(4):
        m = mention(f"p{i}", f"older lumora post {i}", at=now - timedelta(hours=30 + i))
        items.append(
            (m, classified(urgency=Urgency.LOW, sentiment=Sentiment.NEGATIVE if i < 1 else Sentiment.NEUTRAL))
        )
    with sessions.begin() as session:
        store_mentions(session, [m for m, _ in items], [c for _, c in items], now=now)


def _send(sessions: sessionmaker[Session], now: str) -> list[int]:
    with sessions.begin() as session:
        return digests.send_due(session, teams={"pr": TEAM}, brands=["Lumora", "Vantix"], now=utc(now))


def test_digest_once_per_period(sessions: sessionmaker[Session]) -> None:
    _seed(sessions)
    (digest_id,) = _send(sessions, "2026-01-14 09:05")
    assert _send(sessions, "2026-01-14 10:00") == []
    assert _send(sessions, "2026-01-15 08:59") == []
    assert len(_send(sessions, "2026-01-15 09:00")) == 1
    with sessions() as session:
        alert = session.get_one(AlertRow, digest_id)
        assert (alert.kind, alert.team, alert.status, alert.urgency) == ("digest", "pr", "resolved", "low")
        assert alert.title == "Daily digest for pr, Wed 14 Jan 2026 09:00 UTC"
        lines = alert.summary.splitlines()
        assert lines[0] == "Lumora: 6 mentions (+50% on the previous day), 50% negative (was 25%)"
        assert lines[1] == "Vantix: 0 mentions (flat on the previous day), 0% negative (was 0%)"
        assert "Most engaged:" in lines
        assert [m["engagement"] for m in alert.details["top_mentions"]] == [5, 4]
        # Only the digest itself goes out: to its own channel, with no "resolved" behind it.
        rows = session.scalars(select(DeliveryRow).where(DeliveryRow.alert_id == digest_id)).all()
        assert [(d.channel, d.action) for d in rows] == [("pr-mail", "fire")]


def test_digest_lists_the_team_open_alerts(sessions: sessionmaker[Session]) -> None:
    from domain import AlertKind
    from storage.alerts import NewAlert, create_alert

    with sessions.begin() as session:
        for title, team in [("Outage", "pr"), ("Legal", "legal"), ("Recall", "pr")]:
            create_alert(
                session,
                NewAlert(AlertKind.MENTION, title, "s", Urgency.HIGH, team, "r", {}, "why", title, ()),
                now=utc("2026-01-14 08:00"),
            )
    (digest_id,) = _send(sessions, "2026-01-14 09:05")
    with sessions() as session:
        summary = session.get_one(AlertRow, digest_id).summary
    assert "Open alerts: 2 (2 high)" in summary
    assert "#1 [firing] Outage" in summary and "#3 [firing] Recall" in summary and "Legal" not in summary
