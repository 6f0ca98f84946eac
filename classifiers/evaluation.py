"""Evaluation metrics and the held-out benchmark suite (evaluation-only sets are read, never trained on)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np


def macro_scores(gold: Sequence[int], pred: Sequence[int], n_classes: int) -> dict[str, float]:
    """Accuracy, macro-F1 and macro-averaged recall over ``n_classes`` classes."""
    g = np.asarray(gold, dtype=np.int64)
    p = np.asarray(pred, dtype=np.int64)
    if g.size == 0:
        return {"accuracy": 0.0, "macro_f1": 0.0, "macro_recall": 0.0}
    recalls: list[float] = []
    f1s: list[float] = []
    for c in range(n_classes):
        tp = float(np.sum((g == c) & (p == c)))
        support = float(np.sum(g == c))
        predicted = float(np.sum(p == c))
        rec = tp / support if support else 0.0
        prec = tp / predicted if predicted else 0.0
        recalls.append(rec)
        f1s.append(2 * prec * rec / (prec + rec) if prec + rec else 0.0)
    return {
        "accuracy": round(float(np.mean(g == p)), 4),
        "macro_f1": round(float(np.mean(f1s)), 4),
        "macro_recall": round(float(np.mean(recalls)), 4),
    }


@dataclass(frozen=True, slots=True)
class EvalSet:
    """A named held-out set: which head it scores, texts, gold labels."""

    name: str
    head: str
    texts: list[str]
    labels: list[int]
    n_classes: int


def eval_sets(root: Path, limit: int | None = None, seed: int = 13) -> list[EvalSet]:
    """Every held-out set with labels our heads predict; ``limit`` subsamples each (seeded)."""
    from classifiers.training import data

    loaders: list[tuple[str, str, Callable[[], list[data.Example]], int]] = [
        ("tweeteval_sentiment_test", "sentiment", lambda: data.tweeteval_sentiment(root, "test"), 3),
        ("tweet_sentiment_extraction_test", "sentiment", lambda: data.tse_test(root), 3),
        ("goemotions_test_sentiment", "sentiment", lambda: data.goemotions_sentiment(root, "test"), 3),
        ("airline_heldout_sentiment", "sentiment", lambda: data.airline_sentiment(root, True), 3),
        ("airline_heldout_complaint", "complaint", lambda: data.airline_complaint(root, True), 2),
        ("complaints_acl2019", "complaint", lambda: data.complaints_eval(root), 2),
        ("tweeteval_emotion_test", "emotion", lambda: data.tweeteval_task(root, "emotion", "test"), 4),
        ("tweeteval_offensive_test", "offensive", lambda: data.tweeteval_task(root, "offensive", "test"), 2),
    ]
    out: list[EvalSet] = []
    for name, head, load, n in loaders:
        examples = data.subsample(load(), limit, seed)
        out.append(EvalSet(name, head, [e.text for e in examples], [e.label for e in examples], n))
    return out


Predictor = Callable[[list[str]], dict[str, np.ndarray]]


def evaluate(sets: Sequence[EvalSet], predictors: dict[str, Predictor]) -> list[dict[str, object]]:
    """Score each predictor on each set; with two predictors also report how often they agree."""
    rows: list[dict[str, object]] = []
    for s in sets:
        preds: dict[str, list[int]] = {}
        row: dict[str, object] = {"dataset": s.name, "head": s.head, "n": len(s.texts)}
        for model_name, predict in predictors.items():
            probs = predict(s.texts)[s.head]
            preds[model_name] = [int(x) for x in np.asarray(probs).argmax(1)]
            row[model_name] = macro_scores(s.labels, preds[model_name], s.n_classes)
        if len(preds) == 2 and s.texts:
            a, b = preds.values()
            row["agreement"] = round(float(np.mean(np.asarray(a) == np.asarray(b))), 4)
        rows.append(row)
    return rows


def format_rows(rows: Sequence[dict[str, object]]) -> str:
    """A plain-text table of ``evaluate`` output."""
    lines = []
    for r in rows:
        parts = [f"{r['dataset']:<34} head={r['head']:<10} n={r['n']:<6}"]
        for key, val in r.items():
            if isinstance(val, dict):
                parts.append(
                    f"{key}: acc={val['accuracy']:.4f} macroF1={val['macro_f1']:.4f} "
                    f"macroRecall={val['macro_recall']:.4f}"
                )
        if "agreement" in r:
            parts.append(f"agree={r['agreement']}")
        lines.append("  ".join(parts))
    return "\n".join(lines)
