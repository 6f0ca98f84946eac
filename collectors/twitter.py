"""X (Twitter) recent search through tweepy's v2 Client.

Brand queries are translated to X's search syntax and packed into as few
searches as the query-length limit allows. Tweet ids grow with time, so the
cursor is one ``since_id``: the newest tweet read by any search. Rate limits
are ours to handle (``wait_on_rate_limit=False``): a 429 becomes RateLimited
with the ``x-rate-limit-reset`` time, so the scheduler waits instead of a thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, ClassVar

import requests
import tweepy
from pydantic import Field, SecretStr
from requests.adapters import HTTPAdapter

from collectors.base import Collector, CollectorContext, CollectorOptions, Cursor, FetchResult
from collectors.errors import BadConfiguration, BadPayload, RateLimited, TemporarilyUnavailable
from collectors.http import reset_time
from collectors.matching import BrandMatcher
from collectors.normalise import canonical_url, json_safe, language_code, parse_datetime
from collectors.parts import Parts, follow_pages
from collectors.query import Untranslatable, to_x
from collectors.query.languages import from_x_language
from domain import Author, Engagement, Mention

_X_EPOCH_MS = 1288834974657  # snowflake ids count milliseconds from here
# Recent search covers seven days; the edge is kept a few minutes inside so clock skew is no 400.
WINDOW = timedelta(days=7) - timedelta(minutes=5)
API_HOST = "https://api.twitter.com"  # what tweepy calls; requests to it are re-pointed at ``base_url``
TWEET_FIELDS = [
    "created_at",
    "lang",
    "public_metrics",
    "author_id",
    "entities",
    "note_tweet",
    "conversation_id",
]
USER_FIELDS = ["username", "name", "public_metrics", "verified"]


class TwitterOptions(CollectorOptions):
    """Options for the ``twitter`` collector."""

    bearer_token: SecretStr | None = Field(
        default=None, description="App-only bearer token, e.g. ${X_BEARER_TOKEN}."
    )
    base_url: str = API_HOST
    site_url: str = "https://x.com"
    max_results: int = Field(default=100, ge=10, le=100)
    max_pages: int = Field(default=5, ge=1, le=100)
    max_query_length: int = Field(default=512, ge=64, le=4096)
    include_retweets: bool = False
    timeout_seconds: float | None = Field(default=None, gt=0)


class _Redirect(HTTPAdapter):
    """Sends tweepy's requests to ``base_url`` (tests, proxies) with a timeout tweepy never sets."""

    def __init__(self, base_url: str, timeout: float) -> None:
        super().__init__(max_retries=0)
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if request.url and request.url.startswith(API_HOST):
            request.url = self.base_url + request.url[len(API_HOST) :]
        kwargs["timeout"] = kwargs.get("timeout") or self.timeout
        return super().send(request, **kwargs)


def pack_searches(queries: list[str], max_length: int, suffix: str) -> list[str]:
    """OR translated queries together into searches no longer than ``max_length``.

    The OR chain is parenthesised before ``suffix`` is appended: X binds a trailing
    ``-is:retweet`` to the last OR'ed group only.
    """
    searches: list[str] = []
    current: list[str] = []
    for query in dict.fromkeys(queries):
        if current and len(_packed([*current, query], suffix)) > max_length:
            searches.append(_packed(current, suffix))
            current = [query]
        else:
            current.append(query)
    if current:
        searches.append(_packed(current, suffix))
    return searches


def _packed(queries: list[str], suffix: str) -> str:
    chain = " OR ".join(f"({q})" for q in queries)
    return f"({chain}){suffix}" if len(queries) > 1 and suffix else chain + suffix


def snowflake_time(post_id: int) -> datetime:
    """When X created the post with this (snowflake) id."""
    return datetime.fromtimestamp(((post_id >> 22) + _X_EPOCH_MS) / 1000, UTC)


def tweet_to_mention(
    tweet: Mapping[str, Any],
    users: Mapping[str, Mapping[str, Any]],
    *,
    source: str,
    kind: str,
    site_url: str,
    matcher: BrandMatcher,
    now: datetime,
) -> Mention | None:
    """A Mention for one v2 tweet object if it matches a brand; BadPayload if it is not a tweet."""
    try:
        tweet_id = str(tweet["id"])
        # X's docs name the long-post field note_tweet in some places and note_post in others.
        note = tweet.get("note_tweet") or tweet.get("note_post") or {}
        text = str((note.get("text") if isinstance(note, Mapping) else None) or tweet["text"])
    except (KeyError, TypeError, AttributeError) as error:
        raise BadPayload(f"tweet without id/text: {error}") from error
    user = users.get(str(tweet.get("author_id"))) or {}
    username = str(user.get("username") or tweet.get("author_id") or "")
    lang = tweet.get("lang")
    language = language_code(from_x_language(lang) if isinstance(lang, str) else None)
    links = [
        str(u.get("expanded_url"))
        for u in (tweet.get("entities") or {}).get("urls") or []
        if u.get("expanded_url")
    ]
    url = f"{site_url}/{username or 'i'}/status/{tweet_id}"
    matched = matcher.match(text, language=language, author=username, url=url, links=links)
    if not matched:
        return None
    metrics = tweet.get("public_metrics") or {}
    followers = (user.get("public_metrics") or {}).get("followers_count")
    return Mention(
        source=source,
        external_id=tweet_id,
        text=text,
        author=Author(
            handle=username,
            display_name=str(user.get("name") or username),
            followers=followers if isinstance(followers, int) else None,
            url=f"{site_url}/{username}" if username else None,
        ),
        published_at=parse_datetime(tweet.get("created_at")) or now,
        collected_at=now,
        url=canonical_url(url),
        language=language,
        engagement=Engagement(
            likes=int(metrics.get("like_count") or 0),
            shares=int(metrics.get("retweet_count") or metrics.get("repost_count") or 0)
            + int(metrics.get("quote_count") or 0),
            replies=int(metrics.get("reply_count") or 0),
            views=metrics.get("impression_count")
            if isinstance(metrics.get("impression_count"), int)
            else None,
        ),
        brands=matched.brands,
        queries=matched.queries,
        source_kind=kind,
        raw=json_safe(dict(tweet)),
    )


