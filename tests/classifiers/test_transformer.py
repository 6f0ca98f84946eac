"""The committed int8 model, through the registered 'transformer' classifier."""

from __future__ import annotations

import subprocess
import sys

from classifiers.base import Classifier, ClassifierInput
from classifiers.config import ClassifierOptions
from classifiers.registry import build_classifier
from classifiers.transformer import TransformerClassifier
from domain import Classification, Sentiment, Urgency


def _one(classifier: TransformerClassifier, text: str, author_followers: int | None = None) -> Classification:
    return classifier.predict_batch([ClassifierInput(text=text, author_followers=author_followers)])[0]


def test_registered_kind_builds_a_classifier() -> None:
    built = build_classifier(ClassifierOptions(kind="transformer"))
    assert isinstance(built, Classifier)
    assert built.version.startswith("earshot-minilm-mt-") and "+int8" in built.version


def test_clear_texts_are_ordered_by_sentiment(classifier: TransformerClassifier) -> None:
    texts = [
        "This is the worst company ever, I hate you, absolutely disgusting service",
        "The store opens at 9am on Monday.",
        "I love this so much, thank you, you made my day!",
    ]
    neg, neu, pos = classifier.predict_batch([ClassifierInput(t) for t in texts])
    assert neg.sentiment is Sentiment.NEGATIVE
    assert pos.sentiment is Sentiment.POSITIVE
    assert (
        neg.sentiment_scores["negative"] > neu.sentiment_scores["negative"] > pos.sentiment_scores["negative"]
    )
    assert pos.sentiment_scores["positive"] > neg.sentiment_scores["positive"]
    for c in (neg, neu, pos):
        assert abs(sum(c.sentiment_scores.values()) - 1.0) < 1e-3
        assert c.language == "en" and not c.reduced_confidence
        assert c.model_version == classifier.version


def test_batch_order_and_batching_do_not_change_results(classifier: TransformerClassifier) -> None:
    texts = ["short", "a considerably longer text about a delayed parcel and a refund that never came", "ok"]
    together = classifier.predict_batch([ClassifierInput(t) for t in texts])
    alone = [_one(classifier, t) for t in texts]
    for a, b in zip(together, alone, strict=True):
        assert a.sentiment == b.sentiment
        for k in a.sentiment_scores:
            # Not bit-identical: dynamic int8 quantization scales activations per batch, and short
            # texts may be read as another language, whose sentiment comes from the learned head.
            assert abs(a.sentiment_scores[k] - b.sentiment_scores[k]) < 0.05


def test_outage_and_security_categories(classifier: TransformerClassifier) -> None:
    outage = _one(classifier, "Your website has been down all morning, nothing loads and I can't log in")
    leak = _one(
        classifier, "You leaked my personal data, my password and card details were exposed in a breach"
    )
    assert "outage" in outage.categories
    assert "security" in leak.categories
    assert leak.category_scores["security"] > leak.category_scores["praise"]


def test_urgent_text_outranks_calm_text_and_explains_itself(classifier: TransformerClassifier) -> None:
    calm = _one(classifier, "Thanks for the quick reply, have a nice weekend")
    urgent = _one(
        classifier,
        "Your charger caught fire and burned my kid's hand, this is dangerous",
        author_followers=200_000,
    )
    assert urgent.urgency_score > calm.urgency_score
    assert urgent.urgency.at_least(Urgency.HIGH)
    assert calm.urgency is Urgency.LOW
    assert "safety" in urgent.categories
    assert {"needs_response", "severity_critical", "content", "followers"} <= set(urgent.signals)


def test_more_followers_never_lowers_urgency(classifier: TransformerClassifier) -> None:
    text = "I was charged twice and nobody answers, I want my money back"
    scores = [_one(classifier, text, author_followers=f).urgency_score for f in (0, 100, 10_000, 10**6)]
    assert scores == sorted(scores)
    assert scores[-1] > scores[0]


def test_supported_languages_are_scored_and_others_flagged(classifier: TransformerClassifier) -> None:
    result = _one(classifier, "El servicio no funciona desde esta mañana y nadie responde")
    assert result.language == "es"
    assert not result.reduced_confidence
    assert result.sentiment in set(Sentiment)
    other = _one(classifier, "Usługa nie działa od rana i nikt nie odpowiada")
    assert other.reduced_confidence and other.sentiment in set(Sentiment)


def test_runtime_does_not_import_torch() -> None:
    code = (
        "import sys; from classifiers.transformer import build_transformer; "
        "from classifiers.config import ClassifierOptions; from classifiers.base import ClassifierInput; "
        "c = build_transformer(ClassifierOptions(kind='transformer')); "
        "c.predict_batch([ClassifierInput('hi')]); "
        "bad = [m for m in ('torch', 'sentence_transformers') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
