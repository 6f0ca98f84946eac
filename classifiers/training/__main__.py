"""``python -m classifiers.training``: train, export to ONNX, quantize to int8, embed prototypes, evaluate."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from classifiers.runtime import MODEL_DIR


def main(argv: list[str] | None = None) -> None:
    """Run the training pipeline; ``--stage`` lets a long run be resumed after training."""
    # Nothing is fetched from a model hub: the base encoder ships in an installed package.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from classifiers.training.train import TrainConfig

    p = argparse.ArgumentParser(prog="python -m classifiers.training", description=__doc__)
    defaults = TrainConfig()
    p.add_argument("--datasets", type=Path, default=defaults.datasets)
    p.add_argument("--out", type=Path, default=MODEL_DIR, help="where the int8 model and card go")
    p.add_argument("--steps", type=int, default=defaults.steps)
    p.add_argument("--batch-size", type=int, default=defaults.batch_size)
    p.add_argument("--max-len", type=int, default=defaults.max_len)
    p.add_argument("--lr", type=float, default=defaults.lr)
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--eval-every", type=int, default=defaults.eval_every)
    p.add_argument("--distill-weight", type=float, default=defaults.distill_weight)
    p.add_argument("--train-limit", type=int, default=None, help="examples per task (smoke runs)")
    p.add_argument("--val-limit", type=int, default=None)
    p.add_argument("--threads", type=int, default=defaults.threads)
    p.add_argument("--device", default=defaults.device, help="torch device, e.g. cuda")
    p.add_argument("--packed", type=Path, default=None, help="train from a classifiers.training.pack file")
    p.add_argument("--base-model", type=Path, default=None, help="base encoder folder (default: installed)")
    p.add_argument("--label-share", type=float, default=defaults.label_share)
    p.add_argument("--stage", choices=["all", "train", "export"], default="all")
    p.add_argument("--no-eval", action="store_true", help="skip the held-out evaluation for the card")
    args = p.parse_args(argv)

    cfg = TrainConfig(
        datasets=args.datasets,
        seed=args.seed,
        max_len=args.max_len,
        batch_size=args.batch_size,
        steps=args.steps,
        lr=args.lr,
        eval_every=args.eval_every,
        distill_weight=args.distill_weight,
        train_limit=args.train_limit,
        val_limit=args.val_limit,
        threads=args.threads,
        device=args.device,
        packed=args.packed,
        base_model=args.base_model,
        label_share=args.label_share,
    )
    build = args.out / "build"
    build.mkdir(parents=True, exist_ok=True)
    ckpt = build / "checkpoint.pt"
    if args.stage in ("all", "train"):
        import torch

        from classifiers.training.train import train

        model, val_scores = train(cfg)
        torch.save(model.state_dict(), ckpt)
        (build / "train.json").write_text(
            json.dumps({"config": {k: str(v) for k, v in vars(cfg).items()}, "val": val_scores}, indent=2)
        )
    if args.stage in ("all", "export"):
        from classifiers.training.export import export_all

        export_all(ckpt, args.out, cfg, evaluate=not args.no_eval)


if __name__ == "__main__":
    main()
