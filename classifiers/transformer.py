"""The 'transformer' classifier: multi-task MiniLM in ONNX Runtime, prototype categories, urgency scoring."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

import numpy as np

from classifiers.base import Classifier, ClassifierInput
from classifiers.categories import CategoryIndex, build_index
from classifiers.config import ClassifierOptions
from classifiers.keywords import compile_patterns, keyword_hits
from classifiers.language import guess_language
from classifiers.runtime import MODEL_DIR, ModelMeta, ModelRuntime, RuntimeOutput, get_runtime, normalise_text
from classifiers.urgency import score_urgency
from domain import Classification, Sentiment, Urgency

log = logging.getLogger(__name__)

MODEL_NAME = "earshot-minilm-mt"


def _safe_text(text: object) -> str:
    """Any input as a str the tokenizer accepts: bytes decoded leniently, surrogates replaced."""
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("utf-8", "replace")
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    return text.encode("utf-8", "replace").decode("utf-8")


class TransformerClassifier:
    """Classifies batches with one encoder pass per text; loads the model lazily, once per process."""

    def __init__(self, options: ClassifierOptions) -> None:
        self.options = options
        self.model_dir = options.model_dir or MODEL_DIR
        self._runtime: ModelRuntime | None = None
        self._index: CategoryIndex | None = None
        self._lock = threading.Lock()
        self._keywords = compile_patterns(options.categories)

    @property
    def version(self) -> str:
        """Model name and version, e.g. earshot-minilm-mt-1.0.0+int8."""
        meta = self._runtime.meta if self._runtime else ModelMeta.load(self.model_dir)
        return f"{MODEL_NAME}-{meta.version}"

    def _load(self) -> tuple[ModelRuntime, CategoryIndex]:
        with self._lock:
            if self._runtime is None or self._index is None:
                runtime = get_runtime(self.model_dir, self.options.threads)
                self._index = build_index(
                    self.model_dir,
                    lambda texts: runtime.embed(texts, self.options.batch_size),
                    self.options.categories,
                    self.options.category_thresholds,
                )
                self._runtime = runtime
            return self._runtime, self._index

    def _run(self, runtime: ModelRuntime, texts: list[str]) -> list[RuntimeOutput | None]:
        """One batched call; if it fails, retry one by one so only the bad text is lost."""
        try:
            out = runtime.run(texts, self.options.batch_size)
            return [_row(out, i) for i in range(len(texts))]
        except Exception:
            log.exception("batch of %d failed; retrying texts one by one", len(texts))
        rows: list[RuntimeOutput | None] = []
        for text in texts:
            try:
                rows.append(runtime.run([text], 1))
            except Exception:
                log.exception("text of %d characters could not be classified", len(text))
                rows.append(None)
        return rows

    def predict_batch(self, items: Sequence[ClassifierInput]) -> list[Classification]:
        """Classify every item in order; a text the model cannot read gets a neutral, flagged result."""
        runtime, index = self._load()
        texts = [_safe_text(item.text) for item in items]
        usable = [i for i, t in enumerate(texts) if normalise_text(t)]
        outputs: list[RuntimeOutput | None] = [None] * len(texts)
        for i, row in zip(usable, self._run(runtime, [texts[i] for i in usable]), strict=True):
            outputs[i] = row
        version = f"{MODEL_NAME}-{runtime.meta.version}"
        return [
            self._classify(item, text, out, index, version)
            for item, text, out in zip(items, texts, outputs, strict=True)
        ]

    def _classify(
        self,
        item: ClassifierInput,
        text: str,
        out: RuntimeOutput | None,
        index: CategoryIndex,
        version: str,
    ) -> Classification:
        lang = guess_language(normalise_text(text), item.language)
        if out is None:
            # Nothing readable (empty, only URLs, or a failed run): say so instead of guessing.
            return Classification(
                sentiment=Sentiment.NEUTRAL,
                sentiment_scores={"negative": 0.0, "neutral": 1.0, "positive": 0.0},
                urgency=Urgency.LOW,
                urgency_score=0.0,
                categories=(),
                language=lang.language,
                model_version=version,
                reduced_confidence=True,
            )
        sent = out.probs["sentiment"][0]
        labels = ("negative", "neutral", "positive")
        scores = {name: round(float(p), 4) for name, p in zip(labels, sent, strict=True)}
        cat_scores = index.scores(out.embeddings)
        cats = index.assign(cat_scores, [keyword_hits(text, self._keywords)])[0]
        urgency = score_urgency(
            negative=float(sent[0]),
            anger=float(out.probs["emotion"][0][0]),
            complaint=float(out.probs["complaint"][0][1]),
            offensive=float(out.probs["offensive"][0][1]),
            categories=dict.fromkeys(cats, 1.0),
            followers=item.author_followers,
            engagement=item.engagement,
            thresholds=self.options.urgency,
        )
        return Classification(
            sentiment=Sentiment(labels[int(np.argmax(sent))]),
            sentiment_scores=scores,
            urgency=urgency.level,
            urgency_score=urgency.score,
            categories=cats,
            language=lang.language,
            model_version=version,
            category_scores={n: round(float(s), 4) for n, s in zip(index.names, cat_scores[0], strict=True)},
            signals=urgency.signals,
            reduced_confidence=lang.reduced_confidence,
        )


def _row(out: RuntimeOutput, i: int) -> RuntimeOutput:
    return RuntimeOutput({k: v[i : i + 1] for k, v in out.probs.items()}, out.embeddings[i : i + 1])


def build_transformer(options: ClassifierOptions) -> Classifier:
    """Factory registered as classifier kind 'transformer'."""
    return TransformerClassifier(options)
