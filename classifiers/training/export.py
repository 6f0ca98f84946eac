"""Export the trained model to one ONNX graph, quantize it to int8, embed prototypes, write the model card."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import torch

from classifiers import categories
from classifiers.runtime import META_FILE, MODEL_FILE, TOKENIZER_FILE, get_runtime
from classifiers.training import data
from classifiers.training.model import MultiTaskModel, base_model_dir, load_encoder
from classifiers.training.train import TrainConfig

MODEL_NAME = "earshot-minilm-mt"
MODEL_VERSION = "1.0.0"
FP32_FILE = "model.fp32.onnx"
TOKENIZER_FILES = (TOKENIZER_FILE, "vocab.txt", "tokenizer_config.json", "special_tokens_map.json")


def export_onnx(model: MultiTaskModel, path: Path) -> None:
    """Trace the model into one graph: inputs ids+mask, outputs each head's logits and the embedding."""
    model.eval()
    ids = torch.randint(1000, 2000, (2, 16), dtype=torch.long)
    mask = torch.ones_like(ids)
    outputs = [*model.head_names, "embedding"]
    dyn = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}}
    dyn.update({name: {0: "batch"} for name in outputs})
    # The TorchScript exporter yields plain MatMul/Gemm nodes that quantize_dynamic handles well.
    torch.onnx.export(
        model,
        (ids, mask),
        str(path),
        input_names=["input_ids", "attention_mask"],
        output_names=outputs,
        dynamic_axes=dyn,
        opset_version=17,
        dynamo=False,
    )


def quantize(fp32: Path, int8: Path) -> None:
    """Dynamic int8 quantization of the weights (activations stay float, quantized per batch)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True)


def write_meta(out: Path, version: str) -> None:
    """heads.json: the head names and labels the runtime reads, and the version string."""
    meta = {
        "name": MODEL_NAME,
        "version": version,
        "heads": {k: list(v) for k, v in data.HEADS.items()},
        "embedding_dim": 384,
        "max_tokens": 128,
    }
    (out / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")


def export_all(ckpt: Path, out: Path, cfg: TrainConfig, evaluate: bool = True) -> None:
    """From a checkpoint to the committed artifacts in ``out`` (fp32 graph only in ``out/build``)."""
    build = out / "build"
    build.mkdir(parents=True, exist_ok=True)
    model = MultiTaskModel(load_encoder(), {k: len(v) for k, v in data.HEADS.items()})
    model.load_state_dict(torch.load(ckpt, map_location="cpu"))
    export_onnx(model, build / FP32_FILE)
    quantize(build / FP32_FILE, out / MODEL_FILE)
    for name in TOKENIZER_FILES:
        shutil.copyfile(base_model_dir() / name, out / name)
    version = f"{MODEL_VERSION}+int8"
    write_meta(out, version)
    shutil.copyfile(out / META_FILE, build / META_FILE)
    shutil.copyfile(out / TOKENIZER_FILE, build / TOKENIZER_FILE)
    runtime = get_runtime(out, cfg.threads)
    categories.write_prototypes(out, runtime.embed)
    rows: list[dict[str, object]] = []
    if evaluate:
        from classifiers.evaluation import eval_sets
        from classifiers.evaluation import evaluate as run_eval

        rows = run_eval(eval_sets(cfg.datasets), {"int8": lambda t: runtime.run(t).probs})
    from classifiers.training.card import write_card

    train_info = json.loads((build / "train.json").read_text()) if (build / "train.json").exists() else {}
    write_card(out, version, train_info, rows, datetime.now(UTC).date().isoformat())
