"""Categories from prototypes: built-ins, and ones a team adds in config without retraining."""

from __future__ import annotations

from classifiers.base import ClassifierInput
from classifiers.categories import BUILTIN_EXAMPLES, build_index
from classifiers.config import ClassifierOptions
from classifiers.runtime import MODEL_DIR, get_runtime
from classifiers.transformer import TransformerClassifier
from domain import CATEGORIES

RECALL = "Is my car affected by the airbag recall? The dealer won't tell me"


def test_every_domain_category_has_prototypes() -> None:
    assert set(CATEGORIES) == set(BUILTIN_EXAMPLES)
    assert all(len(v) >= 5 for v in BUILTIN_EXAMPLES.values())


def test_stored_prototypes_match_a_fresh_embedding() -> None:
    runtime = get_runtime(MODEL_DIR, 2)
    stored = build_index(MODEL_DIR, runtime.embed)
    sents = list(BUILTIN_EXAMPLES["billing"][:2])
    fresh = runtime.embed(sents)
    rows = stored.vectors[stored.owner == stored.names.index("billing")][:2]
    # Dynamic int8 quantization scales activations per batch, so a vector depends a little on its batch.
    cosine = (fresh * rows).sum(axis=1)
    assert (cosine > 0.99).all()


def test_new_category_from_config_without_retraining(classifier: TransformerClassifier) -> None:
    assert "recall" not in classifier.predict_batch([ClassifierInput(RECALL)])[0].category_scores
    options = ClassifierOptions(
        kind="transformer",
        categories={
            "recall": [
                "is my model part of the recall?",
                "product recall notice for the airbag",
                "they recalled my car, what should I do",
            ]
        },
    )
    extended = TransformerClassifier(options)
    hit, miss = extended.predict_batch(
        [ClassifierInput(RECALL), ClassifierInput("Lovely weather for a picnic")]
    )
    assert "recall" in hit.categories
    assert "recall" not in miss.categories
    assert hit.category_scores["recall"] > miss.category_scores["recall"]


def test_extra_examples_sharpen_a_builtin_category() -> None:
    text = "the espresso machine leaked boiling water on my hands"
    runtime = get_runtime(MODEL_DIR, 2)
    base = build_index(MODEL_DIR, runtime.embed)
    sharper = build_index(
        MODEL_DIR, runtime.embed, {"safety": ["the machine sprayed scalding water and burned me"]}
    )
    emb = runtime.embed([text])
    c = base.names.index("safety")
    assert sharper.scores(emb)[0, c] > base.scores(emb)[0, c]


def test_threshold_from_config_controls_assignment() -> None:
    runtime = get_runtime(MODEL_DIR, 2)
    emb = runtime.embed(["my package never arrived"])
    loose = build_index(MODEL_DIR, runtime.embed, thresholds={"delivery": 0.0})
    strict = build_index(MODEL_DIR, runtime.embed, thresholds={"delivery": 0.99})
    assert "delivery" in loose.assign(loose.scores(emb))[0]
    assert "delivery" not in strict.assign(strict.scores(emb))[0]
