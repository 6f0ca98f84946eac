"""Hacker News stories and comments through the Algolia HN Search API (``search_by_date``).

Each brand query becomes one or more Algolia searches (Algolia has no OR, so
``a OR b`` is two searches). Each search keeps its own watermark in the
cursor: the newest ``created_at_i`` read and the ids read at that second, sent
back as ``numericFilters=created_at_i>=T`` so that nothing posted in the same
second is skipped and nothing is read twice.

Algolia serves at most 1,000 hits of one query, however many pages it has. A
search with more new hits than it can page through is split into
``created_at_i`` windows (halving the time range) until each fits; what still
cannot be read (``max_windows`` reached, or over 1,000 hits in one second) is
reported, never dropped silently. One failing search does not stop the others.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import Any, ClassVar, Literal

from pydantic import Field

from collectors.base import Collector, CollectorContext, CollectorOptions, Cursor, FetchResult
from collectors.errors import BadPayload
from collectors.http import get_json, make_client
from collectors.matching import BrandMatcher
from collectors.normalise import Watermark, canonical_url, from_epoch, html_to_text
from collectors.parts import Parts
from collectors.query import Conjunct, Untranslatable, to_hackernews
from domain import Author, Engagement, Mention


class HackerNewsOptions(CollectorOptions):
    """Options for the ``hackernews`` collector."""

    base_url: str = "https://hn.algolia.com/api/v1"
    site_url: str = Field(default="https://news.ycombinator.com", description="Where items and users live.")
    item_types: list[Literal["story", "comment"]] = Field(default=["story", "comment"], min_length=1)
    hits_per_page: int = Field(default=100, ge=1, le=1000)
    max_pages: int = Field(default=5, ge=1, le=50)
    max_windows: int = Field(
        default=16, ge=1, le=256, description="Time windows one search may be split into, per run."
    )
    first_run_hours: float = Field(default=24.0, gt=0, description="How far back the very first run looks.")
    timeout_seconds: float | None = Field(default=None, gt=0)


ALGOLIA_CAP = 1000  # hits Algolia serves per query (paginationLimitedTo), whatever nbHits says


def search_params(
    conj: Conjunct, options: HackerNewsOptions, since: int, page: int, until: int | None = None
) -> dict[str, str | int]:
    """Query parameters for one page of one Algolia search, over ``since <= created_at_i < until``."""
    types = ",".join(options.item_types)
    tags = f"({types})" if len(options.item_types) > 1 else types
    tags += "".join(f",author_{author}" for author in conj.authors)
    params: dict[str, str | int] = {
        "query": conj.query(),
        "tags": tags,
        "numericFilters": f"created_at_i>={since}" + (f",created_at_i<{until}" if until else ""),
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
        parts = Parts()
        fetched = 0
        for conj in conjuncts:
            key = conj.key()
            mark = Watermark.load(saved.get(key))
            first = now - timedelta(hours=self.options.first_run_hours)
            since = int(mark.since if mark.since is not None else first.timestamp())
            read = parts.run(key, partial(self._search, conj, since, now))
            if read is None:
                if key in saved:
                    new_cursor[key] = saved[key]  # a failed search keeps its watermark
                continue
            hits, skipped = read
            problems += [f"search {key!r}: {gap}" for gap in skipped]
            fetched += len(hits)
            for hit in hits:
                try:
                    when, object_id = float(hit["created_at_i"]), str(hit["objectID"])
                except (KeyError, TypeError, ValueError):
                    problems.append(f"search {key!r}: unreadable hit skipped: {str(hit)[:200]}")
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
            new_cursor[key] = mark.dump()
        parts.finish()
        return FetchResult(
            list(mentions.values()), {"searches": new_cursor}, problems, fetched, parts.failures
        )

    def _search(self, conj: Conjunct, since: int, now: datetime) -> tuple[list[Any], list[str]]:
        """Every hit newer than ``since``, split into time windows as the cap needs; and what was skipped."""
        hits: list[Any] = []
        skipped: list[str] = []
        # A stack of [since, until) windows, newest on top; the first has no upper bound.
        windows: list[tuple[int, int | None]] = [(since, None)]
        reads = 0
        while windows:
            start, until = windows.pop()
            end = until or int(now.timestamp()) + 1
            reads += 1
            splittable = end - start > 1 and reads + len(windows) + 2 <= self.options.max_windows
            window_hits, total, complete = self._window(conj, (start, until), now, probe=splittable)
            if not complete and splittable:
                # Halve the range and read both halves (newer first) instead of this truncated read.
                middle = (start + end) // 2
                windows += [(start, middle), (middle, end)]
                continue
            hits.extend(window_hits)
            if not complete:
                when = f"{from_epoch(start):%Y-%m-%d %H:%M:%S} to {from_epoch(end):%Y-%m-%d %H:%M:%S} UTC"
                skipped.append(
                    f"{total - len(window_hits)} of {total} hits from {when} skipped "
                    f"(Algolia's {ALGOLIA_CAP}-hit cap, max_pages or max_windows)"
                )
        return hits, skipped

    def _window(
        self, conj: Conjunct, window: tuple[int, int | None], now: datetime, *, probe: bool
    ) -> tuple[list[Any], int, bool]:
        """The hits of one time window, Algolia's count of them, and whether all were read.

        With ``probe``, a first page announcing more hits than can be read ends the read there:
        the caller splits the window instead.
        """
        hits: list[Any] = []
        total = 0
        readable = min(ALGOLIA_CAP, self.options.max_pages * self.options.hits_per_page)
        for page in range(self.options.max_pages):
            params = search_params(conj, self.options, window[0], page, window[1])
            body = get_json(self._client, "/search_by_date", now=now, params=params)
            if not isinstance(body, Mapping) or not isinstance(body.get("hits"), list):
                raise BadPayload("Algolia answer has no 'hits' list")
            hits.extend(body["hits"])
            pages, count = body.get("nbPages"), body.get("nbHits")
            total = count if isinstance(count, int) else len(hits)
            if probe and page == 0 and total > readable:
                return hits, total, False
            if not body["hits"] or not isinstance(pages, int) or page + 1 >= pages:
                # nbPages stops at the cap, so what was read is compared with nbHits too.
                return hits, total, len(hits) >= total
        return hits, total, False

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()
