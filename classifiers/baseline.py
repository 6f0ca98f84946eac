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

# Category keywords: a word or phrase regex each; crude on purpose, the transformer replaces it.
_CATEGORY_PATTERNS: dict[str, str] = {
    "outage": (
        r"\b(down|outage|not loading|500 error|5\d\d|can'?t (log ?in|connect|sync)"
        r"|sync(ing)? stuck|offline)\b"
    ),
    "security": r"\b(leak(ed)?|breach|hack(ed)?|vulnerab\w*|exploit|idor|exposed|phishing|password)\b",
    "safety": r"\b(fire|smoke|overheat\w*|burn(t|ed|ing)?|explod\w*|swell\w*|injur\w*|shock)\b",
    "legal": r"\b(lawyer|lawsuit|sue|suing|class action|gdpr|legal action|attorney|court)\b",
    "billing": r"\b(charged|charge|refund|invoice|billing|subscription|overcharg\w*|auto-?renew\w*)\b",
    "delivery": r"\b(deliver\w*|shipping|shipped|package|order|courier|tracking)\b",
    "customer_service": r"\b(support|no reply|no response|customer service|ticket|agent|waiting)\b",
    "product_feedback": r"\b(feature|wish|would be nice|please add|suggestion|update|ui|design)\b",
    "question": r"(\?\s*$|\b(how do i|how to|anyone know|does anyone|is there a way)\b)",
    "praise": r"\b(love|amazing|awesome|best|great job|thank you|kudos|impressed)\b",
    "spam": r"\b(giveaway|dm me|free followers|crypto|airdrop|click here|earn \$)\b",
}
_WORD = re.compile(r"[\w']+")


class BaselineClassifier:
    """Lexicon sentiment, keyword categories and a simple urgency score."""

    def __init__(self, options: ClassifierOptions | None = None) -> None:
        self.options = options or ClassifierOptions()
        patterns = dict(_CATEGORY_PATTERNS)
        for category, examples in self.options.categories.items():
            # Config examples become extra literal phrases for this crude matcher.
            extra = "|".join(re.escape(e.lower()) for e in examples if e.strip())
            if extra:
                patterns[category] = f"{patterns[category]}|{extra}" if category in patterns else extra
        self._categories = {name: re.compile(p, re.IGNORECASE) for name, p in patterns.items()}

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
        categories = tuple(name for name, rx in self._categories.items() if rx.search(text))
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
