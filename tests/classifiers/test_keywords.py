"""Keyword evidence: helps the transformer find categories the embedding alone scores low."""

from __future__ import annotations

import numpy as np
import pytest

from classifiers.base import ClassifierInput
from classifiers.categories import KEYWORD_FLOOR, CategoryIndex
from classifiers.keywords import compile_patterns, keyword_hits
from classifiers.transformer import TransformerClassifier


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("is lumora down? sync stuck for an hour", {"outage"}),
        ("researcher found an IDOR that exposed private share links", {"security"}),
        ("my hub's battery swelled and it smelled like burnt plastic", {"safety"}),
        ("my lawyer will be in touch", {"legal"}),
        ("charged twice for the annual plan, want a refund", {"billing"}),
        ("what a lovely day", set()),
    ],
)
def test_keyword_hits(text: str, expected: set[str]) -> None:
    assert expected <= keyword_hits(text, compile_patterns())
    if not expected:
        assert keyword_hits(text, compile_patterns()) == set()


def test_config_phrases_extend_keywords() -> None:
    patterns = compile_patterns({"recall": ["recall notice"], "billing": ["paywall"]})
    assert keyword_hits("got a RECALL NOTICE today, and now a paywall?", patterns) >= {"recall", "billing"}


def test_keyword_needs_the_floor_and_the_threshold_alone_suffices() -> None:
    index = CategoryIndex(
        names=("outage", "safety"),
        vectors=np.eye(2, dtype=np.float32),
        owner=np.array([0, 1]),
        thresholds=(0.6, 0.6),
    )
    scores = np.array(
        [[KEYWORD_FLOOR + 0.01, 0.0], [KEYWORD_FLOOR - 0.01, 0.0], [0.65, 0.0]], dtype=np.float32
    )
    assigned = index.assign(scores, [{"outage"}, {"outage"}, set()])
    assert assigned == [("outage",), (), ("outage",)]


def test_transformer_uses_keywords_but_not_words_alone(classifier: TransformerClassifier) -> None:
    hazard, slang = classifier.predict_batch(
        [
            ClassifierInput("my Lumora hub caught fire on the shelf, there was smoke everywhere"),
            ClassifierInput("the new Lumora update is fire, love it"),
        ]
    )
    assert "safety" in hazard.categories
    assert "safety" not in slang.categories
