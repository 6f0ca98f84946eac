"""Outbox delivery details owned by alerting: channel rate limits become retries with the right delay."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from alerting.config import ChannelConfig, RouteConfig, TeamConfig, apply_channel_overrides
from domain import DeliveryResult
from storage.db import create_db_engine, session_factory, upgrade
from storage.installation import installation_id
from storage.models import DeliveryRow
from tests.alerting.helpers import Harness, classified
from tests.factories import RecordingChannel, mention

TEAMS = [TeamConfig(name="support", channels=["recording"])]
ROUTES = [RouteConfig(name="default", team="support", default=True)]


def test_config_overrides_a_channel_kind_rate_limit() -> None:
    channel, other = RecordingChannel(), RecordingChannel()
    apply_channel_overrides(channel, ChannelConfig(name="recording", kind="recording", max_per_minute=2))
    apply_channel_overrides(other, ChannelConfig(name="other", kind="recording"))
    # Only the configured instance changes; the kind's class-level limit stays.
    assert [c.max_per_minute for c in (channel, other)] == [2, None]
    assert RecordingChannel.max_per_minute is None


def test_rate_limited_send_is_retried_when_the_limit_allows(sessions: sessionmaker[Session]) -> None:
    h = Harness(sessions, ROUTES, TEAMS)
    apply_channel_overrides(
        h.recorders["recording"], ChannelConfig(name="recording", kind="x", max_per_minute=2)
    )
    for i in range(3):
        h.raise_for(mention(str(i), f"lumora refund {i}"), classified("billing"))
    report = h.deliver()
    assert (report.delivered, report.retried) == (2, 1)
    assert len(h.recorders["recording"].sent) == 2  # the third never reached the receiver
    with sessions() as session:
        (row,) = session.scalars(select(DeliveryRow).where(DeliveryRow.status == "pending")).all()
        assert row.last_error == "channel rate limit of 2/min"
        # Not the 5-10 s exponential backoff: the wait until the one-minute window has room.
        wait = row.next_attempt_at - h.clock()
        assert timedelta(seconds=55) <= wait <= timedelta(seconds=60), wait


def test_retry_after_longer_than_backoff_wins(sessions: sessionmaker[Session]) -> None:
    h = Harness(sessions, ROUTES, TEAMS)
    h.recorders["recording"].results = [DeliveryResult.retry("HTTP 429", after_seconds=900, status_code=429)]
    h.raise_for(mention("1", "lumora refund"), classified("billing"))
    assert h.deliver().retried == 1
    h.advance(899)
    assert h.deliver().delivered == 0
    h.advance(1)
    assert h.deliver().delivered == 1


def test_waiting_for_our_own_rate_limit_does_not_use_up_attempts(sessions: sessionmaker[Session]) -> None:
    h = Harness(sessions, ROUTES, TEAMS)  # max_attempts=3
    apply_channel_overrides(
        h.recorders["recording"], ChannelConfig(name="recording", kind="x", max_per_minute=1)
    )
    for i in range(2):
        h.raise_for(mention(str(i), f"lumora refund {i}"), classified("billing"))
    for _ in range(5):  # the limiter counts real seconds, so every pass finds it still full
        h.deliver()
        h.advance(61)
    with sessions() as session:
        waiting = session.scalars(select(DeliveryRow).where(DeliveryRow.status == "pending")).one()
        assert (waiting.attempts, waiting.last_error) == (0, "channel rate limit of 1/min")
        assert session.scalars(select(DeliveryRow).where(DeliveryRow.status == "dead")).all() == []


def test_idempotency_keys_carry_the_installation_id(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    # Two installations (a reset database, or another deployment) raise the same alert #1.
    other_engine = create_db_engine(f"sqlite:///{tmp_path / 'other.db'}")
    upgrade(other_engine)
    keys = []
    for factory in (sessions, session_factory(other_engine)):
        h = Harness(factory, ROUTES, TEAMS)
        (alert,) = h.raise_for(mention("1", "lumora refund"), classified("billing"))
        h.deliver()
        (sent,) = h.recorders["recording"].sent
        with factory() as session:
            installation = installation_id(session)
        assert str(uuid.UUID(installation)) == installation
        assert sent.idempotency_key == f"earshot-{installation}-{alert}-recording-fire"
        keys.append(sent.idempotency_key)
    other_engine.dispose()
    assert keys[0] != keys[1]  # a deduplicating receiver keeps both


def test_the_installation_id_is_stored_by_the_migration_and_stable(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    upgrade(engine)
    with engine.connect() as connection:
        (stored,) = connection.execute(text("SELECT installation_id FROM installation")).scalars()
    factory = session_factory(engine)
    with factory() as session:
        assert installation_id(session) == stored
    with factory() as session:
        assert installation_id(session) == stored
    engine.dispose()
