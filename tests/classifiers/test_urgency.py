"""Table-driven tests of the pure urgency scoring function."""

from __future__ import annotations

from typing import Any

import pytest

from classifiers.config import UrgencyThresholds
from classifiers.urgency import level_for, score_urgency
from domain import Urgency

T = UrgencyThresholds()
CALM: dict[str, Any] = {
    "negative": 0.05,
    "anger": 0.02,
    "complaint": 0.05,
    "offensive": 0.01,
    "categories": {},
    "followers": 10,
    "engagement": 0,
}


def score(**overrides: Any) -> float:
    return score_urgency(**{**CALM, **overrides, "thresholds": T}).score


@pytest.mark.parametrize(
    ("base", "more"),
    [
        ({"followers": 10}, {"followers": 1_000_000}),
        ({"followers": None}, {"followers": 5}),
        ({"engagement": 0}, {"engagement": 5000}),
        ({"categories": {}}, {"categories": {"safety": 1.0}}),
        ({"categories": {"billing": 1.0}}, {"categories": {"billing": 1.0, "security": 1.0}}),
        ({"negative": 0.2}, {"negative": 0.9}),
        ({"complaint": 0.1}, {"complaint": 0.8}),
        ({"anger": 0.0}, {"anger": 1.0}),
        ({"negative": 0.9, "followers": 100}, {"negative": 0.9, "followers": 100_000}),
    ],
)
def test_more_evidence_never_lowers_urgency(base: dict[str, Any], more: dict[str, Any]) -> None:
    assert score(**more) >= score(**base)


@pytest.mark.parametrize("followers", [0, 10, 1000, 10**5, 10**7])
@pytest.mark.parametrize("category", ["safety", "security", "legal", "outage"])
def test_critical_categories_raise_urgency_strictly(followers: int, category: str) -> None:
    plain = score(negative=0.8, complaint=0.6, followers=followers)
    flagged = score(negative=0.8, complaint=0.6, followers=followers, categories={category: 1.0})
    assert flagged > plain


def test_safety_weighs_more_than_billing_or_praise() -> None:
    safety = score(categories={"safety": 1.0})
    billing = score(categories={"billing": 1.0})
    praise = score(categories={"praise": 1.0})
    assert safety > billing > praise == score()


def test_reach_amplifies_but_never_creates_urgency() -> None:
    quiet = score(
        negative=0.0, anger=0.0, complaint=0.0, offensive=0.0, followers=50_000_000, engagement=10**6
    )
    assert quiet == 0.0


@pytest.mark.parametrize(
    ("value", "level"),
    [
        (0.0, Urgency.LOW),
        (0.34, Urgency.LOW),
        (0.35, Urgency.MEDIUM),
        (0.59, Urgency.MEDIUM),
        (0.6, Urgency.HIGH),
        (0.79, Urgency.HIGH),
        (0.8, Urgency.CRITICAL),
        (1.0, Urgency.CRITICAL),
    ],
)
def test_thresholds_map_to_levels(value: float, level: Urgency) -> None:
    assert level_for(value, T) is level


def test_custom_thresholds_change_the_level() -> None:
    kwargs = {**CALM, "negative": 0.9, "complaint": 0.9, "categories": {"outage": 1.0}}
    default = score_urgency(**kwargs, thresholds=T)
    strict = score_urgency(**kwargs, thresholds=UrgencyThresholds(medium=0.9, high=0.95, critical=0.99))
    assert default.score == strict.score
    assert default.level.rank > strict.level.rank
    assert strict.level is Urgency.LOW


def test_signals_explain_the_score() -> None:
    result = score_urgency(
        **{**CALM, "negative": 0.9, "categories": {"security": 1.0}, "followers": 10**6}, thresholds=T
    )
    assert result.signals["category:security"] == pytest.approx(0.55)
    assert result.signals["negative"] == pytest.approx(0.225)
    assert result.signals["followers"] == pytest.approx(0.3)
    assert max(result.signals, key=result.signals.__getitem__) == "category:security"
    assert 0.0 <= result.score <= 1.0


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -3.0, 7.0])
def test_broken_inputs_stay_in_range(bad: float) -> None:
    result = score_urgency(**{**CALM, "negative": bad, "anger": bad}, thresholds=T)
    assert 0.0 <= result.score <= 1.0
