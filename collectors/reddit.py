"""Reddit through praw: search across Reddit, plus new posts and comments in chosen subreddits.

Each stream (one search per brand query, and the new-posts and new-comments
listings of the configured subreddits) is read newest first until it reaches
the stream's watermark: the newest ``created_utc`` read and the fullnames read
near it. Search results are indexed late, so the watermark keeps an overlap
window and fullnames tell repeats apart.

Without API credentials, use the ``rss`` collector on Reddit's public RSS
search instead (``https://www.reddit.com/search.rss?q=acme&sort=new``, or
``https://www.reddit.com/r/<name>/new/.rss``); brand queries still filter it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import Any, ClassVar

import praw
import prawcore
import requests
from pydantic import Field, SecretStr

from collectors.base import Collector, CollectorContext, CollectorOptions, Cursor, FetchResult
from collectors.errors import (
    BadConfiguration,
    BadPayload,
    CollectorError,
    RateLimited,
    TemporarilyUnavailable,
)
from collectors.http import reset_time
from collectors.matching import BrandMatcher
from collectors.normalise import Watermark, canonical_url, from_epoch, json_safe, tidy_whitespace
from collectors.parts import Parts
from collectors.query import Untranslatable, to_reddit
from domain import Author, Engagement, Mention

_PRAW_ONLY = frozenset({"comment_limit", "comment_sort"})  # praw's own settings, not Reddit's data


class RedditOptions(CollectorOptions):
    """Options for the ``reddit`` collector (a 'script' or 'web' app's id and secret)."""

    client_id: SecretStr | None = Field(default=None, description="e.g. ${REDDIT_CLIENT_ID}")
    client_secret: SecretStr | None = Field(default=None, description="e.g. ${REDDIT_CLIENT_SECRET}")
    user_agent: str | None = Field(default=None, description="Reddit asks for a descriptive one.")
    search: bool = Field(default=True, description="Search all of Reddit with the brand queries.")
    subreddits: list[str] = Field(default_factory=list, description="Also read new posts here.")
    include_comments: bool = Field(default=True, description="Also read new comments in ``subreddits``.")
    oauth_url: str = "https://oauth.reddit.com"
    reddit_url: str = "https://www.reddit.com"
    max_items: int = Field(default=250, ge=1, le=1000, description="Per stream and run.")
    overlap_seconds: float = Field(default=600.0, ge=0, description="How late search results may appear.")
    first_run_hours: float = Field(default=24.0, gt=0)
    timeout_seconds: float | None = Field(default=None, gt=0)


def thing_data(thing: Any) -> dict[str, Any]:
    """The JSON fields praw parsed into a Submission or Comment, as plain JSON."""
    fields = {k: v for k, v in vars(thing).items() if not k.startswith("_") and k not in _PRAW_ONLY}
    if str(fields.get("name", "")).startswith("t1_"):
        # praw keeps a comment's replies privately; the listing carries the direct ones, if any.
        fields["reply_count"] = len(vars(thing).get("_replies") or [])
    return json_safe(fields)  # type: ignore[no-any-return]


def comment_replies(data: Mapping[str, Any]) -> int:
    """A comment's direct replies: its own count, never the thread's ``num_comments``."""
    if isinstance(data.get("reply_count"), int):
        return int(data["reply_count"])
    replies = data.get("replies")  # raw JSON: "" or a Listing of the replies
    children = replies.get("data", {}).get("children") if isinstance(replies, Mapping) else None
    return sum(1 for c in children or [] if isinstance(c, Mapping) and c.get("kind") == "t1")


def thing_to_mention(
    data: Mapping[str, Any], *, source: str, kind: str, site_url: str, matcher: BrandMatcher, now: datetime
) -> Mention | None:
    """A Mention for a submission (t3) or comment (t1) given as its JSON data, if it matches a brand."""
    try:
        fullname = str(data["name"])
        created = from_epoch(float(data["created_utc"]))
    except (KeyError, TypeError, ValueError) as error:
        raise BadPayload(f"Reddit item without name/created_utc: {error}") from error
    is_comment = fullname.startswith("t1_")
    title = None if is_comment else tidy_whitespace(str(data.get("title") or "")) or None
    body = tidy_whitespace(str(data.get("body") if is_comment else data.get("selftext") or ""))
    author = str(data.get("author") or "[deleted]")
    url = canonical_url(site_url + str(data.get("permalink") or ""))
    link = None if is_comment or data.get("is_self") else canonical_url(str(data.get("url") or ""))
    text = "\n".join(part for part in (title, body) if part)
    matched = matcher.match(text, author=author, url=url, links=[link] if link else ())
    if not matched:
        return None
    return Mention(
        source=source,
        external_id=fullname,
        text=body or (title or ""),
        title=title,
        author=Author(handle=author, display_name=author, url=f"{site_url}/user/{author}"),
        published_at=created,
        collected_at=now,
        url=url,
        language=None,
        engagement=Engagement(
            likes=max(int(data.get("score") or 0), 0),
            shares=int(data.get("num_crossposts") or 0),
            # On a comment, num_comments counts the whole thread it belongs to.
            replies=comment_replies(data) if is_comment else int(data.get("num_comments") or 0),
        ),
        brands=matched.brands,
        queries=matched.queries,
        source_kind=kind,
        raw=dict(data),
    )


class RedditCollector(Collector[RedditOptions]):
    """Collects Reddit posts and comments matching brand queries."""

    kind: ClassVar[str] = "reddit"
    options_model: ClassVar[type[CollectorOptions]] = RedditOptions

    def __init__(self, *, name: str, options: RedditOptions, context: CollectorContext) -> None:
        super().__init__(name=name, options=options, context=context)
        self._reddit: praw.Reddit | None = None
        # Our own session, so close() can release it (praw.Reddit has no close of its own).
        self._session = requests.Session()

    def _client(self) -> praw.Reddit:
        if self._reddit is None:
            options = self.options
            if not (options.client_id and options.client_secret):
                raise BadConfiguration(
                    "reddit: client_id and client_secret are required; without credentials, use the rss "
                    "collector on https://www.reddit.com/search.rss?q=<query>&sort=new"
                )
            self._reddit = praw.Reddit(
                client_id=options.client_id.get_secret_value(),
                client_secret=options.client_secret.get_secret_value(),
                user_agent=options.user_agent or self.context.user_agent,
                oauth_url=options.oauth_url.rstrip("/"),
                reddit_url=options.reddit_url.rstrip("/"),
                # praw's configuration takes whole seconds.
                timeout=math.ceil(options.timeout_seconds or self.context.timeout_seconds),
                check_for_updates=False,
                check_for_async=False,
                requestor_kwargs={"session": self._session},
            )
            self._reddit.read_only = True
        return self._reddit

    def streams(self) -> tuple[dict[str, Any], list[str]]:
        """Stream name -> praw listing factory, and the brand queries Reddit cannot search."""
        reddit = self._client()
        streams: dict[str, Any] = {}
        problems: list[str] = []
        limit = self.options.max_items
        if self.options.search:
            for parsed in self.context.matcher.parsed:
                try:
                    q = to_reddit(parsed.node)
                except Untranslatable as error:
                    problems.append(f"query {parsed.text!r} ({parsed.brand}) not searched on Reddit: {error}")
                    continue
                streams.setdefault(
                    f"search:{q}",
                    lambda q=q: reddit.subreddit("all").search(
                        q, sort="new", syntax="lucene", time_filter="week", limit=limit
                    ),
                )
        if self.options.subreddits:
            subs = "+".join(sorted({s.removeprefix("r/") for s in self.options.subreddits}))
            streams[f"new:{subs}"] = lambda: reddit.subreddit(subs).new(limit=limit)
            if self.options.include_comments:
                streams[f"comments:{subs}"] = lambda: reddit.subreddit(subs).comments(limit=limit)
        return streams, problems

    def fetch(self, cursor: Cursor | None) -> FetchResult:
        """Read every stream down to its watermark; one stream failing is isolated from the others."""
        now = self.context.now()
        saved = (cursor or {}).get("streams")
        saved = saved if isinstance(saved, Mapping) else {}
        streams, problems = self.streams()
        mentions: dict[str, Mention] = {}
        new_cursor: dict[str, Any] = {}
        secrets = [s.get_secret_value() for s in (self.options.client_id, self.options.client_secret) if s]
        parts = Parts(secrets=secrets)
        fetched = 0
        site_url = self.options.reddit_url.rstrip("/")
        first_run = (now - timedelta(hours=self.options.first_run_hours)).timestamp()
        for name, listing in streams.items():
            mark = Watermark.load(saved.get(name), overlap=self.options.overlap_seconds)
            floor = mark.since if mark.since is not None else first_run
            # Read the whole stream before using any of it, so a failure halfway leaves its mark alone.
            items = parts.run(name, partial(self._read_all, listing, floor, name))
            if items is None:
                if name in saved:
                    new_cursor[name] = saved[name]
                continue
            for data in items:
                fetched += 1
                when, fullname = float(data["created_utc"]), str(data["name"])
                if not mark.is_new(when, fullname):
                    continue
                mark.add(when, fullname)
                mention = thing_to_mention(
                    data,
                    source=self.name,
                    kind=self.kind,
                    site_url=site_url,
                    matcher=self.context.matcher,
                    now=now,
                )
                if mention is not None:
                    mentions.setdefault(mention.external_id, mention)
            new_cursor[name] = mark.dump() or saved.get(name) or {}
        parts.finish()
        return FetchResult(
            list(mentions.values()), {"streams": new_cursor}, problems, fetched, parts.failures
        )

    def _read_all(self, listing: Any, floor: float, name: str) -> list[dict[str, Any]]:
        """Every item of one stream down to ``floor``."""
        return list(self._read(listing, floor, name))

    def _read(self, listing: Any, floor: float, name: str) -> Iterator[dict[str, Any]]:
        """Items newest first, stopping at the first one older than ``floor`` (search is sorted by new)."""
        try:
            for thing in listing():
                data = thing_data(thing)
                created = data.get("created_utc")
                if not isinstance(created, int | float) or "name" not in data:
                    raise BadPayload(f"{name}: item without created_utc/name")
                if created < floor:
                    return
                yield data
        except CollectorError:
            raise
        except prawcore.TooManyRequests as error:
            until = reset_time(error.response.headers, self.context.now())
            raise RateLimited(f"{name}: Reddit rate limit reached", until=until) from error
        except prawcore.ServerError as error:
            raise TemporarilyUnavailable(
                f"{name}: Reddit answered HTTP {error.response.status_code}"
            ) from error
        except prawcore.RequestException as error:
            raise TemporarilyUnavailable(
                f"{name}: Reddit unreachable ({error.original_exception!r})"
            ) from error
        except (prawcore.OAuthException, prawcore.InvalidToken, prawcore.Forbidden) as error:
            raise BadConfiguration(f"{name}: Reddit refused the credentials: {error}") from error
        except (prawcore.NotFound, prawcore.Redirect) as error:
            raise BadConfiguration(f"{name}: no such subreddit or listing: {error}") from error
        except prawcore.BadJSON as error:
            raise BadPayload(f"{name}: Reddit answered with invalid JSON") from error
        except prawcore.ResponseException as error:
            if error.response.status_code == 401:
                raise BadConfiguration(f"{name}: Reddit refused the credentials") from error
            raise BadPayload(f"{name}: Reddit answered HTTP {error.response.status_code}") from error
        except (praw.exceptions.PRAWException, KeyError, TypeError, ValueError, AttributeError) as error:
            raise BadPayload(
                f"{name}: unreadable Reddit listing ({type(error).__name__}: {error})"
            ) from error

    def close(self) -> None:
        """Close the HTTP session."""
        self._session.close()
