"""RSS and Atom feeds: conditional GETs, bounded reads, feedparser, and a per-feed cursor.

The cursor keeps, per feed, the ETag and Last-Modified validators and a
bounded list of entry keys already read (an entry's id, else its link, else a
hash of its title and link), each with its date so that keys falling out of
the list still leave a date horizon behind. Feeds without ids or dates work.

Reddit without API credentials: point this collector at Reddit's public RSS
search, e.g. ``https://www.reddit.com/search.rss?q=acme&sort=new``, or at a
subreddit's ``/r/<name>/new/.rss``.
"""

from __future__ import annotations

import contextvars
import io
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import urljoin, urlsplit

import feedparser
from pydantic import Field, field_validator

from collectors.base import Collector, CollectorContext, CollectorOptions, Cursor, FetchResult
from collectors.errors import BadPayload, CollectorError
from collectors.http import DEFAULT_MAX_REDIRECTS, check_status, combine_errors, fetch, make_client
from collectors.matching import BrandMatcher
from collectors.netguard import NetGuard
from collectors.normalise import (
    canonical_url,
    from_struct_time,
    html_to_text,
    json_safe,
    language_code,
    stable_id,
    tidy_whitespace,
)
from collectors.redact import redact_url
from domain import Author, Engagement, Mention

_MAX_ID_LENGTH = 200
_HTML_TYPES = ("text/html", "application/xhtml+xml", "html", "xhtml")


class RssOptions(CollectorOptions):
    """Options for the ``rss`` collector."""

    feeds: list[str] = Field(min_length=1, description="Feed URLs (http or https).")
    max_bytes: int = Field(default=5_000_000, gt=0, description="Largest body read, decompressed.")
    max_redirects: int = Field(default=DEFAULT_MAX_REDIRECTS, ge=0, le=20)
    timeout_seconds: float | None = Field(default=None, gt=0, description="Per request.")
    max_seen_per_feed: int = Field(default=500, ge=10, le=20_000)
    concurrency: int = Field(default=4, ge=1, le=32, description="Feeds downloaded in parallel.")
    allow_private: bool = Field(
        default=False,
        description="Let the configured feeds' own hosts be private or loopback addresses "
        "(redirects elsewhere stay refused).",
    )

    @field_validator("feeds")
    @classmethod
    def _http_urls(cls, feeds: list[str]) -> list[str]:
        for index, url in enumerate(feeds):
            parts = urlsplit(url)
            if parts.scheme not in {"http", "https"} or not parts.netloc:
                # The URL itself stays out of the message: private feed URLs often carry a key.
                raise ValueError(f"feeds[{index}] is not an http(s) URL")
        return list(dict.fromkeys(feeds))


@dataclass
class FeedState:
    """What the cursor remembers about one feed."""

    etag: str | None = None
    last_modified: str | None = None
    seen: list[tuple[str, float | None]] = field(default_factory=list)
    horizon: float | None = None

    @classmethod
    def load(cls, data: Any) -> FeedState:
        """Read a feed's cursor entry, ignoring anything malformed rather than failing the feed."""
        if not isinstance(data, Mapping):
            return cls()
        seen = [
            (str(item[0]), item[1] if isinstance(item[1], int | float) else None)
            for item in data.get("seen") or []
            if isinstance(item, list | tuple) and len(item) == 2
        ]
        horizon = data.get("horizon")
        return cls(
            etag=data.get("etag") if isinstance(data.get("etag"), str) else None,
            last_modified=data.get("last_modified") if isinstance(data.get("last_modified"), str) else None,
            seen=seen,
            horizon=float(horizon) if isinstance(horizon, int | float) else None,
        )

    def dump(self) -> dict[str, Any]:
        """The JSON-serialisable cursor entry."""
        return {
            "etag": self.etag,
            "last_modified": self.last_modified,
            "seen": [list(item) for item in self.seen],
            "horizon": self.horizon,
        }


@dataclass
class FeedRead:
    """Entries read from one feed document."""

    mentions: list[Mention]
    seen: list[tuple[str, float | None]]
    horizon: float | None
    problems: list[str]
    entries: int


def parse_feed(content: bytes, headers: Mapping[str, str], url: str) -> feedparser.FeedParserDict:
    """Parse feed bytes with feedparser, letting HTTP headers drive charset and relative-link handling."""
    response_headers = {key.lower(): value for key, value in headers.items()}
    # The body is already decompressed and measured; stale framing headers would only mislead.
    response_headers.pop("content-encoding", None)
    response_headers.pop("content-length", None)
    response_headers["content-location"] = urljoin(url, response_headers.get("content-location", ""))
    # A stream, never bytes or str: feedparser would try to open a str or bytes as a URL or file path.
    return feedparser.parse(io.BytesIO(content), response_headers=response_headers)


