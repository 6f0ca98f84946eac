"""Seeded multi-task fine-tuning: batches alternate between heads, best checkpoint picked on validation."""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from tqdm import tqdm

from classifiers.evaluation import macro_scores
from classifiers.training import data
from classifiers.training.model import MultiTaskModel, base_model_dir, load_encoder


@dataclass
class TrainConfig:
    """Everything that decides a training run; the same config and seed give the same model."""

    datasets: Path = data.DEFAULT_DATASETS
    seed: int = 13
    max_len: int = 64
    batch_size: int = 32
    steps: int = 3000
    lr: float = 8e-5
    warmup: float = 0.06
    # Share of steps spent on each head's batches.
    task_weights: dict[str, float] = field(
        default_factory=lambda: {"sentiment": 0.62, "complaint": 0.14, "offensive": 0.14, "emotion": 0.10}
    )
    # Keeps the pooled embedding near the base model's so category prototypes stay meaningful.
    distill_weight: float = 1.0
    eval_every: int = 450
    val_limit: int | None = None
    train_limit: int | None = None  # Per task; for smoke tests.
    threads: int = 2


def load_tasks(cfg: TrainConfig) -> dict[str, list[data.Example]]:
    """The training examples for each head (no validation or evaluation-only file is read here)."""
    root = cfg.datasets
    tasks = {
        "sentiment": data.semeval_train(root) + data.tse_train(root) + data.airline_sentiment(root, False),
        "emotion": data.tweeteval_task(root, "emotion", "train"),
        "offensive": data.tweeteval_task(root, "offensive", "train"),
        "complaint": data.airline_complaint(root, False),
    }
    return {k: data.subsample(v, cfg.train_limit, cfg.seed) for k, v in tasks.items()}


def class_weights(examples: list[data.Example], n: int) -> torch.Tensor:
    """Inverse-frequency weights (mean 1) so macro recall is not sacrificed to the majority class."""
    counts = np.bincount([e.label for e in examples], minlength=n).astype(np.float64) + 1.0
    w = counts.sum() / (n * counts)
    return torch.tensor(w / w.mean(), dtype=torch.float32)


class Batcher:
    """Tokenises to the longest text in each batch, truncating at ``max_len``."""

    def __init__(self, max_len: int) -> None:
        self.tok = Tokenizer.from_file(str(base_model_dir() / "tokenizer.json"))
        self.tok.enable_truncation(max_length=max_len)
        self.tok.enable_padding(pad_id=0, pad_token="[PAD]")

    def __call__(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """input_ids and attention_mask tensors for ``texts``."""
        enc = self.tok.encode_batch(texts)
        ids = torch.tensor([e.ids for e in enc], dtype=torch.long)
        mask = torch.tensor([e.attention_mask for e in enc], dtype=torch.long)
        return ids, mask


def _cycle(examples: list[data.Example], batch: int, rng: random.Random) -> Iterator[list[data.Example]]:
    while True:
        order = list(examples)
        rng.shuffle(order)
        for i in range(0, len(order) - batch + 1, batch):
            yield order[i : i + batch]


@torch.no_grad()
def predict_sentiment(
    model: MultiTaskModel, batcher: Batcher, texts: list[str], batch: int = 64
) -> list[int]:
    """Argmax sentiment for each text (eval mode)."""
    model.eval()
    out: list[int] = []
    for i in range(0, len(texts), batch):
        ids, mask = batcher(texts[i : i + batch])
        logits = model(ids, mask)[model.head_names.index("sentiment")]
        out.extend(int(x) for x in logits.argmax(1))
    model.train()
    return out


def train(cfg: TrainConfig) -> tuple[MultiTaskModel, dict[str, float]]:
    """Fine-tune and return the model with the best TweetEval-val macro recall, plus its val scores."""
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    tasks = load_tasks(cfg)
    heads = {name: len(labels) for name, labels in data.HEADS.items()}
    model = MultiTaskModel(load_encoder(), heads)
    teacher = copy.deepcopy(model).eval() if cfg.distill_weight > 0 else None
    batcher = Batcher(cfg.max_len)
    weights = {k: class_weights(v, heads[k]) for k, v in tasks.items()}
    rng = random.Random(cfg.seed)
    iters = {
        k: _cycle(v, cfg.batch_size, random.Random(cfg.seed + i)) for i, (k, v) in enumerate(tasks.items())
    }
    names = list(cfg.task_weights)
    probs = [cfg.task_weights[n] for n in names]

    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    warm = max(1, int(cfg.steps * cfg.warmup))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (cfg.steps - s) / max(1, cfg.steps - warm)))
    )
    val = data.subsample(data.tweeteval_sentiment(cfg.datasets, "val"), cfg.val_limit, cfg.seed)
    best: tuple[float, dict[str, torch.Tensor] | None, dict[str, float]] = (-1.0, None, {})
    model.train()
    bar = tqdm(range(cfg.steps), desc="train", mininterval=5.0)
    started = time.monotonic()
    for step in bar:
        task = rng.choices(names, probs)[0]
        batch = next(iters[task])
        ids, mask = batcher([e.text for e in batch])
        labels = torch.tensor([e.label for e in batch])
        out = model(ids, mask)
        loss = F.cross_entropy(out[model.head_names.index(task)], labels, weight=weights[task])
        if teacher is not None:
            with torch.no_grad():
                target = F.normalize(teacher.pooled(ids, mask), dim=1)
            loss = loss + cfg.distill_weight * (1 - (out[-1] * target).sum(1)).mean()
        opt.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        bar.set_postfix(task=task[:4], loss=f"{loss.item():.3f}", refresh=False)
        last = step + 1 == cfg.steps
        if (step + 1) % cfg.eval_every == 0 or last:
            pred = predict_sentiment(model, batcher, [e.text for e in val])
            scores = macro_scores([e.label for e in val], pred, 3)
            tqdm.write(f"step {step + 1} val {scores} elapsed {time.monotonic() - started:.0f}s")
            if scores["macro_recall"] > best[0]:
                state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                best = (scores["macro_recall"], state, {**scores, "step": float(step + 1)})
    if best[1] is not None:
        model.load_state_dict(best[1])
    model.eval()
    return model, best[2]