class TwitterCollector(Collector[TwitterOptions]):
    """Collects tweets matching brand queries from X's recent search (last seven days)."""

    kind: ClassVar[str] = "twitter"
    options_model: ClassVar[type[CollectorOptions]] = TwitterOptions

    def __init__(self, *, name: str, options: TwitterOptions, context: CollectorContext) -> None:
        super().__init__(name=name, options=options, context=context)
        token = options.bearer_token.get_secret_value() if options.bearer_token else ""
        self._client = tweepy.Client(bearer_token=token, return_type=dict, wait_on_rate_limit=False)
        self._client.user_agent = context.user_agent
        timeout = options.timeout_seconds or context.timeout_seconds
        self._client.session.mount(API_HOST, _Redirect(options.base_url, timeout))

    def searches(self) -> tuple[list[str], list[str]]:
        """The packed X searches for every brand query, and the queries X cannot search."""
        translated: list[str] = []
        problems: list[str] = []
        suffix = "" if self.options.include_retweets else " -is:retweet"
        limit = self.options.max_query_length - len(suffix) - 2
        for parsed in self.context.matcher.parsed:
            try:
                translated.append(to_x(parsed.node, max_length=limit))
            except Untranslatable as error:
                problems.append(f"query {parsed.text!r} ({parsed.brand}) not searched on X: {error}")
        return pack_searches(translated, self.options.max_query_length, suffix), problems

    def fetch(self, cursor: Cursor | None) -> FetchResult:
        """Run every search from its own cursor, following ``next_token``; one failing search is isolated."""
        token = self.options.bearer_token.get_secret_value() if self.options.bearer_token else ""
        if not token:
            raise BadConfiguration("twitter: bearer_token is required (for example ${X_BEARER_TOKEN})")
        now = self.context.now()
        saved = (cursor or {}).get("searches")
        saved = saved if isinstance(saved, Mapping) else {}
        legacy = _digits((cursor or {}).get("since_id"))  # cursors stored before per-search cursors
        searches, problems = self.searches()
        parts = Parts(secrets=[token])
        mentions: dict[str, Mention] = {}
        new_cursor: dict[str, Any] = {}
        fetched = 0
        for search in searches:
            entry = saved.get(search)
            start = _SearchStart.load(entry if isinstance(entry, Mapping) else {"since_id": legacy})
            read = parts.run(search, partial(self._search, search, start, now, parts))
            if read is None:
                new_cursor[search] = start.dump()  # a failed search keeps its cursor
                continue
            tweets, users, truncated, start = read
            fetched += len(tweets)
            if truncated:
                problems.append(
                    f"search {search!r}: more than {self.options.max_pages} pages; older posts skipped"
                )
            newest = int(start.since_id or 0)
            for tweet in tweets:
                try:
                    mention = tweet_to_mention(
                        tweet,
                        users,
                        source=self.name,
                        kind=self.kind,
                        site_url=self.options.site_url.rstrip("/"),
                        matcher=self.context.matcher,
                        now=now,
                    )
                except BadPayload as error:
                    problems.append(f"search {search!r}: {error}")
                    continue
                newest = max(newest, int(tweet["id"]) if str(tweet["id"]).isdigit() else 0)
                if mention is not None:
                    mentions.setdefault(mention.external_id, mention)
            if newest:
                new_cursor[search] = {"since_id": str(newest)}
            elif start.start_time is not None:
                # Nothing new after a fallback: remember how far we looked, not the stale id again.
                new_cursor[search] = {"start_time": _x_time(now)}
            else:
                new_cursor[search] = {}
        parts.finish()
        return FetchResult(
            list(mentions.values()), {"searches": new_cursor}, problems, fetched, parts.failures
        )

    def _search(
        self, search: str, start: _SearchStart, now: datetime, parts: Parts
    ) -> tuple[list[Mapping[str, Any]], dict[str, Mapping[str, Any]], bool, _SearchStart]:
        """Every page of one search from ``start`` (or the window's edge when needed), and the start used."""
        edge = now - WINDOW
        since = start.since_time()
        if since is not None and since < edge:
            parts.note(search, _gap(start, since, edge, "it is older than X's 7-day recent-search window"))
            start = _SearchStart(start_time=edge)
        try:
            return (*self._pages(search, start, now), start)
        except _SinceIdRefused as refused:
            parts.note(search, _gap(start, since or edge, edge, f"X refused it ({refused})"))
            start = _SearchStart(start_time=edge)
            return (*self._pages(search, start, now), start)

    def _pages(
        self, search: str, start: _SearchStart, now: datetime
    ) -> tuple[list[Mapping[str, Any]], dict[str, Mapping[str, Any]], bool]:
        users: dict[str, Mapping[str, Any]] = {}

        def page(token: str | None) -> tuple[list[Mapping[str, Any]], str | None]:
            tweets, page_users, meta = _unpack(self._page(search, start, token, now))
            users.update(page_users)
            next_token = meta.get("next_token")
            return tweets, str(next_token) if next_token else None

        tweets, truncated = follow_pages(page, self.options.max_pages)
        return tweets, users, truncated

    def _page(self, query: str, start: _SearchStart, token: str | None, now: datetime) -> Any:
        try:
            return self._client.search_recent_tweets(
                query,
                since_id=start.since_id,
                start_time=_x_time(start.start_time) if start.start_time else None,
                next_token=token,
                max_results=self.options.max_results,
                expansions=["author_id"],
                tweet_fields=TWEET_FIELDS,
                user_fields=USER_FIELDS,
            )
        except tweepy.TooManyRequests as error:
            raise RateLimited(
                "X rate limit reached", until=reset_time(error.response.headers, now)
            ) from error
        except tweepy.TwitterServerError as error:
            raise TemporarilyUnavailable(f"X answered HTTP {error.response.status_code}") from error
        except (tweepy.Unauthorized, tweepy.Forbidden) as error:
            raise BadConfiguration(f"X refused the bearer token: {error}") from error
        except tweepy.BadRequest as error:
            if start.since_id and "since_id" in str(error):
                raise _SinceIdRefused(" ".join(error.api_messages) or str(error)) from error
            raise BadConfiguration(f"X refused the search {query!r}: {error}") from error
        except tweepy.HTTPException as error:
            raise BadPayload(f"X answered HTTP {error.response.status_code}: {error}") from error
        except (requests.Timeout, requests.ConnectionError) as error:
            raise TemporarilyUnavailable(f"X unreachable: {type(error).__name__}") from error
        except ValueError as error:  # requests' JSONDecodeError
            raise BadPayload(f"X answered with invalid JSON: {error}") from error

    def close(self) -> None:
        """Close the HTTP session."""
        self._client.session.close()


