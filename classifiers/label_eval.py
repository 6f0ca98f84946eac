"""Scores the whole classifier on Earshot's own held-out labels, per set and per language.

The held-out set is every labelled row in the test industries (``labelled.TEST_INDUSTRIES``) plus the
hashed test share of posts about no company; none of it was trained on or used for thresholds.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from classifiers.base import Classifier, ClassifierInput
from classifiers.training import labelled as lab

LEVELS = lab.URGENCY_LEVELS
RISK = ("safety", "security", "legal", "outage")


def _pr(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {
        "precision": round(p, 4),
        "recall": round(r, 4),
        "f1": round(2 * p * r / (p + r), 4) if p + r else 0.0,
        "support": tp + fn,
    }


def score(rows: Sequence[lab.LabelRow], predicted: Sequence[Any]) -> dict[str, Any]:
    """Sentiment, needs-response, urgency and category metrics of classifications against labels."""
    n = len(rows)
    sentiments = ("negative", "neutral", "positive")
    recalls, f1s = [], []
    for s in sentiments:
        tp = sum(
            1 for r, c in zip(rows, predicted, strict=True) if r.sentiment == s and str(c.sentiment) == s
        )
        fp = sum(
            1 for r, c in zip(rows, predicted, strict=True) if r.sentiment != s and str(c.sentiment) == s
        )
        fn = sum(
            1 for r, c in zip(rows, predicted, strict=True) if r.sentiment == s and str(c.sentiment) != s
        )
        m = _pr(tp, fp, fn)
        if m["support"]:
            recalls.append(m["recall"])
            f1s.append(m["f1"])
    alert = [str(c.urgency) != "low" for c in predicted]
    tp = sum(1 for r, a in zip(rows, alert, strict=True) if r.needs_response and a)
    fp = sum(1 for r, a in zip(rows, alert, strict=True) if not r.needs_response and a)
    fn = sum(1 for r, a in zip(rows, alert, strict=True) if r.needs_response and not a)
    confusion = [[0] * 4 for _ in LEVELS]
    for r, c in zip(rows, predicted, strict=True):
        confusion[LEVELS.index(r.urgency)][LEVELS.index(str(c.urgency))] += 1
    critical = [c for r, c in zip(rows, predicted, strict=True) if r.urgency == "critical"]
    categories = {}
    for cat in lab.LABEL_CATEGORIES:
        gold = [cat in r.categories for r in rows]
        pred = [cat in c.categories for c in predicted]
        categories[cat] = _pr(
            sum(g and p for g, p in zip(gold, pred, strict=True)),
            sum(p and not g for g, p in zip(gold, pred, strict=True)),
            sum(g and not p for g, p in zip(gold, pred, strict=True)),
        )
    return {
        "n": n,
        "sentiment_macro_f1": round(sum(f1s) / len(f1s), 4) if f1s else 0.0,
        "sentiment_macro_recall": round(sum(recalls) / len(recalls), 4) if recalls else 0.0,
        "needs_response": _pr(tp, fp, fn),
        "critical_rated_high_or_critical": (
            round(sum(str(c.urgency) in ("high", "critical") for c in critical) / len(critical), 4)
            if critical
            else None
        ),
        "critical_n": len(critical),
        "urgency_confusion": {"rows=gold, cols=predicted": list(LEVELS), "matrix": confusion},
        "categories": categories,
    }


def evaluate_labels(
    classifier: Classifier,
    *,
    datasets: Path,
    directory: Path = lab.ANNOTATIONS_DIR,
    split: str = "test",
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """One result per set: all held-out rows, then each language, then real and written rows apart."""
    rows = [r for r in lab.load_annotations(directory) if lab.split_of(r) == split]
    if limit is not None:
        # A seeded sample: a quick look still covers several languages.
        rows = random.Random(13).sample(rows, min(len(rows), limit * 10))
    texts = lab.texts_for(rows, datasets)
    predicted = classifier.predict_batch([ClassifierInput(text=t, language=None) for t in texts])
    out = [{"set": f"earshot_{split}_all", **score(rows, predicted)}]
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        groups.setdefault(f"earshot_{split}_{r.language}", []).append(i)
        groups.setdefault(f"earshot_{split}_{'written' if r.written else 'real'}", []).append(i)
    for name in sorted(groups, key=lambda g: (len(g.rsplit("_", 1)[1]) != 2, g)):
        idx = groups[name]
        out.append({"set": name, **score([rows[i] for i in idx], [predicted[i] for i in idx])})
    return out


def format_label_rows(results: Sequence[dict[str, Any]]) -> str:
    """Plain-text tables: one line per set, then per-category P/R/F1 and the urgency matrices."""
    lines = [
        f"{'set':<24} {'n':>5} {'sentF1':>7} {'sentRec':>7} {'NR-rec':>7} {'NR-prec':>7} {'crit>=high':>10}"
    ]
    for r in results:
        nr = r["needs_response"]
        crit = r["critical_rated_high_or_critical"]
        crit_text = "-" if crit is None else f"{crit:.3f} ({r['critical_n']})"
        lines.append(
            f"{r['set']:<24} {r['n']:>5} {r['sentiment_macro_f1']:>7.3f} {r['sentiment_macro_recall']:>7.3f} "
            f"{nr['recall']:>7.3f} {nr['precision']:>7.3f} "
            f"{crit_text:>10}"
        )
    for r in results:
        lines.append("")
        lines.append(f"{r['set']}: category precision / recall / F1 (support)")
        for cat, m in r["categories"].items():
            if m["support"] or m["precision"]:
                lines.append(
                    f"  {cat:<17} {m['precision']:.3f} / {m['recall']:.3f} / {m['f1']:.3f} ({m['support']})"
                )
        lines.append("  urgency confusion (rows gold, columns predicted: low medium high critical)")
        for level, row in zip(LEVELS, r["urgency_confusion"]["matrix"], strict=True):
            lines.append(f"  {level:<9}" + "".join(f"{v:>7}" for v in row))
    return "\n".join(lines)
