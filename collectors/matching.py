"""Which tracked brands a mention names, using the brand query language.

Each brand has one or more queries (see ``collectors.query``); a mention
matches a brand when any of its queries matches. Collectors call this on
every item they fetch, including items an API search already selected,
because API searches are only ever approximations of the query.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from collectors.query import Compiler, Document, Node, QuerySyntaxError, parse_query


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


@dataclass(frozen=True)
class ParsedQuery:
    """One brand query, as written and as parsed."""

    brand: str
    text: str
    node: Node


class BrandMatcher:
    """Matches mentions against every brand's queries.

    Raises QuerySyntaxError (with ``brand`` and ``query_index`` set) for a bad
    query, so configuration errors surface when the matcher is built.
    """

    def __init__(self, brands: Sequence[BrandSpec], *, prefilter: bool = True) -> None:
        self.brands = tuple(brands)
        compiler = Compiler(prefilter=prefilter)
        parsed: list[ParsedQuery] = []
        for brand in self.brands:
            for index, query in enumerate(brand.queries):
                try:
                    parsed.append(ParsedQuery(brand.name, query, parse_query(query)))
                except QuerySyntaxError as error:
                    error.add_note(f"brand {brand.name!r}, query {index}: {query!r}")
                    raise
        self.parsed: tuple[ParsedQuery, ...] = tuple(parsed)
        self._compiled = [(q.brand, q.text, compiler.compile(q.node)) for q in parsed]

    def match(
        self,
        text: str,
        *,
        language: str | None = None,
        author: str | None = None,
        url: str | None = None,
        links: Sequence[str] = (),
    ) -> MatchResult:
        """Return the brands and queries matching ``text`` and its metadata.

        ``url`` is where the mention lives and ``links`` what it links to; ``site:`` looks at both.
        """
        doc = Document(text, language=language, author=author, url=url, links=links)
        brands: list[str] = []
        queries: list[str] = []
        for brand, query, predicate in self._compiled:
            if predicate(doc):
                if brand not in brands:
                    brands.append(brand)
                if query not in queries:
                    queries.append(query)
        return MatchResult(tuple(brands), tuple(queries))