class _SinceIdRefused(Exception):
    """X answered 400 about ``since_id`` (too old, or unknown): read from the window's edge instead."""


@dataclass(frozen=True)
class _SearchStart:
    """Where one search starts: after a post id, or (after a fallback) from a time."""

    since_id: str | None = None
    start_time: datetime | None = None

    @classmethod
    def load(cls, entry: Mapping[str, Any]) -> _SearchStart:
        """Read a stored cursor entry; anything unreadable means 'from the start'."""
        since_id = _digits(entry.get("since_id"))
        if since_id:
            return cls(since_id=since_id)
        start = parse_datetime(entry.get("start_time")) if isinstance(entry.get("start_time"), str) else None
        return cls(start_time=start)

    def since_time(self) -> datetime | None:
        """When the newest post already read was created, or the stored start time."""
        return snowflake_time(int(self.since_id)) if self.since_id else self.start_time

    def dump(self) -> dict[str, str]:
        """The cursor entry for this start."""
        if self.since_id:
            return {"since_id": self.since_id}
        return {"start_time": _x_time(self.start_time)} if self.start_time else {}


def _digits(value: Any) -> str | None:
    return str(value) if isinstance(value, str | int) and str(value).isdigit() else None


def _x_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # X's RFC 3339 form, seconds only


def _gap(start: _SearchStart, since: datetime, edge: datetime, why: str) -> str:
    what = f"since_id {start.since_id}" if start.since_id else f"start_time {_x_time(since)}"
    missing = f"posts from {_x_time(since)} until then are missing"
    return f"{what} not usable: {why}; read from {_x_time(edge)}, {missing}"


def _unpack(body: Any) -> tuple[list[Any], dict[str, Mapping[str, Any]], Mapping[str, Any]]:
    if not isinstance(body, Mapping):
        raise BadPayload("X answer is not a JSON object")
    tweets = body.get("data") or []
    includes = body.get("includes") or {}
    meta = body.get("meta") or {}
    if not isinstance(tweets, list) or not isinstance(includes, Mapping) or not isinstance(meta, Mapping):
        raise BadPayload("X answer has malformed data/includes/meta")
    users = {str(u.get("id")): u for u in includes.get("users") or [] if isinstance(u, Mapping)}
    return [t for t in tweets if isinstance(t, Mapping)], users, meta
