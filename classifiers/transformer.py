"""The 'transformer' classifier: multi-task MiniLM in ONNX Runtime, learned heads, urgency scoring."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from classifiers.base import Classifier, ClassifierInput
from classifiers.categories import CategoryIndex, build_index
from classifiers.config import ClassifierOptions
from classifiers.heads import SENTIMENTS, SUPPORTED_LANGUAGES, HeadOutputs, LearnedHeads, dense_features
from classifiers.keywords import compile_patterns, keyword_hits
from classifiers.language import guess_language
from classifiers.runtime import (
    MODEL_DIR,
    MODEL_FILE,
    ModelMeta,
    ModelRuntime,
    RuntimeOutput,
    get_runtime,
    normalise_text,
)
from classifiers.urgency import amplify, score_urgency
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
        self._heads: LearnedHeads | None = None
        self._heads_read = False
        self._sha256: str | None = None
        self._lock = threading.Lock()
        self._keywords = compile_patterns(options.categories)

    @property
    def version(self) -> str:
        """Model name and version, e.g. earshot-minilm-mt-1.0.0+int8+heads.2.0.0.1a2b3c4d."""
        meta = self._runtime.meta if self._runtime else ModelMeta.load(self.model_dir)
        return _version(meta, self._learned_heads())

    def _learned_heads(self) -> LearnedHeads | None:
        """The heads beside the model, read once (None for a model without them)."""
        if not self._heads_read:
            self._heads = LearnedHeads.load(self.model_dir)
            self._heads_read = True
        return self._heads

    @property
    def sha256(self) -> str:
        """SHA-256 over the encoder graph and the learned heads: what produced a classification."""
        if self._sha256 is None:
            digest = hashlib.sha256(hashlib.sha256((self.model_dir / MODEL_FILE).read_bytes()).digest())
            heads = self._learned_heads()
            if heads is not None:
                digest.update(bytes.fromhex(heads.sha256))
            self._sha256 = digest.hexdigest()
        return self._sha256

    def _load(self) -> tuple[ModelRuntime, CategoryIndex]:
        with self._lock:
            if self._runtime is None or self._index is None:
                runtime = get_runtime(self.model_dir, self.options.threads)
                heads = self._learned_heads()
                learned = set(heads.category_names) if heads else set()
                self._index = build_index(
                    self.model_dir,
                    lambda texts: runtime.embed(texts, self.options.batch_size),
                    # With learned heads, prototypes serve only the categories a team added in config.
                    {k: v for k, v in self.options.categories.items() if k not in learned},
                    self.options.category_thresholds,
                    only_extra=bool(learned),
                )
                self._runtime = runtime
                _ = self.sha256
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
        version = _version(runtime.meta, self._heads)
        learned = self._learned(texts, outputs)
        return [
            self._classify(item, text, out, index, version, learned[i] if learned else None)
            for i, (item, text, out) in enumerate(zip(items, texts, outputs, strict=True))
        ]

    def _learned(self, texts: list[str], outputs: list[RuntimeOutput | None]) -> list[_Learned | None] | None:
        """Learned-head outputs per text (None where the encoder gave nothing), or None without heads."""
        if self._heads is None:
            return None
        rows = [i for i, out in enumerate(outputs) if out is not None]
        result: list[_Learned | None] = [None] * len(texts)
        if not rows:
            return result
        dense = np.vstack([dense_features(outputs[i]) for i in rows])  # type: ignore[arg-type]
        heads = self._heads.predict(dense, [texts[i] for i in rows])
        for k, i in enumerate(rows):
            result[i] = _Learned(heads, k)
        return result

    def _classify(
        self,
        item: ClassifierInput,
        text: str,
        out: RuntimeOutput | None,
        index: CategoryIndex,
        version: str,
        learned: _Learned | None = None,
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
                model_sha256=self._sha256,
            )
        if learned is not None and self._heads is not None:
            return self._classify_learned(item, out, index, version, learned, lang.language)
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
            model_sha256=self._sha256,
        )

    def _classify_learned(
        self,
        item: ClassifierInput,
        out: RuntimeOutput,
        index: CategoryIndex,
        version: str,
        learned: _Learned,
        language: str | None,
    ) -> Classification:
        """Sentiment, categories and urgency from the learned heads (docs/annotation.md labels)."""
        assert self._heads is not None
        heads, k = learned.outputs, learned.row
        supported = (language or "en") in SUPPORTED_LANGUAGES
        # The base sentiment head is English (TweetEval); other languages use the learned one.
        sent = out.probs["sentiment"][0] if (language or "en") == "en" else heads.sentiment[k]
        scores = {name: round(float(p), 4) for name, p in zip(SENTIMENTS, sent, strict=True)}
        thresholds = self._heads.thresholds
        cat_probs = {
            n: float(p) for n, p in zip(self._heads.category_names, heads.categories[k], strict=True)
        }
        cats = [n for n, p in cat_probs.items() if p >= thresholds[f"cat:{n}"]]
        cat_scores = {n: round(p, 4) for n, p in cat_probs.items()}
        if index.names:  # categories a team added in config, by example sentences
            extra = index.scores(out.embeddings)
            cats += list(index.assign(extra, [set()])[0])
            cat_scores.update({n: round(float(s), 4) for n, s in zip(index.names, extra[0], strict=True)})
        needs, high, crit = (
            float(heads.needs_response[k]),
            float(heads.urgency_high[k]),
            float(heads.urgency_critical[k]),
        )
        content = self._heads.content_urgency(needs, high, crit, self.options.urgency)
        urgency = amplify(
            content,
            {"needs_response": needs, "severity_high": high, "severity_critical": crit},
            followers=item.author_followers,
            engagement=item.engagement,
            thresholds=self.options.urgency,
        )
        return Classification(
            sentiment=Sentiment(SENTIMENTS[int(np.argmax(sent))]),
            sentiment_scores=scores,
            urgency=urgency.level,
            urgency_score=urgency.score,
            categories=tuple(sorted(set(cats), key=cats.index)),
            language=language,
            model_version=version,
            category_scores=cat_scores,
            signals=urgency.signals,
            reduced_confidence=not supported,
            model_sha256=self._sha256,
        )


@dataclass(frozen=True, slots=True)
class _Learned:
    """One text's row in a batch of learned-head outputs."""

    outputs: HeadOutputs
    row: int


def _version(meta: ModelMeta, heads: LearnedHeads | None) -> str:
    # The heads' checksum is part of the version, so every retrain changes it.
    if heads is None:
        return f"{MODEL_NAME}-{meta.version}"
    return f"{MODEL_NAME}-{meta.version}+heads.{heads.version}.{heads.sha256[:8]}"


def _row(out: RuntimeOutput, i: int) -> RuntimeOutput:
    return RuntimeOutput({k: v[i : i + 1] for k, v in out.probs.items()}, out.embeddings[i : i + 1])


def build_transformer(options: ClassifierOptions) -> Classifier:
    """Factory registered as classifier kind 'transformer'."""
    return TransformerClassifier(options)
