"""Shared domain types for Earshot: plain typed values, no I/O."""

from domain.alerts import (
    Alert,
    AlertKind,
    AlertStatus,
    Delivery,
    DeliveryOutcome,
    DeliveryResult,
    DeliveryStatus,
    Notification,
    NotificationAction,
)
from domain.classification import (
    CATEGORIES,
    Classification,
    Sentiment,
    Urgency,
)
from domain.mentions import Author, Engagement, Mention, MentionKey

__all__ = [
    "CATEGORIES",
    "Alert",
    "AlertKind",
    "AlertStatus",
    "Author",
    "Classification",
    "Delivery",
    "DeliveryOutcome",
    "DeliveryResult",
    "DeliveryStatus",
    "Engagement",
    "Mention",
    "MentionKey",
    "Notification",
    "NotificationAction",
    "Sentiment",
    "Urgency",
]
