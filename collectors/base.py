"""The Collector seam: fetch what is new since a cursor, never touching storage."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from collectors.matching import BrandMatcher
from domain import Mention

Cursor = Mapping[str, Any]


class CollectorOptions(BaseModel):
    """Base for every collector's options; unknown keys are a configuration error."""

    # Rejected values may be secrets (a mistyped token); keep them out of error messages.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


OptionsT = TypeVar("OptionsT", bound=CollectorOptions)


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class CollectorContext:
    """What the composition root hands every collector."""

    matcher: BrandMatcher
    now: Callable[[], datetime] = utcnow
    user_agent: str = "earshot/0.1 (+https://github.com/earshot/earshot)"
    timeout_seconds: float = 20.0


@dataclass(frozen=True)
class FetchResult:
    """Mentions found since the cursor, and the cursor to store with them.

    The pipeline stores ``mentions`` and ``cursor`` in one transaction, so a
    crash before commit re-fetches the same items and stores nothing twice.
    ``problems`` lists items the collector could not read, for the run report.
    ``failures`` lists parts of the run (one search, query, feed or instance) that failed while the
    others succeeded: "<part>: <error>", secrets redacted. The pipeline stores what the other parts
    found, advances only their cursors (the collector leaves a failed part's cursor as it was), and
    records the failures in source health, where they count towards the health alert.
    """

    mentions: Sequence[Mention]
    cursor: dict[str, Any] | None
    problems: Sequence[str] = field(default_factory=tuple)
    fetched: int = 0
    failures: Sequence[str] = field(default_factory=tuple)


class Collector(ABC, Generic[OptionsT]):
    """A source of mentions. Subclasses set ``kind`` and ``options_model``."""

    kind: ClassVar[str]
    options_model: ClassVar[type[CollectorOptions]]

    def __init__(self, *, name: str, options: OptionsT, context: CollectorContext) -> None:
        self.name = name
        self.options = options
        self.context = context

    @abstractmethod
    def fetch(self, cursor: Cursor | None) -> FetchResult:
        """Fetch what is new since ``cursor``; raise a CollectorError subclass on failure."""

    def close(self) -> None:
        """Release connections; called on shutdown."""
