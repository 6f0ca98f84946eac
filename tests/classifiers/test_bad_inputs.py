"""Hostile inputs each get a valid Classification and never sink the batch."""

from __future__ import annotations

import pytest

from classifiers.base import ClassifierInput
from classifiers.transformer import TransformerClassifier
from domain import Classification, Sentiment, Urgency

BAD = {
    "empty": "",
    "whitespace": " \n\t ",
    "huge": "refund " * 20_000,
    "binary": bytes(range(256)).decode("latin-1"),
    "surrogates": "broken \udcff\udcfe text \ud800",
    "nul": "a\x00b\x00c",
    "emoji": "😡😡😡🔥🔥",
    "urls": "https://example.com/a http://t.co/xyz www.example.org",
    "mentions": "@a @b @c",
}


def test_every_bad_input_gets_a_valid_classification(classifier: TransformerClassifier) -> None:
    items = [ClassifierInput(text=t) for t in BAD.values()]
    items.insert(3, ClassifierInput(text="I love this product, thank you!"))
    results = classifier.predict_batch(items)
    assert len(results) == len(items)
    for result in results:
        assert isinstance(result, Classification)
        assert result.sentiment in set(Sentiment) and result.urgency in set(Urgency)
        assert abs(sum(result.sentiment_scores.values()) - 1.0) < 1e-3
        assert 0.0 <= result.urgency_score <= 1.0
    # The good text in the middle of the batch is unaffected by its neighbours.
    assert results[3].sentiment is Sentiment.POSITIVE


@pytest.mark.parametrize("name", ["empty", "whitespace", "urls"])
def test_texts_with_nothing_to_read_are_neutral_and_flagged(
    classifier: TransformerClassifier, name: str
) -> None:
    result = classifier.predict_batch([ClassifierInput(text=BAD[name])])[0]
    assert result.sentiment is Sentiment.NEUTRAL
    assert result.reduced_confidence
    assert result.urgency is Urgency.LOW and result.categories == ()


def test_empty_batch(classifier: TransformerClassifier) -> None:
    assert classifier.predict_batch([]) == []
