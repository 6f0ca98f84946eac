"""Per-part isolation and page loops shared by the search-based collectors.

A source's run is made of parts (one search, query, feed or stream). One part failing must
not cost the others their results: ``Parts`` runs each one, keeps what failed as a redacted
"<part>: <error>" line for source health, and fails the whole run only when every part failed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from collectors.errors import CollectorError

T = TypeVar("T")
ItemT = TypeVar("ItemT")
TokenT = TypeVar("TokenT")

REDACTED = "***"


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every (non-empty) secret replaced, so failures can be shown and stored."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


class Parts:
    """Runs the parts of one fetch, isolating their failures."""

    def __init__(self, *, secrets: Iterable[str] = ()) -> None:
        self._secrets = tuple(s for s in secrets if s)
        self.failures: list[str] = []
        self.errors: list[CollectorError] = []
        self.attempted = 0

    def run(self, name: str, work: Callable[[], T]) -> T | None:
        """``work()``'s result, or None after recording its CollectorError as this part's failure."""
        self.attempted += 1
        try:
            return work()
        except CollectorError as error:
            # Bugs (anything but a CollectorError) still propagate: hiding them would hide lost posts.
            self.errors.append(error)
            self.failures.append(f"{name}: {redact(str(error), self._secrets)}")
            return None

    def note(self, name: str, message: str) -> None:
        """Record a failure that did not stop its part (a gap it could not fetch), for source health."""
        self.failures.append(f"{name}: {redact(message, self._secrets)}")

    def finish(self) -> None:
        """Raise the first error when every part failed: then the run itself has failed."""
        if self.errors and len(self.errors) == self.attempted:
            raise self.errors[0]


def follow_pages(
    fetch: Callable[[TokenT | None], tuple[Sequence[ItemT], TokenT | None]], max_pages: int
) -> tuple[list[ItemT], bool]:
    """Every item from up to ``max_pages`` pages, and whether pages were left when the limit was hit.

    ``fetch(token)`` returns one page and the token of the next (None when there is none); the
    first call gets None. An empty page ends the loop, since some APIs hand out a token regardless.
    """
    items: list[ItemT] = []
    token: TokenT | None = None
    for _ in range(max_pages):
        batch, token = fetch(token)
        items.extend(batch)
        if not batch or token is None:
            return items, False
    return items, True
