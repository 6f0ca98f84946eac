"""What a classifier says about a mention."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Sentiment(enum.StrEnum):
    """Three-way sentiment."""

    NEGATIVE = "negative"
    NEUTRAL = "neutral"
    POSITIVE = "positive"


class Urgency(enum.StrEnum):
    """How fast someone must respond; ordered from low to critical."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """Position in the order low < medium < high < critical."""
        return _URGENCY_ORDER.index(self)

    def at_least(self, other: Urgency) -> bool:
        """True when this level is ``other`` or above."""
        return self.rank >= other.rank


_URGENCY_ORDER = [Urgency.LOW, Urgency.MEDIUM, Urgency.HIGH, Urgency.CRITICAL]

# The built-in categories; teams may add their own from configuration.
CATEGORIES: tuple[str, ...] = (
    "outage",
    "security",
    "safety",
    "legal",
    "billing",
    "delivery",
    "customer_service",
    "product_feedback",
    "question",
    "praise",
    "spam",
)


@dataclass(frozen=True, slots=True)
class Classification:
    """Sentiment, urgency, categories and language for one mention."""

    sentiment: Sentiment
    sentiment_scores: dict[str, float]
    urgency: Urgency
    urgency_score: float
    categories: tuple[str, ...]
    language: str | None
    model_version: str
    category_scores: dict[str, float] = field(default_factory=dict, compare=False)
    # Which signals drove the urgency score and by how much, so an alert can explain itself.
    signals: dict[str, float] = field(default_factory=dict, compare=False)
    # True when the text's language is outside what the model was trained on.
    reduced_confidence: bool = False
    # SHA-256 of the model weights that produced this classification (None for rule-based ones).
    model_sha256: str | None = field(default=None, compare=False)
