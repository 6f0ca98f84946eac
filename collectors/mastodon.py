"""Mastodon through Mastodon.py: hashtag timelines and status search on configured instances.

Hashtags come from the brand queries' ``#tags`` plus any configured ones; hashtag
timelines are public unless the instance restricts them (Mastodon 4.5 can require
sign-in). Status search needs a user access token with the ``read:search`` scope
(and only finds posts that opted in to search). Each stream keeps the newest
status id read as ``since_id``. Hashtag timelines page forward from it with
``min_id``. Search cannot: it returns newest first and treats ``min_id`` as a time
filter, so it pages down with ``max_id`` until it reaches the stored id. One stream
failing (on any instance) is reported without losing the others.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests
from mastodon import (
    Mastodon,
    MastodonAPIError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
)
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from collectors.base import Collector, CollectorContext, CollectorOptions, Cursor, FetchResult
from collectors.errors import BadConfiguration, BadPayload, RateLimited, TemporarilyUnavailable
from collectors.http import reset_time
from collectors.matching import BrandMatcher
from collectors.normalise import (
    canonical_url,
    ensure_utc,
    from_epoch,
    html_to_text,
    json_safe,
    language_code,
    parse_datetime,
)
from collectors.parts import Parts, follow_pages
from collectors.query import Untranslatable, to_bluesky
from collectors.query.ast import And, Near, Node, Or, Tag
from domain import Author, Engagement, Mention


class MastodonInstance(BaseModel):
    """One instance to read, with an optional access token (needed for status search)."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)  # tokens stay out of errors

    url: str = Field(description="Base URL, e.g. https://mastodon.social")
    access_token: SecretStr | None = Field(default=None, description="e.g. ${MASTODON_TOKEN}")


class MastodonOptions(CollectorOptions):
    """Options for the ``mastodon`` collector."""

    instances: list[MastodonInstance] = Field(min_length=1)
    hashtags: list[str] = Field(default_factory=list, description="Read besides the queries' #tags.")
    search: bool = Field(default=True, description="Search statuses where a token allows it.")
    limit: int = Field(default=40, ge=1, le=40)
    max_pages: int = Field(default=5, ge=1, le=50)
    timeout_seconds: float | None = Field(default=None, gt=0)
    assumed_version: str = Field(
        default="4.2.0", description="Server version Mastodon.py plans requests for."
    )


def status_to_mention(
    status: Mapping[str, Any],
    *,
    instance_host: str,
    source: str,
    kind: str,
    matcher: BrandMatcher,
    now: datetime,
) -> Mention | None:
    """A Mention for one Mastodon status (as a JSON-like mapping) if it matches a brand."""
    try:
        uri = str(status["uri"])
        account = status["account"]
        content = str(status.get("content") or "")
    except (KeyError, TypeError) as error:
        raise BadPayload(f"status without uri/account: {error}") from error
    if not isinstance(account, Mapping):  # Mastodon.py fills absent fields with None
        raise BadPayload(f"status without uri/account: {uri}")
    acct = str(account.get("acct") or account.get("username") or "")
    handle = acct if "@" in acct else f"{acct}@{instance_host}"
    text = html_to_text(content)
    warning = html_to_text(str(status.get("spoiler_text") or "")) or None
    language = language_code(status.get("language"))
    url = canonical_url(status.get("url") or uri)
    card = status.get("card") or {}
    links = [str(card["url"])] if isinstance(card, Mapping) and card.get("url") else []
    matched = matcher.match(
        "\n".join(p for p in (warning, text) if p), language=language, author=handle, url=url, links=links
    )
    if not matched:
        return None
    followers = account.get("followers_count")
    return Mention(
        source=source,
        external_id=uri,
        text=text,
        title=warning,
        author=Author(
            handle=handle,
            display_name=str(account.get("display_name") or acct),
            followers=followers if isinstance(followers, int) else None,
            url=canonical_url(account.get("url")),
        ),
        published_at=_when(status.get("created_at"), now),
        collected_at=now,
        url=url,
        language=language,
        engagement=Engagement(
            likes=int(status.get("favourites_count") or 0),
            shares=int(status.get("reblogs_count") or 0),
            replies=int(status.get("replies_count") or 0),
        ),
        brands=matched.brands,
        queries=matched.queries,
        source_kind=kind,
        raw=json_safe(dict(status)),
    )


def _when(value: Any, now: datetime) -> datetime:
    if isinstance(value, datetime):
        return ensure_utc(value)
    if isinstance(value, int | float):
        return from_epoch(value)
    return (parse_datetime(str(value)) if value else None) or now


