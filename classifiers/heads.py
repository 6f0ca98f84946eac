"""Learned heads on top of the encoder pass: needs-response, urgency, categories, multilingual sentiment.

They are linear heads over features the one encoder pass already produced (the embedding and the
base heads' probabilities) plus hashed character n-grams of the text (``classifiers.ngrams``), trained
on Earshot's own labels (docs/annotation.md) by ``python -m classifiers.training.heads``. Weights and
the thresholds chosen on the validation split live beside the model in ``learned_heads.npz`` and
``learned_heads.json``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from classifiers.config import UrgencyThresholds
from classifiers.ngrams import DIM, ngram_rows
from classifiers.runtime import FloatArray, RuntimeOutput

WEIGHTS_FILE = "learned_heads.npz"
META_FILE = "learned_heads.json"
# Base-head probabilities appended to the embedding, in this order.
BASE_HEADS = ("sentiment", "emotion", "offensive", "complaint")
# Languages the learned heads were trained and measured on; others stay reduced_confidence.
SUPPORTED_LANGUAGES = frozenset({"en", "es", "fr", "de", "pt", "it"})
SENTIMENTS = ("negative", "neutral", "positive")


def dense_features(out: RuntimeOutput) -> FloatArray:
    """Embedding plus base-head probabilities, one row per text."""
    parts = [out.embeddings, *(out.probs[h] for h in BASE_HEADS)]
    return np.hstack(parts).astype(np.float32)


def _sigmoid(x: FloatArray) -> FloatArray:
    out: FloatArray = (1.0 / (1.0 + np.exp(-np.clip(x, -40, 40)))).astype(np.float32)
    return out


@dataclass(frozen=True, slots=True)
class HeadOutputs:
    """Per-text probabilities of every learned output."""

    needs_response: FloatArray
    urgency_high: FloatArray
    urgency_critical: FloatArray
    categories: FloatArray  # (n, len(category_names))
    sentiment: FloatArray  # (n, 3), multilingual sentiment


@dataclass(frozen=True, slots=True)
class LearnedHeads:
    """Weights, thresholds and identity of the learned heads."""

    version: str
    binary_names: tuple[str, ...]
    w_dense: FloatArray  # (dense_dim, k)
    bias: FloatArray  # (k,)
    s_dense: FloatArray  # (dense_dim, 3) multilingual sentiment
    s_bias: FloatArray  # (3,)
    w_ngram_all: FloatArray  # (DIM, k + 3): n-gram weights of the k binary outputs, then sentiment
    thresholds: dict[str, float]
    category_names: tuple[str, ...]
    sha256: str

    @classmethod
    def load(cls, model_dir: Path) -> LearnedHeads | None:
        """Read the heads beside a model; None when the directory has none (an older model)."""
        weights, meta_path = model_dir / WEIGHTS_FILE, model_dir / META_FILE
        if not weights.exists() or not meta_path.exists():
            return None
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        with np.load(weights) as z:
            arrays = {k: np.asarray(z[k], np.float32) for k in z.files}
        names = tuple(meta["binary_names"])
        return cls(
            version=str(meta["version"]),
            binary_names=names,
            w_dense=arrays["w_dense"],
            bias=arrays["bias"],
            s_dense=arrays["s_dense"],
            s_bias=arrays["s_bias"],
            w_ngram_all=np.hstack([arrays["w_ngram"], arrays["s_ngram"]]),
            thresholds={k: float(v) for k, v in meta["thresholds"].items()},
            category_names=tuple(n.removeprefix("cat:") for n in names if n.startswith("cat:")),
            sha256=hashlib.sha256(weights.read_bytes()).hexdigest(),
        )

    def predict(self, dense: FloatArray, texts: Sequence[str]) -> HeadOutputs:
        """Probabilities for every text (``dense`` from ``dense_features`` of the same texts)."""
        k = len(self.binary_names)
        # Each text has a few hundred non-zero n-grams out of 32k: gather their weight rows instead
        # of multiplying a mostly-zero dense matrix.
        grams = np.zeros((len(texts), self.w_ngram_all.shape[1]), np.float32)
        for row, (idx, val) in enumerate(ngram_rows(texts, DIM)):
            grams[row] = val @ self.w_ngram_all[idx]
        logits = dense @ self.w_dense + grams[:, :k] + self.bias
        probs = _sigmoid(logits)
        col = {n: i for i, n in enumerate(self.binary_names)}
        s = dense @ self.s_dense + grams[:, k:] + self.s_bias
        s = np.exp(s - s.max(axis=1, keepdims=True))
        cats = [col[f"cat:{c}"] for c in self.category_names]
        return HeadOutputs(
            needs_response=probs[:, col["needs_response"]],
            urgency_high=probs[:, col["urgency_high"]],
            urgency_critical=probs[:, col["urgency_critical"]],
            categories=probs[:, cats],
            sentiment=(s / s.sum(axis=1, keepdims=True)).astype(np.float32),
        )

    def content_urgency(self, needs: float, high: float, critical: float, levels: UrgencyThresholds) -> float:
        """Map the three learned probabilities onto the configured urgency scale, monotonically.

        Each band is entered when its probability passes the threshold chosen on validation, and
        within a band the score rises with the next level's probability, so reach can lift a post
        that is close to the next level over it.
        """
        t_n = self.thresholds["needs_response"]
        t_h = self.thresholds["urgency_high"]
        t_c = self.thresholds["urgency_critical"]
        below = 0.999  # strictly inside a band until its own threshold is passed
        if needs < t_n:
            return levels.medium * below * min(1.0, needs / t_n)
        if high < t_h:
            return levels.medium + (levels.high - levels.medium) * below * min(1.0, high / t_h)
        if critical < t_c:
            return levels.high + (levels.critical - levels.high) * below * min(1.0, critical / t_c)
        return levels.critical + (1.0 - levels.critical) * min(1.0, (critical - t_c) / max(1e-6, 1.0 - t_c))
