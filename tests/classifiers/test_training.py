"""Training code on a tiny slice: data loaders, one optimisation step, metrics."""

from __future__ import annotations

from pathlib import Path

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
        label_share=0.0,
    )
    model, val = train(cfg)
    assert set(val) >= {"accuracy", "macro_f1", "macro_recall", "step"}
    assert model.head_names == list(data.HEADS)


def test_label_heads_train_from_a_pack_and_are_left_out_of_the_export(tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="training needs the train extra")
    import gzip
    import json

    import torch

    from classifiers.training.export import keep_public_heads
    from classifiers.training.pack import build_pack
    from classifiers.training.sweep import join_parts, save_parts
    from classifiers.training.train import TrainConfig, train

    pack = build_pack()
    # Only training and validation industries are packed: nothing held out reaches a trainer.
    assert pack["labels_train"] and pack["labels_val"]
    assert {r["text"] for r in pack["labels_train"]}.isdisjoint(_held_out_texts())
    small = {
        **pack,
        "tasks": {k: v[:24] for k, v in pack["tasks"].items()},
        "val_sentiment": pack["val_sentiment"][:8],
    }
    small["labels_train"], small["labels_val"] = pack["labels_train"][:16], pack["labels_val"][:8]
    path = tmp_path / "pack.json.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        json.dump(small, fh)
    cfg = TrainConfig(
        packed=path, steps=3, batch_size=4, max_len=8, eval_every=3, threads=1, label_share=0.9, seed=3
    )
    model, val = train(cfg)
    assert model.head_names == [*data.HEADS, "lab_nr", "lab_urgency", "lab_cats"]
    assert {"nr_f1", "sentiment_macro_f1", "score"} <= set(val)
    save_parts(model.state_dict(), tmp_path)
    join_parts(tmp_path, tmp_path / "ck.pt")
    state = keep_public_heads(torch.load(tmp_path / "ck.pt"))
    assert not any(k.startswith("heads.lab_") for k in state)
    assert all(v.dtype == torch.float32 for v in state.values() if v.is_floating_point())


def _held_out_texts() -> set[str]:
    from classifiers.training import labelled as lab

    rows = lab.load_annotations()
    texts = lab.texts_for(rows)
    return {t for r, t in zip(rows, texts, strict=True) if lab.split_of(r) == "test"}
