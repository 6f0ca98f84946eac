"""Mentions: one post, comment, article or reply that names a tracked brand."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple


class MentionKey(NamedTuple):
    """The identity of a mention: the source it came from and that source's id."""

    source: str
    external_id: str


@dataclass(frozen=True, slots=True)
class Author:
    """Who published a mention, as the source describes them."""

    handle: str
    display_name: str = ""
    followers: int | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Engagement:
    """Engagement counts reported by the source at collection time."""

    likes: int = 0
    shares: int = 0
    replies: int = 0
    views: int | None = None

    @property
    def total(self) -> int:
        """Likes, shares and replies added up (views are not engagement)."""
        return self.likes + self.shares + self.replies


@dataclass(frozen=True, slots=True)
class Mention:
    """A brand mention as collected, before classification.

    ``source`` is the configured source name (for example ``reddit-main``), not
    its kind, so two sources of the same kind keep separate cursors and ids.
    """

    source: str
    external_id: str
    text: str
    author: Author
    published_at: datetime
    collected_at: datetime
    url: str | None = None
    title: str | None = None
    language: str | None = None
    engagement: Engagement = field(default_factory=Engagement)
    brands: tuple[str, ...] = ()
    queries: tuple[str, ...] = ()
    source_kind: str = ""
    raw: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    # Posted by one of our own accounts (brands[].accounts): stored, never alerted on.
    owned: bool = field(default=False, compare=False)
    # Every matched brand is a competitor: tracked for trends, alerted only where a route asks.
    competitor_only: bool = field(default=False, compare=False)

    @property
    def key(self) -> MentionKey:
        """The (source, external_id) pair that identifies this mention."""
        return MentionKey(self.source, self.external_id)

    @property
    def full_text(self) -> str:
        """Title and body together, as classifiers and matchers should see them."""
        if self.title and self.title not in self.text:
            return f"{self.title}\n{self.text}" if self.text else self.title
        return self.text
