"""Train several configurations within a time budget and keep the best on validation.

``python -m classifiers.training.sweep --packed P --out DIR [--device cuda] [--budget-seconds S]`` is
for a rented accelerator: it reads only a pack (classifiers.training.pack), stops starting new runs
when the budget would be overrun, and after every run writes ``sweep.json`` and the best checkpoint
in float16, split into parts small enough to copy back (``checkpoint.fp16.pt.partN``).
``--grid-index K`` runs one entry until its steps or the budget end (several such processes can share
one accelerator); ``--pick DIR... --out OUT`` keeps the folder that scored best on validation.
``--join DIR OUT`` puts the parts back together into a float32 checkpoint for ``--stage export``.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from classifiers.training.train import TrainConfig, train

PART_BYTES = 15 * 1024 * 1024
# Stronger emotion and offensive batches, so the label tasks stop costing those heads recall.
_PUBLIC_HEAVY = {"sentiment": 0.5, "complaint": 0.1, "offensive": 0.2, "emotion": 0.2}
# Run on an H100 as four parallel processes for 400 s: the entry best on validation (3) scored below
# the shipped model (classifiers/model/training.json) on the public test sets, so that one stays.
# ``--grid-index K`` runs one entry, so several can share one accelerator as separate processes.
GRID: tuple[dict[str, Any], ...] = (
    {"steps": 6000, "batch_size": 64, "lr": 5e-5, "label_share": 0.25, "select_public": True},
    {"steps": 6000, "lr": 5e-5, "label_share": 0.25, "task_weights": _PUBLIC_HEAVY, "select_public": True},
    {"steps": 8000, "lr": 5e-5, "label_share": 0.2, "task_weights": _PUBLIC_HEAVY, "select_public": True},
    {
        "steps": 8000,
        "batch_size": 64,
        "lr": 4e-5,
        "label_share": 0.3,
        "distill_weight": 0.5,
        "task_weights": _PUBLIC_HEAVY,
        "select_public": True,
    },
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


def sweep(base: TrainConfig, out: Path, budget_seconds: float, only: int | None = None) -> dict[str, Any]:
    """Run GRID in order (or entry ``only``) while the budget allows; return the summary in sweep.json."""
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    runs: list[dict[str, Any]] = []
    best_score = -1.0
    per_step = 0.0
    entries = list(enumerate(GRID)) if only is None else [(only, GRID[only])]
    for index, overrides in entries:
        cfg = replace(base, **overrides)
        elapsed = time.monotonic() - started
        if only is not None:
            cfg = replace(cfg, max_seconds=budget_seconds)
        elif per_step and elapsed + per_step * cfg.steps > budget_seconds:
            runs.append({"grid_index": index, "config": overrides, "skipped": "budget"})
            continue
        t0 = time.monotonic()
        model, scores = train(cfg)
        took = time.monotonic() - t0
        per_step = took / cfg.steps
        runs.append({"grid_index": index, "config": overrides, "val": scores, "seconds": round(took, 1)})
        if scores.get("score", -1.0) > best_score:
            best_score = scores["score"]
            save_parts(model.state_dict(), out)
            runs[-1]["kept"] = True
        summary = {"runs": runs, "best_score": best_score, "device": base.device}
        (out / "sweep.json").write_text(json.dumps(summary, indent=2))
    return {"runs": runs, "best_score": best_score}


def pick(folders: list[Path], out: Path) -> Path:
    """Copy the checkpoint parts of the folder whose sweep.json scored best on validation into ``out``."""
    summaries = {
        f: json.loads((f / "sweep.json").read_text()) for f in folders if (f / "sweep.json").exists()
    }
    if not summaries:
        raise FileNotFoundError("no sweep.json in any of the folders")
    best = max(summaries, key=lambda f: summaries[f]["best_score"])
    out.mkdir(parents=True, exist_ok=True)
    for part in best.glob("checkpoint.fp16.pt.part*"):
        shutil.copyfile(part, out / part.name)
    runs = [run for summary in summaries.values() for run in summary["runs"]]
    picked = {"picked": best.name, "best_score": summaries[best]["best_score"], "runs": runs}
    (out / "sweep.json").write_text(json.dumps(picked, indent=2))
    return best


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
    p.add_argument(
        "--grid-index", type=int, default=None, help="run only this GRID entry, for --budget-seconds"
    )
    p.add_argument(
        "--pick", type=Path, nargs="+", default=None, help="sweep folders: copy the best into --out"
    )
    args = p.parse_args(argv)
    if args.join is not None:
        join_parts(args.out, args.join)
        return 0
    if args.pick is not None:
        print(f"picked {pick(args.pick, args.out)}")
        return 0
    base = TrainConfig(
        packed=args.packed,
        device=args.device,
        base_model=args.base_model,
        threads=args.threads,
        train_limit=args.train_limit,
        eval_every=args.eval_every,
    )
    print(json.dumps(sweep(base, args.out, args.budget_seconds, args.grid_index), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