def is_benign(error: Any) -> bool:
    """Whether a feedparser bozo exception leaves the entries fully readable (a charset override, say)."""
    benign = feedparser.ThingsNobodyCaresAboutButMe
    return isinstance(error, benign) and not isinstance(error, feedparser.CharacterEncodingUnknown)


def _text(value: Any, detail: Any) -> str:
    """Plain text from a feed field; its ``*_detail`` says whether it is HTML or already text."""
    if isinstance(detail, Mapping):
        # feedparser's plain value wins: the detail can hold a nested element's text instead.
        text = str(value if value is not None else detail.get("value") or "")
        kind = str(detail.get("type") or "")
        return html_to_text(text) if kind in _HTML_TYPES or "html" in kind else tidy_whitespace(text)
    return html_to_text(str(value or ""))


def _body(entry: Mapping[str, Any]) -> str:
    contents = [item for item in entry.get("content") or [] if isinstance(item, Mapping)]
    candidates = [_text(item.get("value"), item) for item in contents]
    candidates.append(_text(entry.get("summary"), entry.get("summary_detail")))
    return max(candidates, key=len, default="")


def entry_key(entry: Mapping[str, Any], title: str, link: str | None) -> str:
    """The entry's own id, else its link, else a hash of what it says."""
    raw_id = entry.get("id") or entry.get("guid")
    if isinstance(raw_id, str) and raw_id.strip():
        key = raw_id.strip()
    elif link:
        key = link
    else:
        key = "h:" + stable_id(title, str(entry.get("summary") or ""))
    return key if len(key) <= _MAX_ID_LENGTH else "h:" + stable_id(key)


def _published(entry: Mapping[str, Any]) -> datetime | None:
    for name in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(name)
        if value:
            converted = from_struct_time(value)
            if converted is not None:
                return converted
    return None


def _int(value: Any) -> int:
    try:
        return max(0, int(str(value).strip()))
    except (TypeError, ValueError):
        return 0


class FeedReader:
    """Turns a parsed feed into mentions for one collector (the part benchmarks time)."""

    def __init__(self, *, source: str, kind: str, matcher: BrandMatcher, now: datetime) -> None:
        self.source = source
        self.kind = kind
        self.matcher = matcher
        self.now = now

    def read(self, parsed: Any, feed_url: str, state: FeedState, max_seen: int) -> FeedRead:
        """Mentions for entries not in ``state``, the updated seen list, and per-entry problems."""
        feed = parsed.get("feed") or {}
        feed_key = stable_id(feed_url)[:10]
        known = {key for key, _ in state.seen}
        mentions: list[Mention] = []
        problems: list[str] = []
        current: list[tuple[str, float | None]] = []
        entries = parsed.get("entries") or []
        for index, entry in enumerate(entries):
            try:
                mention, key, when = self._entry(entry, feed, feed_url, feed_key)
            except Exception as error:  # one unreadable entry must not cost the feed
                where = redact_url(feed_url)
                problems.append(f"{where}: entry {index} unreadable ({type(error).__name__}: {error})")
                continue
            stamp = when.timestamp() if when else None
            if key in known:
                continue
            known.add(key)
            current.append((key, stamp))
            if state.horizon is not None and stamp is not None and stamp <= state.horizon:
                continue  # older than entries we already forgot having read
            if mention is not None:
                mentions.append(mention)
        seen, horizon = _bounded([*current, *state.seen], max_seen, state.horizon)
        return FeedRead(mentions, seen, horizon, problems, len(entries))

    def _entry(
        self, entry: Any, feed: Any, feed_url: str, feed_key: str
    ) -> tuple[Mention | None, str, datetime | None]:
        link = canonical_url(entry.get("link"), base=feed_url)
        title = _text(entry.get("title"), entry.get("title_detail"))
        body = _body(entry)
        key = entry_key(entry, title, link)
        published = _published(entry)
        author_detail = entry.get("author_detail") or {}
        author_name = html_to_text(str(entry.get("author") or author_detail.get("name") or ""))
        feed_title = html_to_text(str(feed.get("title") or ""))
        handle = author_name or feed_title or (urlsplit(feed_url).hostname or feed_url)
        detail_language = (entry.get("title_detail") or {}).get("language")
        language = language_code(entry.get("language") or detail_language or feed.get("language"))
        links = [str(item.get("href")) for item in entry.get("links") or [] if isinstance(item, Mapping)]
        text = f"{title}\n{body}" if title and title not in body else body or title
        matched = self.matcher.match(text, language=language, author=handle, url=link, links=links)
        if not matched:
            return None, key, published
        mention = Mention(
            source=self.source,
            external_id=f"{feed_key}:{key}",
            text=body or title,
            title=title or None,
            author=Author(
                handle=handle,
                display_name=author_name or feed_title,
                url=canonical_url(author_detail.get("href"), base=feed_url),
            ),
            published_at=published or self.now,
            collected_at=self.now,
            url=link,
            language=language,
            engagement=Engagement(replies=_int(entry.get("slash_comments"))),
            brands=matched.brands,
            queries=matched.queries,
            source_kind=self.kind,
            raw=json_safe(dict(entry)),
        )
        return mention, key, published


