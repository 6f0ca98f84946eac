"""Train several configurations within a time budget and keep the best on validation.

``python -m classifiers.training.sweep --packed P --out DIR [--device cuda] [--budget-seconds S]`` is
for a rented accelerator: it reads only a pack (classifiers.training.pack), stops starting new runs
when the budget would be overrun, and after every run writes ``sweep.json`` and the best checkpoint
in float16, split into parts small enough to copy back (``checkpoint.fp16.pt.partN``).
``--join DIR OUT`` puts the parts back together into a float32 checkpoint for ``--stage export``.
"""

from __future__ import annotations

import argparse
import io
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from classifiers.training.train import TrainConfig, train

PART_BYTES = 15 * 1024 * 1024
# Ordered by how promising they looked on CPU; each differs from the CPU recipe in steps and batch.
GRID: tuple[dict[str, Any], ...] = (
    {"steps": 6000, "batch_size": 64, "lr": 5e-5, "label_share": 0.25, "distill_weight": 1.0},
    {"steps": 6000, "batch_size": 64, "lr": 8e-5, "label_share": 0.35, "distill_weight": 0.5},
    {"steps": 10000, "batch_size": 64, "lr": 5e-5, "label_share": 0.35, "distill_weight": 1.0},
    {"steps": 6000, "batch_size": 64, "lr": 3e-5, "label_share": 0.5, "distill_weight": 1.0},
)


def save_parts(state: dict[str, torch.Tensor], out: Path) -> list[Path]:
    """Write ``state`` in float16 as numbered parts of at most PART_BYTES."""
    buf = io.BytesIO()
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in state.items()}, buf)
    blob = buf.getvalue()
    for old in out.glob("checkpoint.fp16.pt.part*"):
        old.unlink()
    paths = []
    for i in range(0, len(blob), PART_BYTES):
        path = out / f"checkpoint.fp16.pt.part{i // PART_BYTES}"
        path.write_bytes(blob[i : i + PART_BYTES])
        paths.append(path)
    return paths


def join_parts(folder: Path, out: Path) -> None:
    """Reassemble the parts into a float32 checkpoint at ``out``."""
    parts = sorted(folder.glob("checkpoint.fp16.pt.part*"), key=lambda p: int(p.name.rsplit("part", 1)[1]))
    if not parts:
        raise FileNotFoundError(f"no checkpoint parts in {folder}")
    state = torch.load(io.BytesIO(b"".join(p.read_bytes() for p in parts)), map_location="cpu")
    torch.save({k: v.float() if v.is_floating_point() else v for k, v in state.items()}, out)


def sweep(base: TrainConfig, out: Path, budget_seconds: float) -> dict[str, Any]:
    """Run GRID in order while the budget allows; return the summary written to sweep.json."""
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    runs: list[dict[str, Any]] = []
    best_score = -1.0
    per_step = 0.0
    for overrides in GRID:
        cfg = replace(base, **overrides)
        elapsed = time.monotonic() - started
        if per_step and elapsed + per_step * cfg.steps > budget_seconds:
            runs.append({"config": overrides, "skipped": "budget"})
            continue
        t0 = time.monotonic()
        model, scores = train(cfg)
        took = time.monotonic() - t0
        per_step = took / cfg.steps
        runs.append({"config": overrides, "val": scores, "seconds": round(took, 1)})
        if scores.get("score", -1.0) > best_score:
            best_score = scores["score"]
            save_parts(model.state_dict(), out)
            runs[-1]["kept"] = True
        summary = {"runs": runs, "best_score": best_score, "device": base.device}
        (out / "sweep.json").write_text(json.dumps(summary, indent=2))
    return {"runs": runs, "best_score": best_score}


def main(argv: list[str] | None = None) -> int:
    """Command line: sweep, or --join parts into a checkpoint."""
    p = argparse.ArgumentParser(prog="python -m classifiers.training.sweep", description=__doc__)
    p.add_argument("--packed", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--device", default="cpu")
    p.add_argument("--base-model", type=Path, default=None)
    p.add_argument("--budget-seconds", type=float, default=300.0)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--train-limit", type=int, default=None)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--join", type=Path, default=None, help="write the joined float32 checkpoint here")
    args = p.parse_args(argv)
    if args.join is not None:
        join_parts(args.out, args.join)
        return 0
    base = TrainConfig(
        packed=args.packed,
        device=args.device,
        base_model=args.base_model,
        threads=args.threads,
        train_limit=args.train_limit,
        eval_every=args.eval_every,
    )
    print(json.dumps(sweep(base, args.out, args.budget_seconds), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
