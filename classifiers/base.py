"""The Classifier seam: batch prediction over mention texts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from domain import Classification, Mention


@dataclass(frozen=True, slots=True)
class ClassifierInput:
    """What a classifier looks at: the text plus the reach signals urgency needs."""

    text: str
    author_followers: int | None = None
    engagement: int = 0
    language: str | None = None

    @classmethod
    def from_mention(cls, mention: Mention) -> ClassifierInput:
        """Build the classifier's view of a collected mention."""
        return cls(
            text=mention.full_text,
            author_followers=mention.author.followers,
            engagement=mention.engagement.total,
            language=mention.language,
        )


@runtime_checkable
class Classifier(Protocol):
    """Anything that classifies a batch of inputs, one Classification per input, in order."""

    @property
    def version(self) -> str:
        """A version string stored with every classification."""
        ...

    def predict_batch(self, items: Sequence[ClassifierInput]) -> list[Classification]:
        """Classify every item; never raise for one bad text."""
        ...
