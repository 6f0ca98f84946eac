"""Earshot's own labels as training tasks of the encoder: needs response, urgency, categories, sentiment.

These heads only shape the encoder during fine-tuning; the exported graph keeps the public heads and
the embedding, and the learned heads (classifiers/training/heads.py) are fitted on top afterwards.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from classifiers.evaluation import macro_scores
from classifiers.training.model import MultiTaskModel

if TYPE_CHECKING:
    from classifiers.training.train import Batcher, TrainConfig

LABELS_TASK = "labels"
N_CATEGORIES = 11
LABEL_HEADS: dict[str, int] = {"lab_nr": 2, "lab_urgency": 4, "lab_cats": N_CATEGORIES}


@dataclass
class LabelSet:
    """Labelled posts with every target, and a shuffled batch cycle over them."""

    rows: list[dict[str, Any]]
    n_categories: int
    _cycle: Iterator[list[dict[str, Any]]] | None = None

    def _next(self, size: int, rng: random.Random) -> list[dict[str, Any]]:
        if self._cycle is None:
            self._cycle = _cycle(self.rows, size, random.Random(rng.random()))
        return next(self._cycle)

    def batch_loss(
        self, model: MultiTaskModel, batcher: Batcher, cfg: TrainConfig, rng: random.Random, device: str
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
        """Summed loss of the label heads and the sentiment head on one batch, with its inputs and outputs."""
        batch = self._next(cfg.batch_size, rng)
        ids, mask = batcher([r["text"] for r in batch])
        ids, mask = ids.to(device), mask.to(device)
        out = model(ids, mask)
        heads = model.head_names
        weight = torch.tensor(
            [1.0 if r["language"] == "en" else cfg.non_english_weight for r in batch], device=device
        )
        weight = weight / weight.mean()
        cats = torch.zeros(len(batch), self.n_categories, device=device)
        for i, row in enumerate(batch):
            for c in row["cats"]:
                cats[i, c] = 1.0

        def ce(head: str, key: str) -> torch.Tensor:
            target = torch.tensor([r[key] for r in batch], device=device)
            return (F.cross_entropy(out[heads.index(head)].float(), target, reduction="none") * weight).mean()

        bce = F.binary_cross_entropy_with_logits(
            out[heads.index("lab_cats")].float(), cats, reduction="none"
        ).sum(1)
        loss = ce("lab_nr", "nr") + ce("lab_urgency", "urgency") + ce("sentiment", "sentiment")
        return loss + (bce * weight).mean(), ids, mask, out

    @torch.no_grad()
    def scores(self, model: MultiTaskModel, batcher: Batcher, device: str) -> dict[str, float]:
        """Needs-response F1, sentiment macro-F1 and category macro-F1 at 0.5, on these rows."""
        model.eval()
        heads = model.head_names
        nr: list[int] = []
        sent: list[int] = []
        cats: list[np.ndarray[Any, Any]] = []
        for i in range(0, len(self.rows), 128):
            chunk = self.rows[i : i + 128]
            ids, mask = batcher([r["text"] for r in chunk])
            out = model(ids.to(device), mask.to(device))
            nr.extend(int(x) for x in out[heads.index("lab_nr")].argmax(1))
            sent.extend(int(x) for x in out[heads.index("sentiment")].argmax(1))
            cats.append((torch.sigmoid(out[heads.index("lab_cats")].float()) > 0.5).cpu().numpy())
        model.train()
        gold_nr = np.array([r["nr"] for r in self.rows])
        pred_nr = np.array(nr)
        tp = int(((gold_nr == 1) & (pred_nr == 1)).sum())
        nr_f1 = 2 * tp / max(1, int(gold_nr.sum()) + int(pred_nr.sum()))
        pred_cats = np.concatenate(cats)
        f1s = []
        for c in range(self.n_categories):
            gold = np.array([c in r["cats"] for r in self.rows])
            if gold.any():
                hit = int((gold & pred_cats[:, c]).sum())
                f1s.append(2 * hit / max(1, int(gold.sum()) + int(pred_cats[:, c].sum())))
        sentiment = macro_scores([r["sentiment"] for r in self.rows], sent, 3)
        return {
            "nr_f1": nr_f1,
            "sentiment_macro_f1": sentiment["macro_f1"],
            "category_macro_f1": float(np.mean(f1s)) if f1s else 0.0,
        }


def _cycle(rows: list[dict[str, Any]], size: int, rng: random.Random) -> Iterator[list[dict[str, Any]]]:
    while True:
        order = list(rows)
        rng.shuffle(order)
        for i in range(0, len(order) - size + 1, size):
            yield order[i : i + size]


def load_label_sets(cfg: TrainConfig) -> tuple[LabelSet | None, LabelSet | None]:
    """Training and validation label sets, or (None, None) when the run trains no label heads."""
    if cfg.label_share <= 0:
        return None, None
    if cfg.packed is not None:
        from classifiers.training.pack import read_pack

        pack = read_pack(cfg.packed)
    else:
        from classifiers.training.pack import build_pack

        pack = build_pack(cfg.datasets)
    n = len(pack["categories"])
    if n != N_CATEGORIES:
        raise ValueError(f"the labels have {n} categories; LABEL_HEADS expects {N_CATEGORIES}")
    return LabelSet(pack["labels_train"], n), LabelSet(pack["labels_val"], n)