def _bounded(
    seen: list[tuple[str, float | None]], limit: int, horizon: float | None
) -> tuple[list[tuple[str, float | None]], float | None]:
    """Keep the newest ``limit`` keys; forgotten keys raise the horizon to their newest date."""
    kept, dropped = seen[:limit], seen[limit:]
    dates = [stamp for _, stamp in dropped if stamp is not None]
    if horizon is not None:
        dates.append(horizon)
    return kept, max(dates) if dates else None


@dataclass
class _Outcome:
    url: str
    state: FeedState
    read: FeedRead | None = None
    error: CollectorError | None = None
    problems: list[str] = field(default_factory=list)


def _failure(outcome: _Outcome) -> str:
    """'<feed>: <error>' with the URL redacted and not repeated when the error starts with it."""
    where = redact_url(outcome.url)
    message = str(outcome.error)
    message = message.removeprefix(f"{where}: ")
    return f"{where}: {type(outcome.error).__name__}: {message}"


class RssCollector(Collector[RssOptions]):
    """Collects brand mentions from RSS, Atom and RDF feeds."""

    kind: ClassVar[str] = "rss"
    options_model: ClassVar[type[CollectorOptions]] = RssOptions

    def __init__(self, *, name: str, options: RssOptions, context: CollectorContext) -> None:
        super().__init__(name=name, options=options, context=context)
        guard = NetGuard.allowing(options.feeds) if options.allow_private else NetGuard()
        self._client = make_client(
            context, timeout=options.timeout_seconds, max_redirects=options.max_redirects, guard=guard
        )

    def fetch(self, cursor: Cursor | None) -> FetchResult:
        """Read every feed; one failing feed is reported, and only all failing raises."""
        states = (cursor or {}).get("feeds")
        states = states if isinstance(states, Mapping) else {}
        now = self.context.now()
        reader = FeedReader(source=self.name, kind=self.kind, matcher=self.context.matcher, now=now)
        feeds = self.options.feeds
        # Each worker runs in a copy of this context, so the run's deadline (a context variable
        # that the pipeline sets) bounds every feed; one Context cannot be entered by two threads.
        jobs = [(contextvars.copy_context(), url) for url in feeds]
        with ThreadPoolExecutor(max_workers=min(self.options.concurrency, len(feeds))) as pool:
            downloads = pool.map(
                lambda job: job[0].run(self._download, job[1], FeedState.load(states.get(job[1])), now), jobs
            )
            outcomes = [self._parse(outcome, reader) for outcome in downloads]
        failed = [o for o in outcomes if o.error is not None]
        if len(failed) == len(outcomes):
            raise combine_errors([o.error for o in failed if o.error is not None], what="feed")
        mentions = [m for o in outcomes if o.read for m in o.read.mentions]
        problems = [p for o in outcomes for p in o.problems]
        fetched = sum(o.read.entries for o in outcomes if o.read)
        # A failed feed keeps its old state, so the next run starts from where it was.
        new_cursor = {"feeds": {o.url: o.state.dump() for o in outcomes}}
        return FetchResult(mentions, new_cursor, problems, fetched, [_failure(o) for o in failed])

    def _download(self, url: str, state: FeedState, now: datetime) -> tuple[_Outcome, Any]:
        headers = {"Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.8"}
        if state.etag:
            headers["If-None-Match"] = state.etag
        if state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
        outcome = _Outcome(url, state)
        try:
            response = fetch(self._client, url, headers=headers, max_bytes=self.options.max_bytes)
            check_status(response.status, response.headers, url, now)
        except CollectorError as error:
            outcome.error = error
            return outcome, None
        return outcome, response

    def _parse(self, download: tuple[_Outcome, Any], reader: FeedReader) -> _Outcome:
        outcome, response = download
        if response is None or response.status == 304:
            return outcome
        try:
            parsed = parse_feed(response.content, response.headers, response.url)
            read = reader.read(parsed, outcome.url, outcome.state, self.options.max_seen_per_feed)
        except Exception as error:  # a parser crash on hostile input costs this feed only
            where = redact_url(outcome.url)
            outcome.error = BadPayload(f"{where}: unreadable feed ({type(error).__name__}: {error})")
            return outcome
        outcome.read = read
        outcome.problems.extend(read.problems)
        if parsed.get("bozo") and not is_benign(parsed.get("bozo_exception")):
            problem = f"{redact_url(outcome.url)}: malformed feed ({parsed.get('bozo_exception')})"
            if not read.entries:
                outcome.problems.append(problem + "; no entries could be read")
                return outcome  # keep the old validators so the next run reads it again
            outcome.problems.append(problem + f"; read {read.entries} entries")
        outcome.state = FeedState(
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
            seen=read.seen,
            horizon=read.horizon,
        )
        return outcome

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()
