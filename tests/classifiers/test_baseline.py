"""The keyword baseline: crude but sensible, configurable, and never crashes on odd input."""

from __future__ import annotations

import pytest

from classifiers.base import Classifier, ClassifierInput
from classifiers.baseline import BaselineClassifier
from classifiers.config import ClassifierOptions, UrgencyThresholds
from classifiers.registry import build_classifier
from domain import Sentiment, Urgency


@pytest.mark.parametrize(
    ("text", "sentiment", "category"),
    [
        ("Lumora is down again, sync stuck, worst service ever", Sentiment.NEGATIVE, "outage"),
        ("I love the new Lumora app, amazing work", Sentiment.POSITIVE, "praise"),
        ("my Lumora hub started to smoke and overheat", None, "safety"),
        ("found a data leak in lumora share links", None, "security"),
        ("my lawyer will be in touch about these charges", None, "legal"),
        ("how do I share a folder in Lumora?", None, "question"),
        ("FREE crypto giveaway DM me", None, "spam"),
        ("not bad at all, lumora", Sentiment.POSITIVE, None),
    ],
)
def test_predictions(text: str, sentiment: Sentiment | None, category: str | None) -> None:
    (c,) = BaselineClassifier().predict_batch([ClassifierInput(text)])
    if sentiment:
        assert c.sentiment == sentiment
    if category:
        assert category in c.categories
    assert abs(sum(c.sentiment_scores.values()) - 1) < 1e-3
    assert c.model_version == "baseline-lexicon-1"


def test_urgency_rises_with_reach_and_serious_categories() -> None:
    clf = BaselineClassifier()
    quiet, loud, fire = clf.predict_batch(
        [
            ClassifierInput("lumora is terrible", author_followers=10),
            ClassifierInput("lumora is terrible", author_followers=2_000_000, engagement=5000),
            ClassifierInput("lumora hub caught fire, terrible", author_followers=10),
        ]
    )
    assert quiet.urgency_score < loud.urgency_score
    assert quiet.urgency_score < fire.urgency_score
    assert fire.urgency.at_least(Urgency.MEDIUM)
    assert "category:safety" in fire.signals and "followers" in loud.signals


def test_thresholds_and_extra_categories_come_from_config() -> None:
    options = ClassifierOptions(
        urgency=UrgencyThresholds(medium=0.01, high=0.02, critical=0.03),
        categories={"recall": ["recall notice"], "billing": ["paywall"]},
    )
    clf = build_classifier(options)
    assert isinstance(clf, Classifier)
    (c,) = clf.predict_batch([ClassifierInput("is there a recall notice for my hub? what a paywall, awful")])
    assert {"recall", "billing"} <= set(c.categories)
    assert c.urgency == Urgency.CRITICAL


@pytest.mark.parametrize(
    "text", ["", "x" * 100_000, "\udcff\ud800 broken", "🔥🔥🔥", "https://a.example/x", "\x00\x01"]
)
def test_odd_input_gets_a_valid_answer(text: str) -> None:
    (c,) = BaselineClassifier().predict_batch([ClassifierInput(text)])
    assert c.sentiment in set(Sentiment) and 0 <= c.urgency_score <= 1
