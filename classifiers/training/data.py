"""Training and evaluation data loaders; each reads ../shared/datasets in place, never copies it."""

from __future__ import annotations

import csv
import hashlib
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from classifiers.runtime import normalise_text

DEFAULT_DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"

SENTIMENT_LABELS = ("negative", "neutral", "positive")
EMOTION_LABELS = ("anger", "joy", "optimism", "sadness")
OFFENSIVE_LABELS = ("not_offensive", "offensive")
COMPLAINT_LABELS = ("not_complaint", "complaint")

# Head name -> class names, in logit order; the ONNX graph and the runtime share this order.
HEADS: dict[str, tuple[str, ...]] = {
    "sentiment": SENTIMENT_LABELS,
    "emotion": EMOTION_LABELS,
    "offensive": OFFENSIVE_LABELS,
    "complaint": COMPLAINT_LABELS,
}

# Fraction of de-duplicated airline tweet ids held out for evaluation (hash split, stable across runs).
AIRLINE_HELDOUT_SHARE = 0.15


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled text for one head."""

    text: str
    label: int


def _read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n")


def _tweeteval(root: Path, task: str, split: str) -> list[Example]:
    texts = _read_lines(root / "tweeteval" / task / f"{split}_text.txt")
    labels = _read_lines(root / "tweeteval" / task / f"{split}_labels.txt")
    pairs = [(t, lab) for t, lab in zip(texts, labels, strict=False) if lab.strip()]
    return [Example(normalise_text(t), int(lab)) for t, lab in pairs]


def semeval_train(root: Path) -> list[Example]:
    """SemEval 2013-16 derived training set (TweetEval val/test tweets already removed)."""
    out: list[Example] = []
    with (root / "semeval2017_task4a" / "derived" / "train.tsv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE):
            out.append(Example(normalise_text(row["text"].strip('"')), int(row["label_id"])))
    return out


def tse_train(root: Path) -> list[Example]:
    """Kaggle Tweet Sentiment Extraction train.csv (test.csv is evaluation-only)."""
    return _tse(root / "tweet_sentiment_extraction" / "train.csv")


def tse_test(root: Path) -> list[Example]:
    """Kaggle Tweet Sentiment Extraction test.csv: EVALUATION ONLY."""
    return _tse(root / "tweet_sentiment_extraction" / "test.csv")


def _tse(path: Path) -> list[Example]:
    out: list[Example] = []
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            text = (row.get("text") or "").replace("`", "'")
            if text.strip():
                out.append(Example(normalise_text(text), SENTIMENT_LABELS.index(row["sentiment"])))
    return out


def tweeteval_sentiment(root: Path, split: str) -> list[Example]:
    """TweetEval sentiment 'val' (validation) or 'test' (EVALUATION ONLY)."""
    return _tweeteval(root, "sentiment", split)


def tweeteval_task(root: Path, task: str, split: str) -> list[Example]:
    """TweetEval emotion/offensive split; test splits are evaluation-only."""
    return _tweeteval(root, task, split)


def airline_rows(root: Path) -> Iterator[dict[str, str]]:
    """Airline tweets de-duplicated by tweet_id, in file order."""
    seen: set[str] = set()
    with (root / "airline" / "Tweets.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            # 155 rows are duplicate ids: drop them before the split so none straddles it.
            if row["tweet_id"] in seen:
                continue
            seen.add(row["tweet_id"])
            yield row


def is_airline_heldout(tweet_id: str) -> bool:
    """True for the ids held out for evaluation (a stable hash of the id)."""
    digest = hashlib.sha256(tweet_id.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < AIRLINE_HELDOUT_SHARE


def airline_sentiment(root: Path, heldout: bool) -> list[Example]:
    """Airline tweets, 3-way sentiment, train or held-out split by hashed tweet id."""
    return [
        Example(normalise_text(r["text"]), SENTIMENT_LABELS.index(r["airline_sentiment"]))
        for r in airline_rows(root)
        if is_airline_heldout(r["tweet_id"]) == heldout
    ]


def airline_complaint(root: Path, heldout: bool) -> list[Example]:
    """Complaint proxy: negative with a concrete reason = 1, neutral/positive = 0, "Can't Tell" dropped."""
    out: list[Example] = []
    for r in airline_rows(root):
        if is_airline_heldout(r["tweet_id"]) != heldout:
            continue
        reason = r["negativereason"].strip()
        if r["airline_sentiment"] == "negative":
            if not reason or reason == "Can't Tell":
                continue  # Negative without a concrete reason is not a clear complaint.
            out.append(Example(normalise_text(r["text"]), 1))
        else:
            out.append(Example(normalise_text(r["text"]), 0))
    return out


def complaints_eval(root: Path) -> list[Example]:
    """Preotiuc-Pietro et al. complaints: EVALUATION ONLY (1 = complaint)."""
    out: list[Example] = []
    with (root / "complaints" / "complaints-data.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.reader(fh):
            if len(row) >= 3 and row[2] in ("0", "1"):
                out.append(Example(normalise_text(row[1]), int(row[2])))
    return out


def goemotions_sentiment(root: Path, split: str = "test") -> list[Example]:
    """GoEmotions mapped to 3-way sentiment via sentiment_dict; mixed or ambiguous rows dropped."""
    names = (root / "goemotions" / "emotions.txt").read_text(encoding="utf-8").split()
    groups = json.loads((root / "goemotions" / "sentiment_dict.json").read_text(encoding="utf-8"))
    polarity = {e: s for s in ("positive", "negative") for e in groups[s]}
    out: list[Example] = []
    for line in _read_lines(root / "goemotions" / f"{split}.tsv"):
        parts = line.split("\t")
        if len(parts) < 2:
            continue
        emotions = {names[int(i)] for i in parts[1].split(",") if i}
        if emotions == {"neutral"}:
            out.append(Example(normalise_text(parts[0]), 1))
            continue
        found = {polarity[e] for e in emotions if e in polarity}
        if len(found) == 1 and found <= {"positive", "negative"} and "neutral" not in emotions:
            out.append(Example(normalise_text(parts[0]), SENTIMENT_LABELS.index(found.pop())))
    return out


def subsample(examples: list[Example], limit: int | None, seed: int) -> list[Example]:
    """A seeded random subset of at most ``limit`` examples (all of them when limit is None)."""
    if limit is None or limit >= len(examples):
        return list(examples)
    return random.Random(seed).sample(examples, limit)
