"""A keyword baseline classifier: no model, instant, and honest about being crude.

It stands in wherever the transformer model is not wanted (tests of other
packages, a machine without the model files) and is chosen by configuration
alone: ``classifier.kind: baseline``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from classifiers.base import ClassifierInput
from classifiers.config import ClassifierOptions
from classifiers.keywords import compile_patterns, keyword_hits
from classifiers.urgency import level_for, score_urgency
from domain import Classification, Sentiment

VERSION = "baseline-lexicon-1"

_NEGATIVE = {
    "angry",
    "awful",
    "bad",
    "broken",
    "cancel",
    "cancelled",
    "crash",
    "crashes",
    "crashing",
    "disappointed",
    "down",
    "error",
    "errors",
    "fail",
    "failed",
    "failing",
    "fraud",
    "furious",
    "garbage",
    "hate",
    "horrible",
    "lost",
    "never",
    "outage",
    "overcharged",
    "poor",
    "refund",
    "ridiculous",
    "scam",
    "slow",
    "stuck",
    "sucks",
    "terrible",
    "unacceptable",
    "useless",
    "worst",
    "wtf",
    "deleted",
    "leak",
    "leaked",
    "late",
    "nobody",
    "ignored",
    "waiting",
    "charged",
    "twice",
    "unusable",
    "joke",
    "shame",
    "disgusting",
    "lawsuit",
    "fire",
}
_POSITIVE = {
    "amazing",
    "awesome",
    "best",
    "brilliant",
    "excellent",
    "fantastic",
    "fast",
    "good",
    "great",
    "happy",
    "impressed",
    "love",
    "loving",
    "nice",
    "perfect",
    "recommend",
    "smooth",
    "solid",
    "superb",
    "thank",
    "thanks",
    "wonderful",
    "helpful",
    "easy",
    "favorite",
    "favourite",
    "kudos",
    "reliable",
    "beautiful",
}
_NEGATORS = {"not", "no", "never", "dont", "don't", "isn't", "isnt", "wasn't", "cant", "can't", "won't"}

_WORD = re.compile(r"[\w']+")


class BaselineClassifier:
    """Lexicon sentiment, keyword categories and a simple urgency score."""

    def __init__(self, options: ClassifierOptions | None = None) -> None:
        self.options = options or ClassifierOptions()
        # Config examples become extra literal phrases for this crude matcher.
        self._categories = compile_patterns(self.options.categories)

    @property
    def version(self) -> str:
        """The version string stored with each classification."""
        return VERSION

    def predict_batch(self, items: Sequence[ClassifierInput]) -> list[Classification]:
        """Classify every item in order."""
        return [self._predict(item) for item in items]

    def _predict(self, item: ClassifierInput) -> Classification:
        text = item.text if isinstance(item.text, str) else str(item.text)
        words = [w.lower() for w in _WORD.findall(text)]
        neg = pos = 0.0
        for i, word in enumerate(words):
            flipped = i > 0 and words[i - 1] in _NEGATORS
            if word in _NEGATIVE:
                pos, neg = (pos + 1, neg) if flipped else (pos, neg + 1)
            elif word in _POSITIVE:
                pos, neg = (pos, neg + 1) if flipped else (pos + 1, neg)
        scores = _softmax([neg, 0.5, pos])
        labels = [Sentiment.NEGATIVE, Sentiment.NEUTRAL, Sentiment.POSITIVE]
        sentiment = labels[max(range(3), key=lambda k: scores[k])]
        hits = keyword_hits(text, self._categories)
        categories = tuple(name for name in self._categories if name in hits)
        score, signals = self._urgency(scores[0], categories, item)
        return Classification(
            sentiment=sentiment,
            sentiment_scores={str(label): round(s, 4) for label, s in zip(labels, scores, strict=True)},
            urgency=level_for(score, self.options.urgency),
            urgency_score=round(score, 4),
            categories=categories,
            language=item.language,
            model_version=VERSION,
            category_scores={c: 1.0 for c in categories},
            signals=signals,
        )

    def _urgency(
        self, negative: float, categories: tuple[str, ...], item: ClassifierInput
    ) -> tuple[float, dict[str, float]]:
        # The same documented scoring function the transformer uses; the baseline has no anger,
        # complaint or offensive heads, so negative sentiment stands in for complaint.
        result = score_urgency(
            negative=negative,
            anger=0.0,
            complaint=negative if categories else 0.0,
            offensive=0.0,
            categories=dict.fromkeys(categories, 1.0),
            followers=item.author_followers,
            engagement=item.engagement,
            thresholds=self.options.urgency,
        )
        return result.score, result.signals


def _softmax(values: list[float]) -> list[float]:
    peak = max(values)
    exps = [math.exp(v - peak) for v in values]
    total = sum(exps)
    return [e / total for e in exps]


def build_baseline(options: ClassifierOptions) -> BaselineClassifier:
    """Factory registered as classifier kind 'baseline'."""
    return BaselineClassifier(options)