def _id(status: Mapping[str, Any]) -> int:
    try:
        return int(status["id"])
    except (KeyError, TypeError, ValueError):
        return 0


@dataclass(frozen=True)
class Stream:
    """One hashtag timeline or status search on one instance: ``call(**paging)`` returns statuses."""

    base: str
    kind: str  # "tag" or "search"
    call: Callable[..., Any]


Statuses = list[Mapping[str, Any]]


class MastodonCollector(Collector[MastodonOptions]):
    """Collects Mastodon statuses matching brand queries from hashtag timelines and search."""

    kind: ClassVar[str] = "mastodon"
    options_model: ClassVar[type[CollectorOptions]] = MastodonOptions

    def __init__(self, *, name: str, options: MastodonOptions, context: CollectorContext) -> None:
        super().__init__(name=name, options=options, context=context)
        self._session = requests.Session()
        # Mastodon.py's 'throw' mode drops the reset time, so keep the last response's headers ourselves.
        self._last_headers: Mapping[str, str] = {}
        self._session.hooks["response"].append(self._remember)
        self._apis = {
            instance.url.rstrip("/"): Mastodon(
                api_base_url=instance.url.rstrip("/"),
                access_token=instance.access_token.get_secret_value() if instance.access_token else None,
                ratelimit_method="throw",  # the scheduler waits, not this thread
                request_timeout=options.timeout_seconds or context.timeout_seconds,
                # Stated up front: otherwise Mastodon.py probes /api/v1/instance before searching,
                # and recurses without end when that probe fails. "created" (not "none") so the
                # stated version counts: paging search with max_id needs 2.8.0 in Mastodon.py's eyes.
                version_check_mode="created",
                mastodon_version=options.assumed_version,
                session=self._session,
                user_agent=context.user_agent,
            )
            for instance in options.instances
        }
        self._tokens = {
            i.url.rstrip("/"): i.access_token.get_secret_value() if i.access_token else ""
            for i in options.instances
        }

    def streams(self, base: str) -> tuple[dict[str, Stream], list[str]]:
        """Stream key -> stream for one instance, and the queries it cannot search."""
        api = self._apis[base]
        tags = {t.lower().lstrip("#") for t in self.options.hashtags}
        searches: dict[str, str] = {}
        problems: list[str] = []
        for parsed in self.context.matcher.parsed:
            tags |= {node.name for node in _tags(parsed.node)}
            if not (self.options.search and self._tokens[base]):
                continue
            try:
                for conj in to_bluesky(parsed.node):
                    words = [
                        conj.query(),
                        *(f"#{t}" for t in conj.tags),
                        *(f"from:{a}" for a in conj.authors),
                    ]
                    words += [f"language:{conj.lang}"] if conj.lang else []
                    q = " ".join(w for w in words if w)
                    if q:
                        searches.setdefault(q, "")
                    else:  # a mention alone: Mastodon's status search has nothing to search for
                        problems.append(
                            f"query {parsed.text!r} ({parsed.brand}) not searched on {base}: no words"
                        )
            except Untranslatable as error:
                problems.append(f"query {parsed.text!r} ({parsed.brand}) not searched on {base}: {error}")
        streams: dict[str, Stream] = {}
        for tag in sorted(tags):
            streams[f"{base} #{tag}"] = Stream(base, "tag", partial(api.timeline_hashtag, tag))
        for q in searches:
            streams[f"{base} search {q}"] = Stream(base, "search", partial(_search, api, q))
        return streams, problems

    def fetch(self, cursor: Cursor | None) -> FetchResult:
        """Read every stream on every instance from its ``since_id``; one stream failing is isolated."""
        now = self.context.now()
        saved = (cursor or {}).get("streams")
        saved = saved if isinstance(saved, Mapping) else {}
        mentions: dict[str, Mention] = {}
        new_cursor: dict[str, Any] = {}
        problems: list[str] = []
        parts = Parts(secrets=self._tokens.values())
        fetched = 0
        for base in self._apis:
            host = urlsplit(base).hostname or base
            streams, stream_problems = self.streams(base)
            problems += stream_problems
            for key, stream in streams.items():
                entry = saved.get(key)
                since = _id({"id": entry.get("since_id")}) if isinstance(entry, Mapping) else 0
                read = parts.run(key, partial(self._read, stream, since or None))
                if read is None:
                    if key in saved:
                        new_cursor[key] = saved[key]  # a failed stream keeps its place
                    continue
                statuses, truncated = read
                if truncated:
                    problems.append(
                        f"{key}: more than {self.options.max_pages} pages of new posts; older ones skipped"
                    )
                fetched += len(statuses)
                newest = max([_id(s) for s in statuses] + [since])
                new_cursor[key] = {"since_id": str(newest)} if newest else {}
                for status in statuses:
                    if status.get("reblog"):
                        continue  # a boost repeats another status; that one is collected on its own
                    try:
                        mention = status_to_mention(
                            status,
                            instance_host=host,
                            source=self.name,
                            kind=self.kind,
                            matcher=self.context.matcher,
                            now=now,
                        )
                    except BadPayload as error:
                        problems.append(f"{key}: {error}")
                        continue
                    if mention is not None:
                        mentions.setdefault(mention.external_id, mention)
        parts.finish()
        return FetchResult(
            list(mentions.values()), {"streams": new_cursor}, problems, fetched, parts.failures
        )

    def _read(self, stream: Stream, since: int | None) -> tuple[Statuses, bool]:
        """New statuses of one stream, and whether ``max_pages`` left some unread.

        A first run reads only the newest page. Timelines then page forward from ``since``
        with ``min_id``; search pages down with ``max_id`` until it reaches ``since``.
        """
        limit = self.options.limit
        pages = self.options.max_pages if since else 1

        def forward(min_id: str | None) -> tuple[Statuses, str | None]:
            page = self._statuses(stream, min_id=min_id or (str(since) if since else None), limit=limit)
            more = since is not None and len(page) >= limit
            return page, str(max(_id(s) for s in page)) if more and page else None

        def downward(max_id: str | None) -> tuple[Statuses, str | None]:
            page = self._statuses(stream, max_id=max_id, limit=limit)
            if since is None:
                return page, None
            newer = [s for s in page if _id(s) > since]
            reached = len(newer) < len(page) or len(page) < limit
            return newer, None if reached or not page else str(min(_id(s) for s in page))

        return follow_pages(downward if stream.kind == "search" else forward, pages)

    def _statuses(self, stream: Stream, **paging: Any) -> Statuses:
        page = self._call(stream, **paging)
        # Mastodon.py coerces whatever JSON arrived; anything but status objects is a bad answer.
        if not isinstance(page, Sequence) or not all(isinstance(s, Mapping) and "uri" in s for s in page):
            raise BadPayload(f"{stream.base}: expected a list of statuses")
        return list(page)

    def _call(self, stream: Stream, **kwargs: Any) -> Any:
        base = stream.base
        try:
            return stream.call(**kwargs)
        except MastodonRatelimitError as error:
            until = reset_time(self._last_headers, self.context.now())
            raise RateLimited(f"{base}: rate limited", until=until) from error
        except MastodonNetworkError as error:
            raise TemporarilyUnavailable(f"{base}: unreachable ({error})") from error
        except MastodonServerError as error:
            raise TemporarilyUnavailable(f"{base}: server error ({error})") from error
        except (MastodonUnauthorizedError, MastodonNotFoundError, MastodonAPIError) as error:
            status = error.args[1] if len(error.args) > 1 and isinstance(error.args[1], int) else 0
            if "JSON" in str(error) and not status:
                raise BadPayload(f"{base}: unreadable answer") from error
            raise BadConfiguration(_refusal(stream, status, error)) from error

    def _remember(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._last_headers = response.headers

    def close(self) -> None:
        """Close the HTTP session shared by every instance."""
        self._session.close()


def _search(api: Mastodon, q: str, **paging: Any) -> Any:
    return api.search_v2(q, result_type="statuses", resolve=False, **paging).statuses


def _refusal(stream: Stream, status: int, error: Exception) -> str:
    """A configuration error message that says what to fix."""
    if stream.kind == "search" and status in {401, 403}:
        return (
            f"{stream.base}: status search refused (HTTP {status}); it needs a user access token "
            f"with the read:search scope ({error})"
        )
    if stream.kind == "tag" and status in {401, 422}:
        return (
            f"{stream.base}: this instance requires sign-in for hashtag timelines (HTTP {status}); "
            f"set an access_token with the read:statuses scope ({error})"
        )
    return f"{stream.base}: refused ({error})"


def _tags(node: Node) -> list[Tag]:
    """The #tags a query looks for (those under NOT are excluded, not looked for)."""
    if isinstance(node, Tag):
        return [node]
    if isinstance(node, And | Or):
        return [tag for child in node.children for tag in _tags(child)]
    if isinstance(node, Near):
        return _tags(node.left) + _tags(node.right)
    return []
