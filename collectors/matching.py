"""Which tracked brands a text mentions.

Placeholder matcher for the foundation: a query is a list of whitespace-separated
alternatives matched as case-insensitive words. The brand query language
replaces the internals while keeping this API.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class BrandSpec:
    """A tracked brand: its name, its queries, and the brands it competes with."""

    name: str
    queries: tuple[str, ...]
    competitors: tuple[str, ...] = ()


@dataclass(frozen=True)
class MatchResult:
    """The brands a text mentions and the queries that matched."""

    brands: tuple[str, ...]
    queries: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.brands)


class BrandMatcher:
    """Matches texts against every brand's queries."""

    def __init__(self, brands: Sequence[BrandSpec]) -> None:
        self.brands = tuple(brands)
        self._compiled = [
            (brand.name, query, _compile(query)) for brand in self.brands for query in brand.queries
        ]

    def match(self, text: str, *, language: str | None = None, author: str | None = None) -> MatchResult:
        """Return the brands and queries that match ``text``."""
        brands: list[str] = []
        queries: list[str] = []
        for brand, query, pattern in self._compiled:
            if pattern.search(text):
                if brand not in brands:
                    brands.append(brand)
                queries.append(query)
        return MatchResult(tuple(brands), tuple(queries))


def _compile(query: str) -> re.Pattern[str]:
    terms = [re.escape(t.strip('"').lstrip("@#")) for t in query.split() if t.upper() != "OR"]
    return re.compile(r"(?<!\w)[@#]?(?:" + "|".join(terms) + r")(?!\w)", re.IGNORECASE)
