"""Alerts raised for mentions that need a response, and their deliveries."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.classification import Urgency


class AlertStatus(enum.StrEnum):
    """Lifecycle of an alert."""

    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class AlertKind(enum.StrEnum):
    """What raised the alert."""

    MENTION = "mention"
    SPIKE = "spike"
    SOURCE_HEALTH = "source_health"
    DIGEST = "digest"
    # A team's first-response or resolution target was missed; raised for the team lead.
    SLA_BREACH = "sla_breach"


class DeliveryStatus(enum.StrEnum):
    """State of one alert's delivery to one channel (the outbox row)."""

    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


class DeliveryOutcome(enum.StrEnum):
    """What one send attempt achieved."""

    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """The structured result of one send attempt; never a bare bool."""

    outcome: DeliveryOutcome
    reason: str = ""
    retry_after_seconds: float | None = None
    status_code: int | None = None

    @property
    def ok(self) -> bool:
        """True when the channel accepted the message."""
        return self.outcome is DeliveryOutcome.DELIVERED

    @classmethod
    def delivered(cls, reason: str = "", status_code: int | None = None) -> DeliveryResult:
        """A successful send."""
        return cls(DeliveryOutcome.DELIVERED, reason, None, status_code)

    @classmethod
    def retry(
        cls, reason: str, after_seconds: float | None = None, status_code: int | None = None
    ) -> DeliveryResult:
        """A transient failure worth retrying, optionally not before ``after_seconds``."""
        return cls(DeliveryOutcome.RETRY, reason, after_seconds, status_code)

    @classmethod
    def failed(cls, reason: str, status_code: int | None = None) -> DeliveryResult:
        """A permanent failure: retrying will not help."""
        return cls(DeliveryOutcome.FAILED, reason, None, status_code)


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert as channels see it: what happened, why, and for whom."""

    id: int
    kind: AlertKind
    title: str
    summary: str
    urgency: Urgency
    status: AlertStatus
    team: str
    route: str
    reason: str
    group_key: str
    created_at: datetime
    brand: str | None = None
    mention_url: str | None = None
    mention_text: str | None = None
    author: str | None = None
    source: str | None = None
    categories: tuple[str, ...] = ()
    sentiment: str | None = None
    count: int = 1
    details: dict[str, Any] = field(default_factory=dict, compare=False)


class NotificationAction(enum.StrEnum):
    """Why a channel is being told about an alert."""

    FIRE = "fire"
    ESCALATE = "escalate"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


@dataclass(frozen=True, slots=True)
class Notification:
    """One message to one channel about one alert.

    ``idempotency_key`` is stable across retries of the same delivery, so a
    receiver can drop the repeat after a crash between sending and marking sent.
    """

    alert: Alert
    action: NotificationAction = NotificationAction.FIRE
    idempotency_key: str = ""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One alert's delivery to one channel, as kept in the outbox."""

    id: int
    alert_id: int
    channel: str
    status: DeliveryStatus
    attempts: int
    idempotency_key: str
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None
