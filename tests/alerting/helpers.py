"""A small harness for alerting tests: raise alerts for mentions on a test database, then deliver."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from alerting.config import AlertingConfig, RouteConfig, TeamConfig
from alerting.routing import Router
from alerting.service import raise_alerts
from domain import Classification, Mention, Sentiment, Urgency
from scheduler.components import Components
from scheduler.delivery import DeliveryReport, deliver_due
from storage.mentions import store_mentions
from storage.models import AlertEventRow, AlertRow, DeliveryRow
from tests.factories import T0, Clock, RecordingChannel, components


def classified(
    *categories: str,
    urgency: Urgency = Urgency.HIGH,
    sentiment: Sentiment = Sentiment.NEGATIVE,
    language: str | None = "en",
) -> Classification:
    """A classification with the given labels."""
    return Classification(
        sentiment=sentiment,
        sentiment_scores={str(sentiment): 0.9},
        urgency=urgency,
        urgency_score=0.7,
        categories=categories,
        language=language,
        model_version="test",
    )


@dataclass
class Harness:
    """Routes, teams and channels over a test database, with a controllable clock."""

    sessions: sessionmaker[Session]
    routes: list[RouteConfig]
    teams: list[TeamConfig]
    channels: Sequence[str] = ("recording",)
    alerting: AlertingConfig = field(
        default_factory=lambda: AlertingConfig(backoff_seconds=10, max_attempts=3, lease_seconds=60)
    )
    clock: Clock = field(default_factory=Clock)

    def __post_init__(self) -> None:
        self.router = Router(self.routes, self.teams)
        self.recorders = {name: RecordingChannel() for name in self.channels}
        self.components: Components = components(self.sessions, {}, clock=self.clock, alerting=self.alerting)
        self.components.channels = dict(self.recorders)
        self.components.router = self.router
        self._next_id = 0

    def raise_for(
        self, mention: Mention, classification: Classification, *, cluster: int | None = None
    ) -> list[int]:
        """Store ``mention`` and raise its alerts now; return the new alert ids."""
        now = self.clock()
        with self.sessions.begin() as session:
            (stored,) = store_mentions(session, [mention], [classification], now=now)
            before = set(session.scalars(select(AlertRow.id)))
            raise_alerts(
                session,
                router=self.router,
                config=self.alerting,
                mention_id=stored.id,
                mention=mention,
                classification=classification,
                cluster_id=cluster if cluster is not None else stored.id,
                now=now,
            )
            session.flush()
            return sorted(set(session.scalars(select(AlertRow.id))) - before)

    def deliver(self) -> DeliveryReport:
        """One pass of the outbox worker at the clock's time."""
        return deliver_due(self.components)

    def sent(self, channel: str = "recording", action: str = "fire") -> list[list[int]]:
        """Alert ids in each ``action`` notification ``channel`` received (grouped ones list all)."""
        out = []
        for n in self.recorders[channel].sent:
            if n.action != action:
                continue
            group = n.alert.details.get("group")
            out.append(sorted(a["id"] for a in group["alerts"]) if group else [n.alert.id])
        return out

    def advance(self, seconds: float) -> None:
        """Move the clock on."""
        self.clock.advance(seconds=seconds)


def events(sessions: sessionmaker[Session], alert_id: int) -> list[tuple[str, str]]:
    """(action, note) of an alert's audit trail, oldest first."""
    with sessions() as session:
        rows = session.scalars(
            select(AlertEventRow).where(AlertEventRow.alert_id == alert_id).order_by(AlertEventRow.id)
        )
        return [(e.action, e.note) for e in rows]


def deliveries(sessions: sessionmaker[Session], alert_id: int) -> list[dict[str, Any]]:
    """An alert's outbox rows as dicts, oldest first."""
    with sessions() as session:
        rows = session.scalars(
            select(DeliveryRow).where(DeliveryRow.alert_id == alert_id).order_by(DeliveryRow.id)
        )
        return [
            {
                "channel": d.channel,
                "action": d.action,
                "status": d.status,
                "due": d.next_attempt_at,
                "key": d.idempotency_key,
                "attempts": d.attempts,
            }
            for d in rows
        ]


def at(seconds: float) -> datetime:
    """The test clock's start plus ``seconds`` (for expected due times)."""
    return T0 + timedelta(seconds=seconds)
