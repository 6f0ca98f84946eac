"""Urgency scoring: a pure, documented function of head outputs, categories and reach.

How the score is built (every step is non-decreasing in every input, so more evidence never lowers it):

1. Content evidence. Each signal ``x`` in [0, 1] has a weight ``w``; they combine as a noisy-OR,
   ``content = 1 - prod(1 - w * x)``, so one strong signal counts and several add up without passing 1.
   Signals: negative-sentiment probability, anger probability, complaint probability, offensive
   probability, and each category's strength (0..1; the classifier passes 1.0 for a matched category).
   Safety, security, legal and outage weigh most; praise, questions, feedback and spam add nothing.
2. Reach. ``reach = log10(1 + followers) / 6`` (1M followers = 1) and
   ``buzz = log10(1 + engagement) / 4`` (10k interactions = 1), both clipped to [0, 1].
   They amplify content, never create it: ``score = min(1, content * (1 + 0.3 reach + 0.15 buzz))``,
   so a neutral post from a famous account stays low.
3. Level: the highest of critical/high/medium whose threshold (``options.urgency``) the score reaches.

The returned ``signals`` are each term's share (``w * x`` for content, the multiplier parts for reach),
stored in ``Classification.signals`` so an alert can say why it fired.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from classifiers.config import UrgencyThresholds
from domain import Urgency

HEAD_WEIGHTS: dict[str, float] = {"negative": 0.25, "anger": 0.1, "complaint": 0.25, "offensive": 0.1}
CATEGORY_WEIGHTS: dict[str, float] = {
    "safety": 0.6,
    "security": 0.55,
    "legal": 0.5,
    "outage": 0.45,
    "billing": 0.2,
    "delivery": 0.15,
    "customer_service": 0.15,
}
FOLLOWERS_WEIGHT = 0.3
ENGAGEMENT_WEIGHT = 0.15


@dataclass(frozen=True, slots=True)
class UrgencyResult:
    """Score in [0, 1], its level, and the signals that drove it."""

    score: float
    level: Urgency
    signals: dict[str, float] = field(default_factory=dict)


def _unit(x: float) -> float:
    # NaN or out-of-range inputs from a broken head must not poison the score.
    return 0.0 if not math.isfinite(x) else min(1.0, max(0.0, x))


def level_for(score: float, thresholds: UrgencyThresholds) -> Urgency:
    """Map a score to a level using the configured thresholds."""
    if score >= thresholds.critical:
        return Urgency.CRITICAL
    if score >= thresholds.high:
        return Urgency.HIGH
    if score >= thresholds.medium:
        return Urgency.MEDIUM
    return Urgency.LOW


def reach_factor(followers: int | None, engagement: int) -> tuple[float, float]:
    """(followers term, engagement term) of the amplification multiplier."""
    reach = _unit(math.log10(1 + max(0, followers or 0)) / 6)
    buzz = _unit(math.log10(1 + max(0, engagement)) / 4)
    return FOLLOWERS_WEIGHT * reach, ENGAGEMENT_WEIGHT * buzz


def score_urgency(
    *,
    negative: float,
    anger: float,
    complaint: float,
    offensive: float,
    categories: Mapping[str, float],
    followers: int | None,
    engagement: int,
    thresholds: UrgencyThresholds,
) -> UrgencyResult:
    """Urgency from model signals, categories and author reach (see the module docstring)."""
    terms: dict[str, float] = {}
    heads = {"negative": negative, "anger": anger, "complaint": complaint, "offensive": offensive}
    for name, value in heads.items():
        terms[name] = HEAD_WEIGHTS[name] * _unit(value)
    for name, strength in categories.items():
        weight = CATEGORY_WEIGHTS.get(name, 0.0)
        if weight:
            terms[f"category:{name}"] = weight * _unit(strength)
    remaining = 1.0
    for value in terms.values():
        remaining *= 1.0 - value
    content = 1.0 - remaining
    from_followers, from_engagement = reach_factor(followers, engagement)
    score = min(1.0, content * (1.0 + from_followers + from_engagement))
    signals = {k: round(v, 4) for k, v in terms.items() if v > 0.0}
    if content > 0.0:
        signals.update(
            {k: round(v, 4) for k, v in (("followers", from_followers), ("engagement", from_engagement)) if v}
        )
    return UrgencyResult(round(score, 4), level_for(score, thresholds), signals)


def amplify(
    content: float,
    signals: Mapping[str, float],
    *,
    followers: int | None,
    engagement: int,
    thresholds: UrgencyThresholds,
) -> UrgencyResult:
    """Urgency from a learned content score in [0, 1], raised by reach exactly as ``score_urgency`` is."""
    content = _unit(content)
    from_followers, from_engagement = reach_factor(followers, engagement)
    score = min(1.0, content * (1.0 + from_followers + from_engagement))
    out = {k: round(_unit(v), 4) for k, v in signals.items()}
    out["content"] = round(content, 4)
    if content > 0.0:
        out.update(
            {k: round(v, 4) for k, v in (("followers", from_followers), ("engagement", from_engagement)) if v}
        )
    return UrgencyResult(round(score, 4), level_for(score, thresholds), out)
