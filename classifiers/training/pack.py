"""Pack every training example into one gzipped JSON file, for a training machine without the datasets.

``python -m classifiers.training.pack OUT.json.gz`` reads ../shared/datasets and Earshot's labels
(training and validation splits only: held-out industries and evaluation-only sets are never
packed) and writes what ``python -m classifiers.training --packed OUT.json.gz`` trains from.
The file is a working copy for one run: keep it out of the repository.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from classifiers.training import data

if TYPE_CHECKING:
    from classifiers.training.labelled import LabelRow

PACK_VERSION = 2
# Public heads besides sentiment whose validation split takes part in checkpoint selection.
VALIDATED_TASKS = ("emotion", "offensive")


def label_examples(rows: list[LabelRow], texts: list[str]) -> list[dict[str, Any]]:
    """One dict per labelled post: text and every target the label heads learn."""
    # Imported here: a training machine reading a pack needs neither pydantic nor the datasets.
    from classifiers.training import labelled as lab

    return [
        {
            "text": text,
            "nr": int(row.needs_response),
            "urgency": lab.URGENCY_LEVELS.index(row.urgency),
            "cats": [lab.LABEL_CATEGORIES.index(c) for c in row.categories],
            "sentiment": data.SENTIMENT_LABELS.index(row.sentiment),
            "language": row.language,
        }
        for row, text in zip(rows, texts, strict=True)
    ]


def build_pack(root: Path = data.DEFAULT_DATASETS) -> dict[str, Any]:
    """Everything one training run reads, as plain JSON-able data."""
    from classifiers.training import labelled as lab
    from classifiers.training.heads import augment
    from classifiers.training.train import TrainConfig, load_tasks

    tasks = load_tasks(TrainConfig(datasets=root))
    rows = lab.load_annotations()
    texts = lab.texts_for(rows, root)
    by_split: dict[str, tuple[list[LabelRow], list[str]]] = {"train": ([], []), "val": ([], [])}
    for row, text in zip(rows, texts, strict=True):
        split = lab.split_of(row)
        if split in by_split:
            by_split[split][0].append(row)
            by_split[split][1].append(text)
    train_rows, train_texts = augment(*by_split["train"])
    return {
        "version": PACK_VERSION,
        "tasks": {name: [[e.text, e.label] for e in examples] for name, examples in tasks.items()},
        "val_sentiment": [[e.text, e.label] for e in data.tweeteval_sentiment(root, "val")],
        # Validation splits of the other public heads, so selection does not trade them away.
        "val_tasks": {
            task: [[e.text, e.label] for e in data.tweeteval_task(root, task, "val")]
            for task in VALIDATED_TASKS
        },
        "labels_train": label_examples(train_rows, train_texts),
        "labels_val": label_examples(*by_split["val"]),
        "categories": list(lab.LABEL_CATEGORIES),
    }


def read_pack(path: Path) -> dict[str, Any]:
    """The packed examples written by :func:`build_pack`."""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        pack: dict[str, Any] = json.load(fh)
    if pack.get("version") != PACK_VERSION:
        raise ValueError(f"{path}: pack version {pack.get('version')!r}, expected {PACK_VERSION}")
    return pack


def main(argv: list[str]) -> int:
    """Write the pack to the path given."""
    if len(argv) != 1:
        print("usage: python -m classifiers.training.pack OUT.json.gz", file=sys.stderr)
        return 2
    pack = build_pack()
    with gzip.open(argv[0], "wt", encoding="utf-8") as fh:
        json.dump(pack, fh)
    sizes = {k: len(v) for k, v in pack["tasks"].items()}
    labels = f"labels train {len(pack['labels_train'])}, val {len(pack['labels_val'])}"
    print(f"{argv[0]}: tasks {sizes}, {labels}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
