"""Held-out evaluation of the committed model: int8 vs fp32 ONNX per dataset, and their agreement.

Run: ``python bench/eval_classifier.py [--limit N] [--json]`` (same figures as ``earshot eval``).
"""

from __future__ import annotations

import argparse
import json
import time

from classifiers.evaluation import Predictor, eval_sets, evaluate, format_rows
from classifiers.runtime import MODEL_DIR, get_runtime
from classifiers.training.data import DEFAULT_DATASETS


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--int8-only", action="store_true")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    int8 = get_runtime(MODEL_DIR, args.threads)
    predictors: dict[str, Predictor] = {"int8": lambda t: int8.run(t).probs}
    fp32_file = MODEL_DIR / "build" / "model.fp32.onnx"
    if not args.int8_only and fp32_file.exists():
        fp32 = get_runtime(MODEL_DIR / "build", args.threads, fp32_file.name)
        predictors["fp32"] = lambda t: fp32.run(t).probs
    start = time.perf_counter()
    rows = evaluate(eval_sets(DEFAULT_DATASETS, args.limit), predictors)
    print(json.dumps(rows, indent=2) if args.json else format_rows(rows))
    print(f"({time.perf_counter() - start:.0f}s)")


if __name__ == "__main__":
    main()
