"""Train the learned heads on Earshot's labels: ``python -m classifiers.training.heads``.

Features come from the committed int8 encoder (the same pass the runtime makes) plus hashed n-grams.
Rows are split by industry (``labelled.split_of``): the heads are fitted on train, the regularisation
and every threshold are chosen on validation, and the held-out industries are only scored by
``earshot eval``. Seeded and CPU-only: a few minutes on 2 cores.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from classifiers.heads import META_FILE, SENTIMENTS, WEIGHTS_FILE, dense_features
from classifiers.ngrams import DIM, ngram_rows
from classifiers.runtime import MODEL_DIR, get_runtime
from classifiers.training import labelled as lab

URGENCY = lab.URGENCY_LEVELS
# Non-English rows are scarce; weighting them keeps the heads from fitting English alone.
NON_ENGLISH_WEIGHT = 3.0
C_GRID = (1.0, 4.0)
# Posts about no company never reach the classifier in production (every mention matched a brand
# query), yet they are 44% of the labels: at full weight they teach "no company, no response"
# instead of what needs a response among brand mentions.
GENERAL_WEIGHT = 0.2
# Needs-response threshold: the highest one that keeps validation recall at this level.
TARGET_RECALL = 0.92
HEADS_VERSION = "2.0.0"


@dataclass
class Featurised:
    """Rows with their features and split."""

    rows: list[lab.LabelRow]
    dense: npt.NDArray[np.float32]
    grams: Any  # scipy.sparse.csr_matrix
    split: npt.NDArray[np.str_]


def featurise(rows: list[lab.LabelRow], texts: Sequence[str], model_dir: Path = MODEL_DIR) -> Featurised:
    """Encoder features (one pass) and n-grams for every row, plus augmented copies of training rows."""
    import scipy.sparse as sp

    rows, texts = augment(rows, texts)
    out = get_runtime(model_dir).run(list(texts), 64)
    rows_nz = ngram_rows(texts, DIM)
    indptr = np.cumsum([0, *(len(idx) for idx, _ in rows_nz)])
    indices = np.concatenate([idx for idx, _ in rows_nz]) if rows_nz else np.zeros(0, np.int64)
    values = np.concatenate([val for _, val in rows_nz]) if rows_nz else np.zeros(0, np.float32)
    grams = sp.csr_matrix((values, indices, indptr), shape=(len(rows_nz), DIM))
    split = np.array([lab.split_of(r) for r in rows])
    return Featurised(rows, dense_features(out), grams, split)


_MENTIONS = re.compile(r"(?<![\w@])@\w+[:,]?\s*")


def augment(rows: list[lab.LabelRow], texts: Sequence[str]) -> tuple[list[lab.LabelRow], list[str]]:
    """Training rows that address someone (@name) again without the @mentions.

    In the real data every airline complaint starts with @airline and most chatter has no @, so
    without this the heads learn "an @ means a response is needed", and miss "acme is down again".
    """
    out_rows, out_texts = list(rows), list(texts)
    for row, text in zip(rows, texts, strict=True):
        if lab.split_of(row) != "train":
            continue
        stripped = _MENTIONS.sub("", text).strip()
        if stripped != text.strip() and len(stripped) > 10:
            out_rows.append(row)
            out_texts.append(stripped)
    return out_rows, out_texts


def targets(rows: Sequence[lab.LabelRow]) -> dict[str, npt.NDArray[np.int64]]:
    """Binary targets per output name, and the sentiment class index."""
    level = np.array([URGENCY.index(r.urgency) for r in rows])
    out = {
        "needs_response": np.array([r.needs_response for r in rows], np.int64),
        "urgency_high": (level >= 2).astype(np.int64),
        "urgency_critical": (level >= 3).astype(np.int64),
    }
    for c in lab.LABEL_CATEGORIES:
        out[f"cat:{c}"] = np.array([c in r.categories for r in rows], np.int64)
    out["sentiment"] = np.array([SENTIMENTS.index(r.sentiment) for r in rows], np.int64)
    return out


def _matrix(f: Featurised) -> Any:
    import scipy.sparse as sp

    return sp.hstack([sp.csr_matrix(f.dense), f.grams]).tocsr()


def _f1(gold: npt.NDArray[np.int64], pred: npt.NDArray[np.bool_]) -> float:
    tp = float(np.sum(pred & (gold == 1)))
    fp, fn = float(np.sum(pred & (gold == 0))), float(np.sum(~pred & (gold == 1)))
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def best_f1_threshold(gold: npt.NDArray[np.int64], prob: npt.NDArray[np.float64]) -> float:
    """The threshold in [0.05, 0.95] with the best F1 on these rows (0.5 when there are no positives)."""
    if gold.sum() == 0:
        return 0.5
    grid = np.arange(0.05, 0.951, 0.01)
    scores = [_f1(gold, prob >= t) for t in grid]
    return round(float(grid[int(np.argmax(scores))]), 2)


def recall_threshold(gold: npt.NDArray[np.int64], prob: npt.NDArray[np.float64], recall: float) -> float:
    """The highest threshold whose recall on these rows is at least ``recall``."""
    grid = np.arange(0.95, 0.049, -0.01)
    for t in grid:
        pred = prob >= t
        if gold.sum() and float(np.sum(pred & (gold == 1))) / float(gold.sum()) >= recall:
            return round(float(t), 2)
    return 0.05


def fit(f: Featurised, seed: int = 8) -> tuple[dict[str, npt.NDArray[np.float32]], dict[str, Any]]:
    """Fit every head on train, choose C and thresholds on validation; return weights and metadata."""
    from sklearn.linear_model import LogisticRegression

    x = _matrix(f)
    train, val = f.split == "train", f.split == "val"
    weight = np.where(np.array([r.language for r in f.rows]) == "en", 1.0, NON_ENGLISH_WEIGHT)
    weight = weight * np.where(np.array([r.industry for r in f.rows]) == "general", GENERAL_WEIGHT, 1.0)
    y = targets(f.rows)
    binary = [n for n in y if n != "sentiment"]
    cols, biases, thresholds, chosen = [], [], {}, {}
    for name in binary:
        best: tuple[float, Any, float] | None = None
        for c in C_GRID:
            model = LogisticRegression(C=c, max_iter=3000, class_weight="balanced", random_state=seed)
            if y[name][train].sum() == 0:
                continue
            model.fit(x[train], y[name][train], sample_weight=weight[train])
            prob = model.predict_proba(x[val])[:, 1]
            score = _f1(y[name][val], prob >= best_f1_threshold(y[name][val], prob))
            if best is None or score > best[0]:
                best = (score, model, c)
        if best is None:  # no training positives at all: a head that never fires
            cols.append(np.zeros(x.shape[1], np.float32))
            biases.append(-20.0)
            thresholds[name] = 0.5
            continue
        _, model, c = best
        prob = model.predict_proba(x[val])[:, 1]
        if name == "needs_response":
            thresholds[name] = recall_threshold(y[name][val], prob, TARGET_RECALL)
        else:
            thresholds[name] = best_f1_threshold(y[name][val], prob)
        cols.append(model.coef_[0].astype(np.float32))
        biases.append(float(model.intercept_[0]))
        chosen[name] = c
    w = np.stack(cols, axis=1)
    sentiment = None
    best_sent = -1.0
    for c in C_GRID:
        model = LogisticRegression(C=c, max_iter=3000, class_weight="balanced", random_state=seed)
        model.fit(x[train], y["sentiment"][train], sample_weight=weight[train])
        acc = float(np.mean(model.predict(x[val]) == y["sentiment"][val]))
        if acc > best_sent:
            best_sent, sentiment, chosen["sentiment"] = acc, model, c
    assert sentiment is not None
    s = sentiment.coef_.T.astype(np.float32)
    d = f.dense.shape[1]
    arrays = {
        "w_dense": w[:d],
        "w_ngram": w[d:],
        "bias": np.asarray(biases, np.float32),
        "s_dense": s[:d],
        "s_ngram": s[d:],
        "s_bias": sentiment.intercept_.astype(np.float32),
    }
    counts = {k: int(np.sum(f.split == k)) for k in ("train", "val", "test")}
    meta = {
        "version": HEADS_VERSION,
        "binary_names": binary,
        "thresholds": thresholds,
        "regularisation_C": chosen,
        "rows": counts,
        "test_industries": sorted(lab.TEST_INDUSTRIES),
        "validation_industries": sorted(lab.VAL_INDUSTRIES),
        "ngram_dim": DIM,
    }
    return arrays, meta


def save(arrays: dict[str, npt.NDArray[np.float32]], meta: dict[str, Any], model_dir: Path) -> None:
    """Write the weights (compressed) and metadata beside the model."""
    np.savez_compressed(model_dir / WEIGHTS_FILE, **arrays)  # type: ignore[arg-type]
    (model_dir / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def main(argv: Sequence[str] = ()) -> int:
    """Featurise the committed labels, fit, and write the heads into the model directory."""
    model_dir = Path(argv[0]) if argv else MODEL_DIR
    rows = lab.load_annotations()
    f = featurise(rows, lab.texts_for(rows), model_dir)
    arrays, meta = fit(f)
    save(arrays, meta, model_dir)
    print(f"learned heads {meta['version']}: rows {meta['rows']}, thresholds {meta['thresholds']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
