"""Hacker News stories and comments through the Algolia HN Search API (``search_by_date``).

Each brand query becomes one or more Algolia searches (Algolia has no OR, so
``a OR b`` is two searches). Each search keeps its own watermark in the
cursor: the newest ``created_at_i`` read and the ids read at that second, sent
back as ``numericFilters=created_at_i>=T`` so that nothing posted in the same
second is skipped and nothing is read twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal

from pydantic import Field

from collectors.base import Collector, CollectorContext, CollectorOptions, Cursor, FetchResult
from collectors.errors import BadPayload
from collectors.http import get_json, make_client
from collectors.matching import BrandMatcher
from collectors.normalise import Watermark, canonical_url, from_epoch, html_to_text
from collectors.query import Conjunct, Untranslatable, to_hackernews
from domain import Author, Engagement, Mention


class HackerNewsOptions(CollectorOptions):
    """Options for the ``hackernews`` collector."""

    base_url: str = "https://hn.algolia.com/api/v1"
    site_url: str = Field(default="https://news.ycombinator.com", description="Where items and users live.")
    item_types: list[Literal["story", "comment"]] = Field(default=["story", "comment"], min_length=1)
    hits_per_page: int = Field(default=100, ge=1, le=1000)
    max_pages: int = Field(default=5, ge=1, le=50)
    first_run_hours: float = Field(default=24.0, gt=0, description="How far back the very first run looks.")
    timeout_seconds: float | None = Field(default=None, gt=0)


def search_params(conj: Conjunct, options: HackerNewsOptions, since: int, page: int) -> dict[str, str | int]:
    """Query parameters for one page of one Algolia search."""
    types = ",".join(options.item_types)
    tags = f"({types})" if len(options.item_types) > 1 else types
    tags += "".join(f",author_{author}" for author in conj.authors)
    params: dict[str, str | int] = {
        "query": conj.query(),
        "tags": tags,
        "numericFilters": f"created_at_i>={since}",
        "hitsPerPage": options.hits_per_page,
        "page": page,
    }
    if conj.exclude or any(" " in word for word in conj.include):
        params["advancedSyntax"] = "true"  # enables "phrases" and -exclusions
    return params


def hit_to_mention(
    hit: Mapping[str, Any], *, source: str, kind: str, site_url: str, matcher: BrandMatcher, now: datetime
) -> Mention | None:
    """A Mention for one Algolia hit if it matches a brand, else None; BadPayload if it is not a hit."""
    try:
        object_id = str(hit["objectID"])
        created = from_epoch(float(hit["created_at_i"]))
    except (KeyError, TypeError, ValueError) as error:
        raise BadPayload(f"hit without objectID/created_at_i: {error}") from error
    tags = hit.get("_tags") or []
    is_comment = "comment" in tags or hit.get("comment_text") is not None
    title = None if is_comment else html_to_text(str(hit.get("title") or "")) or None
    body_html = hit.get("comment_text") if is_comment else hit.get("story_text")
    body = html_to_text(str(body_html or ""))
    author = str(hit.get("author") or "")
    item_url = f"{site_url}/item?id={object_id}"
    link = canonical_url(hit.get("url") or hit.get("story_url"))
    text = "\n".join(part for part in (title, body) if part)
    matched = matcher.match(text, author=author, url=item_url, links=[link] if link else ())
    if not matched:
        return None
    return Mention(
        source=source,
        external_id=object_id,
        text=body or (title or ""),
        title=title,
        author=Author(
            handle=author, display_name=author, url=f"{site_url}/user?id={author}" if author else None
        ),
        published_at=created,
        collected_at=now,
        url=canonical_url(item_url),
        engagement=Engagement(likes=_count(hit.get("points")), replies=_count(hit.get("num_comments"))),
        brands=matched.brands,
        queries=matched.queries,
        source_kind=kind,
        raw=dict(hit),
    )


def _count(value: Any) -> int:
    return value if isinstance(value, int) and value > 0 else 0


class HackerNewsCollector(Collector[HackerNewsOptions]):
    """Collects Hacker News stories and comments that match brand queries."""

    kind: ClassVar[str] = "hackernews"
    options_model: ClassVar[type[CollectorOptions]] = HackerNewsOptions

    def __init__(self, *, name: str, options: HackerNewsOptions, context: CollectorContext) -> None:
        super().__init__(name=name, options=options, context=context)
        self._client = make_client(
            context, base_url=options.base_url.rstrip("/"), timeout=options.timeout_seconds
        )

    def searches(self) -> tuple[list[Conjunct], list[str]]:
        """The Algolia searches covering every brand query, and the queries that cannot be searched."""
        found: dict[str, Conjunct] = {}
        problems: list[str] = []
        for parsed in self.context.matcher.parsed:
            try:
                for conj in to_hackernews(parsed.node):
                    found.setdefault(conj.key(), conj)
            except Untranslatable as error:
                problems.append(
                    f"query {parsed.text!r} ({parsed.brand}) not searched on Hacker News: {error}"
                )
        return list(found.values()), problems

    def fetch(self, cursor: Cursor | None) -> FetchResult:
        """Run every search from its watermark, newest first, until it reaches items already read."""
        now = self.context.now()
        saved = (cursor or {}).get("searches")
        saved = saved if isinstance(saved, Mapping) else {}
        conjuncts, problems = self.searches()
        mentions: dict[str, Mention] = {}
        new_cursor: dict[str, Any] = {}
        fetched = 0
        for conj in conjuncts:
            mark = Watermark.load(saved.get(conj.key()))
            first = now - timedelta(hours=self.options.first_run_hours)
            since = int(mark.since if mark.since is not None else first.timestamp())
            hits, truncated = self._search(conj, since, now)
            if truncated:
                problems.append(
                    f"search {conj.key()!r}: more than {self.options.max_pages} pages; older hits skipped"
                )
            fetched += len(hits)
            for hit in hits:
                try:
                    when, object_id = float(hit["created_at_i"]), str(hit["objectID"])
                except (KeyError, TypeError, ValueError):
                    problems.append(f"search {conj.key()!r}: unreadable hit skipped: {str(hit)[:200]}")
                    continue
                if not mark.is_new(when, object_id):
                    continue
                mark.add(when, object_id)
                mention = hit_to_mention(
                    hit,
                    source=self.name,
                    kind=self.kind,
                    site_url=self.options.site_url.rstrip("/"),
                    matcher=self.context.matcher,
                    now=now,
                )
                if mention is not None:
                    mentions.setdefault(mention.external_id, mention)
            new_cursor[conj.key()] = mark.dump()
        return FetchResult(list(mentions.values()), {"searches": new_cursor}, problems, fetched)

    def _search(self, conj: Conjunct, since: int, now: datetime) -> tuple[list[Any], bool]:
        """Every hit newer than ``since``, and whether ``max_pages`` cut the search short."""
        hits: list[Any] = []
        for page in range(self.options.max_pages):
            body = get_json(
                self._client,
                "/search_by_date",
                now=now,
                params=search_params(conj, self.options, since, page),
            )
            if not isinstance(body, Mapping) or not isinstance(body.get("hits"), list):
                raise BadPayload("Algolia answer has no 'hits' list")
            hits.extend(body["hits"])
            pages = body.get("nbPages")
            if not body["hits"] or not isinstance(pages, int) or page + 1 >= pages:
                return hits, False
        return hits, True

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()
