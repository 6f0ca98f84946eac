"""ONNX Runtime execution of the multi-task model: tokenise, batch by length, one encoder pass per batch."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

MODEL_DIR = Path(__file__).resolve().parent / "model"
MODEL_FILE = "model.int8.onnx"
TOKENIZER_FILE = "tokenizer.json"
META_FILE = "heads.json"
MAX_TOKENS = 128
# Characters kept before tokenising: 128 word pieces never need more, and it bounds work on 100k texts.
MAX_CHARS = 2_000

FloatArray = npt.NDArray[np.float32]

_MENTION = re.compile(r"(?<![\w@])@\w+")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_SPACE = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def normalise_text(text: str) -> str:
    """Match the training text style: @mentions become @user, URLs go, whitespace collapses."""
    # Lone surrogates (from invalid UTF-8 decoded with surrogateescape) cannot be encoded: replace them.
    text = text[: MAX_CHARS * 2].encode("utf-8", "replace").decode("utf-8")
    text = _CONTROL.sub(" ", text)
    text = _URL.sub("", text)
    text = _MENTION.sub("@user", text)
    return _SPACE.sub(" ", text).strip()[:MAX_CHARS]


@dataclass(frozen=True, slots=True)
class ModelMeta:
    """What the exported graph produces: head names and their class labels, plus the version."""

    version: str
    heads: dict[str, tuple[str, ...]]
    embedding_dim: int

    @classmethod
    def load(cls, model_dir: Path) -> ModelMeta:
        """Read heads.json written by the exporter."""
        raw = json.loads((model_dir / META_FILE).read_text(encoding="utf-8"))
        return cls(
            version=str(raw["version"]),
            heads={k: tuple(v) for k, v in raw["heads"].items()},
            embedding_dim=int(raw["embedding_dim"]),
        )


@dataclass(frozen=True, slots=True)
class RuntimeOutput:
    """Per-head class probabilities (rows follow input order) and L2-normalised embeddings."""

    probs: dict[str, FloatArray]
    embeddings: FloatArray


def _softmax(logits: FloatArray) -> FloatArray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    out: FloatArray = (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)
    return out


class ModelRuntime:
    """Loads the ONNX graph and tokenizer once; ``run`` classifies texts in length-sorted batches."""

    def __init__(self, model_dir: Path, threads: int = 2, model_file: str = MODEL_FILE) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.model_dir = model_dir
        self.meta = ModelMeta.load(model_dir)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(model_dir / model_file), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        self._outputs = [*self.meta.heads, "embedding"]
        tok = Tokenizer.from_file(str(model_dir / TOKENIZER_FILE))
        tok.enable_truncation(max_length=MAX_TOKENS)
        tok.no_padding()  # Padding is per batch, to the longest text in it.
        self._tokenizer = tok

    def _encode(self, texts: Sequence[str]) -> list[list[int]]:
        return [enc.ids for enc in self._tokenizer.encode_batch([normalise_text(t) for t in texts])]

    def run(self, texts: Sequence[str], batch_size: int = 32) -> RuntimeOutput:
        """Probabilities per head and embeddings for every text, in input order."""
        n = len(texts)
        probs = {h: np.zeros((n, len(labels)), np.float32) for h, labels in self.meta.heads.items()}
        emb = np.zeros((n, self.meta.embedding_dim), np.float32)
        if n == 0:
            return RuntimeOutput(probs, emb)
        ids = self._encode(texts)
        # Sorting by length keeps padding small: similar lengths end up in the same batch.
        order = sorted(range(n), key=lambda i: len(ids[i]))
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            width = max(len(ids[i]) for i in idx)
            input_ids = np.zeros((len(idx), width), np.int64)
            mask = np.zeros((len(idx), width), np.int64)
            for row, i in enumerate(idx):
                input_ids[row, : len(ids[i])] = ids[i]
                mask[row, : len(ids[i])] = 1
            result: list[Any] = self._session.run(
                self._outputs, {"input_ids": input_ids, "attention_mask": mask}
            )
            for head, logits in zip(self.meta.heads, result[:-1], strict=True):
                probs[head][idx] = _softmax(np.asarray(logits, np.float32))
            emb[idx] = np.asarray(result[-1], np.float32)
        return RuntimeOutput(probs, emb)

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> FloatArray:
        """L2-normalised embeddings only (same encoder pass as classification)."""
        return self.run(texts, batch_size).embeddings


_cache: dict[tuple[Path, int, str], ModelRuntime] = {}
_lock = threading.Lock()


def get_runtime(
    model_dir: Path | None = None, threads: int = 2, model_file: str = MODEL_FILE
) -> ModelRuntime:
    """The process-wide runtime for a model directory: loaded on first use, then shared."""
    key = ((model_dir or MODEL_DIR).resolve(), threads, model_file)
    with _lock:
        if key not in _cache:
            _cache[key] = ModelRuntime(key[0], threads, model_file)
        return _cache[key]
