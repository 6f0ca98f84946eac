"""Training code on a tiny slice: data loaders, one optimisation step, metrics."""

from __future__ import annotations

import pytest

from classifiers.evaluation import macro_scores
from classifiers.runtime import normalise_text
from classifiers.training import data


def test_normalise_matches_tweeteval_style() -> None:
    assert normalise_text("@Delta  hi\nthere https://t.co/x @bob_1!") == "@user hi there @user!"
    assert normalise_text("email me a@b.com") == "email me a@b.com"
    assert normalise_text("\udcff ok") == "? ok"


def test_airline_split_is_disjoint_and_stable() -> None:
    root = data.DEFAULT_DATASETS
    train, held = data.airline_sentiment(root, False), data.airline_sentiment(root, True)
    assert 0.1 < len(held) / (len(train) + len(held)) < 0.2
    assert data.airline_sentiment(root, True) == held
    complaint = data.airline_complaint(root, False)
    assert {e.label for e in complaint} == {0, 1}


def test_macro_scores() -> None:
    s = macro_scores([0, 0, 1, 2], [0, 1, 1, 2], 3)
    assert s["accuracy"] == 0.75
    assert s["macro_recall"] == pytest.approx((0.5 + 1 + 1) / 3, abs=1e-4)


def test_one_training_step_on_a_tiny_slice() -> None:
    pytest.importorskip("torch", reason="training needs the train extra")
    from classifiers.training.train import TrainConfig, train

    cfg = TrainConfig(
        steps=2,
        batch_size=4,
        max_len=8,
        train_limit=24,
        val_limit=8,
        eval_every=2,
        distill_weight=1.0,
        threads=1,
    )
    model, val = train(cfg)
    assert set(val) >= {"accuracy", "macro_f1", "macro_recall", "step"}
    assert model.head_names == list(data.HEADS)
