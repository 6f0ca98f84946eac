"""Throughput and latency: int8 ONNX runtime vs torch fp32 (same model) vs a roberta-base-sized pipeline.

Run: ``python bench/classify.py`` (``make bench``). Needs the train extra (torch) and ``make model``
for the fp32 checkpoint. Torch is allowed here: this is a benchmark, not the runtime.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"


def load_texts(n: int) -> list[str]:
    lines = (DATASETS / "tweeteval" / "sentiment" / "test_text.txt").read_text(encoding="utf-8").splitlines()
    return [t.strip() for t in lines if t.strip()][:n]


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def latency(fn: Callable[[str], object], texts: list[str]) -> tuple[float, float]:
    for t in texts[:10]:
        fn(t)  # warm-up
    samples: list[float] = []
    for t in texts:
        start = time.perf_counter()
        fn(t)
        samples.append(time.perf_counter() - start)
    samples.sort()
    return statistics.median(samples) * 1000, samples[int(0.99 * (len(samples) - 1))] * 1000


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("-n", type=int, default=2000, help="mentions for throughput")
    p.add_argument("--latency-n", type=int, default=300, help="single-mention calls for p50/p99")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--skip-roberta", action="store_true")
    args = p.parse_args(argv)
    texts = load_texts(args.n)
    bs = args.batch_size
    print(f"{len(texts)} tweets (tweeteval sentiment test text), batch {bs}, {args.threads} threads")

    from classifiers.base import ClassifierInput
    from classifiers.config import ClassifierOptions
    from classifiers.runtime import MODEL_DIR, get_runtime
    from classifiers.transformer import TransformerClassifier

    runtime = get_runtime(MODEL_DIR, args.threads)
    runtime.run(texts[:64], bs)
    rate: dict[str, float] = {}
    rate["int8 onnx runtime (heads+embedding)"] = len(texts) / timed(lambda: runtime.run(texts, bs))
    clf = TransformerClassifier(ClassifierOptions(kind="transformer", threads=args.threads, batch_size=bs))
    items = [ClassifierInput(t) for t in texts]
    clf.predict_batch(items[:64])
    rate["int8 full classifier (+categories, urgency, language)"] = len(texts) / timed(
        lambda: clf.predict_batch(items)
    )

    import torch

    torch.set_num_threads(args.threads)
    from tokenizers import Tokenizer

    from classifiers.training import data
    from classifiers.training.model import MultiTaskModel, load_encoder

    ckpt = MODEL_DIR / "build" / "checkpoint.pt"
    model = MultiTaskModel(load_encoder(), {k: len(v) for k, v in data.HEADS.items()})
    if ckpt.exists():
        model.load_state_dict(torch.load(ckpt, map_location="cpu"))
    else:
        print(f"note: {ckpt} missing, torch fp32 runs the base encoder with untrained heads (same cost)")
    model.eval()
    tok = Tokenizer.from_file(str(MODEL_DIR / "tokenizer.json"))
    tok.enable_truncation(max_length=128)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")

    def torch_forward(batch: list[str]) -> None:
        enc = tok.encode_batch(batch)
        ids = torch.tensor([e.ids for e in enc])
        mask = torch.tensor([e.attention_mask for e in enc])
        with torch.inference_mode():
            model(ids, mask)

    def torch_all() -> None:
        # Same length-sorted batching as the ONNX runtime, so only the engine differs.
        ordered = sorted(texts, key=len)
        for i in range(0, len(ordered), bs):
            torch_forward(ordered[i : i + bs])

    torch_forward(texts[:32])
    rate["torch fp32 same model (plain forward)"] = len(texts) / timed(torch_all)

    if not args.skip_roberta:
        from transformers import AutoTokenizer, RobertaConfig, RobertaForSequenceClassification, pipeline

        # Random weights, roberta-base shape; our WordPiece tokenizer (no hub download) costs about the same.
        rob = RobertaForSequenceClassification(RobertaConfig()).eval()
        hf_tok = AutoTokenizer.from_pretrained(str(MODEL_DIR), local_files_only=True)
        pipe = pipeline("text-classification", model=rob, tokenizer=hf_tok, device=-1)
        kw = {"batch_size": bs, "truncation": True, "max_length": 128}
        pipe(texts[:32], **kw)
        rate["roberta-base random (transformers pipeline)"] = len(texts) / timed(lambda: pipe(texts, **kw))

    print("\nthroughput (mentions/second)")
    for name, r in rate.items():
        print(f"  {name:<58} {r:9.1f}")
    base = rate["int8 onnx runtime (heads+embedding)"]
    full = rate["int8 full classifier (+categories, urgency, language)"]
    print("\nratios")
    for name, r in rate.items():
        if not name.startswith("int8"):
            print(f"  int8 runtime / {name:<48} {base / r:6.1f}x   (full classifier: {full / r:.1f}x)")

    lat_texts = texts[: args.latency_n]
    p50, p99 = latency(lambda t: runtime.run([t], 1), lat_texts)
    print(f"\nsingle-mention latency, int8 runtime:      p50 {p50:.2f} ms  p99 {p99:.2f} ms")
    p50, p99 = latency(lambda t: clf.predict_batch([ClassifierInput(t)]), lat_texts)
    print(f"single-mention latency, full classifier:   p50 {p50:.2f} ms  p99 {p99:.2f} ms")
    p50, p99 = latency(lambda t: torch_forward([t]), lat_texts)
    print(f"single-mention latency, torch fp32:        p50 {p50:.2f} ms  p99 {p99:.2f} ms")


if __name__ == "__main__":
    main()
