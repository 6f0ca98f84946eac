"""Bluesky through the atproto SDK: polls ``app.bsky.feed.searchPosts`` (sort=latest).

Post search needs sign-in (the public AppView stopped serving it anonymously in
January 2025). The collector signs in at the account's PDS (``base_url``,
``https://bsky.social`` for most accounts) with an app password, and reads
``app.bsky.*`` through it: the PDS proxies those calls to the AppView. The
SDK refreshes the session before it expires; a session the server calls
expired anyway is replaced by signing in again, once.

Each brand query becomes one or more searches (``q`` plus the author,
mentions, tag, lang and domain filters the lexicon offers). Each search keeps
a watermark on ``indexedAt`` with the post URIs read near it, sent back as
``since`` minus an overlap, because posts can be indexed slightly out of order.
Search results carry no follower counts, so authors are looked up in batches
with ``app.bsky.actor.getProfiles`` unless ``fetch_followers`` is off.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import Any, ClassVar

from atproto import Client
from atproto_client import exceptions as at_errors
from atproto_client.client.base import is_method_not_served
from atproto_client.models.common import XrpcError
from atproto_client.request import Request
from pydantic import Field, SecretStr, ValidationError

from collectors.base import Collector, CollectorContext, CollectorOptions, Cursor, FetchResult
from collectors.errors import BadConfiguration, BadPayload, RateLimited, TemporarilyUnavailable
from collectors.http import reset_time
from collectors.matching import BrandMatcher
from collectors.normalise import Watermark, canonical_url, from_epoch, language_code, parse_datetime
from collectors.parts import Parts, follow_pages
from collectors.query import Conjunct, Untranslatable, to_bluesky
from domain import Author, Engagement, Mention

_PROFILE_BATCH = 25  # getProfiles' limit


class BlueskyOptions(CollectorOptions):
    """Options for the ``bluesky`` collector."""

    base_url: str = Field(
        default="https://bsky.social", description="Your PDS: sign-in happens here, and reads go through it."
    )
    appview_url: str | None = Field(
        default=None,
        description="AppView for reads that still work without sign-in (profiles), "
        "e.g. https://public.api.bsky.app; unset: everything goes through base_url.",
    )
    identifier: str | None = Field(
        default=None, description="Handle or DID to sign in with (required), e.g. ${BLUESKY_IDENTIFIER}"
    )
    app_password: SecretStr | None = Field(default=None, description="e.g. ${BLUESKY_APP_PASSWORD}")
    site_url: str = "https://bsky.app"
    limit: int = Field(default=100, ge=1, le=100)
    max_pages: int = Field(default=5, ge=1, le=50)
    overlap_seconds: float = Field(default=120.0, ge=0)
    first_run_hours: float = Field(default=24.0, gt=0)
    fetch_followers: bool = True
    timeout_seconds: float | None = Field(default=None, gt=0)


def search_params(conj: Conjunct, limit: int, since: datetime, cursor: str | None) -> dict[str, Any]:
    """searchPosts parameters for one page of one search; ``q`` is never empty."""
    # Without words, the query's tags or mention stand in for them: an empty q is a 400.
    q = (
        conj.query()
        or " ".join(f"#{t}" for t in conj.tags)
        or " ".join(f"mentions:{m}" for m in conj.mentions)
    )
    params: dict[str, Any] = {"q": q, "sort": "latest"}
    params |= {"limit": limit, "since": since.isoformat().replace("+00:00", "Z")}
    if conj.authors:
        params["author"] = conj.authors[0]
    if conj.mentions:
        params["mentions"] = conj.mentions[0]
    if conj.tags:
        params["tag"] = conj.tags
    if conj.lang:
        params["lang"] = conj.lang.split("-")[0]
    if conj.domain:
        params["domain"] = conj.domain
    if cursor:
        params["cursor"] = cursor
    return params


def _links(post: Mapping[str, Any]) -> list[str]:
    record = post.get("record") or {}
    links = [
        str(feature.get("uri"))
        for facet in record.get("facets") or []
        for feature in facet.get("features") or []
        if isinstance(feature, Mapping) and feature.get("uri")
    ]
    for embed in (record.get("embed"), post.get("embed")):
        external = (embed or {}).get("external") if isinstance(embed, Mapping) else None
        if isinstance(external, Mapping) and external.get("uri"):
            links.append(str(external["uri"]))
    return links


def post_to_mention(
    post: Mapping[str, Any],
    followers: Mapping[str, int],
    *,
    source: str,
    kind: str,
    site_url: str,
    matcher: BrandMatcher,
    now: datetime,
) -> Mention | None:
    """A Mention for one postView (wire JSON) if it matches a brand; BadPayload if it is not a post."""
    try:
        uri = str(post["uri"])
        author = post["author"]
        handle = str(author["handle"])
        record = post.get("record") or {}
        text = str(record.get("text") or "")
    except (KeyError, TypeError, AttributeError) as error:
        raise BadPayload(f"postView without uri/author/handle: {error}") from error
    langs = record.get("langs") or []
    language = language_code(langs[0]) if langs else None
    url = f"{site_url}/profile/{handle}/post/{uri.rsplit('/', 1)[-1]}"
    matched = matcher.match(text, language=language, author=handle, url=url, links=_links(post))
    if not matched:
        return None
    published = parse_datetime(record.get("createdAt")) or parse_datetime(post.get("indexedAt")) or now
    return Mention(
        source=source,
        external_id=uri,
        text=text,
        author=Author(
            handle=handle,
            display_name=str(author.get("displayName") or handle),
            followers=followers.get(str(author.get("did"))),
            url=f"{site_url}/profile/{handle}",
        ),
        published_at=published,
        collected_at=now,
        url=canonical_url(url),
        language=language,
        engagement=Engagement(
            likes=int(post.get("likeCount") or 0),
            shares=int(post.get("repostCount") or 0) + int(post.get("quoteCount") or 0),
            replies=int(post.get("replyCount") or 0),
        ),
        brands=matched.brands,
        queries=matched.queries,
        source_kind=kind,
        raw=dict(post),
    )


class BlueskyCollector(Collector[BlueskyOptions]):
    """Collects Bluesky posts matching brand queries by polling post search."""

    kind: ClassVar[str] = "bluesky"
    options_model: ClassVar[type[CollectorOptions]] = BlueskyOptions

    def __init__(self, *, name: str, options: BlueskyOptions, context: CollectorContext) -> None:
        super().__init__(name=name, options=options, context=context)
        timeout = options.timeout_seconds or context.timeout_seconds
        self._client = Client(base_url=options.base_url, request=Request(timeout=timeout))
        self._client.request.add_additional_header("User-Agent", context.user_agent)
        self._appview: Client | None = None
        if options.appview_url:
            self._appview = Client(base_url=options.appview_url, request=Request(timeout=timeout))
            self._appview.request.add_additional_header("User-Agent", context.user_agent)
        self._logged_in = False

    def searches(self) -> tuple[list[Conjunct], list[str]]:
        """The searches covering every brand query, and the queries Bluesky cannot search."""
        found: dict[str, Conjunct] = {}
        problems: list[str] = []
        for parsed in self.context.matcher.parsed:
            try:
                for conj in to_bluesky(parsed.node):
                    found.setdefault(conj.key(), conj)
            except Untranslatable as error:
                problems.append(f"query {parsed.text!r} ({parsed.brand}) not searched on Bluesky: {error}")
        return list(found.values()), problems

    def fetch(self, cursor: Cursor | None) -> FetchResult:
        """Poll every search down to its watermark, then look up follower counts for new authors."""
        now = self.context.now()
        self._login(now)
        saved = (cursor or {}).get("searches")
        saved = saved if isinstance(saved, Mapping) else {}
        conjuncts, problems = self.searches()
        posts: dict[str, dict[str, Any]] = {}
        new_cursor: dict[str, Any] = {}
        parts = Parts(secrets=[self._password()])
        fetched = 0
        for conj in conjuncts:
            key = conj.key()
            mark = Watermark.load(saved.get(key), overlap=self.options.overlap_seconds)
            first = (now - timedelta(hours=self.options.first_run_hours)).timestamp()
            since = from_epoch(mark.since if mark.since is not None else first)

            def page(token: str | None, conj: Conjunct = conj, since: datetime = since) -> Any:
                return self._page(search_params(conj, self.options.limit, since, token), now)

            read = parts.run(key, partial(follow_pages, page, self.options.max_pages))
            if read is None:
                if key in saved:
                    new_cursor[key] = saved[key]  # a failed search keeps its watermark
                continue
            batch, truncated = read
            if truncated:
                problems.append(
                    f"search {key!r}: more than {self.options.max_pages} pages; older posts skipped"
                )
            fetched += len(batch)
            for post in batch:
                indexed = parse_datetime(post.get("indexedAt"))
                uri = post.get("uri")
                if indexed is None or not uri:
                    problems.append(f"search {key!r}: post without uri/indexedAt skipped")
                    continue
                if mark.is_new(indexed.timestamp(), str(uri)):
                    mark.add(indexed.timestamp(), str(uri))
                    posts.setdefault(str(uri), post)
            new_cursor[key] = mark.dump() or saved.get(key) or {}
        parts.finish()
        followers = self._followers(posts.values(), problems, now) if self.options.fetch_followers else {}
        mentions = []
        for post in posts.values():
            try:
                mention = post_to_mention(
                    post,
                    followers,
                    source=self.name,
                    kind=self.kind,
                    site_url=self.options.site_url.rstrip("/"),
                    matcher=self.context.matcher,
                    now=now,
                )
            except BadPayload as error:
                problems.append(str(error))
                continue
            if mention is not None:
                mentions.append(mention)
        return FetchResult(mentions, {"searches": new_cursor}, problems, fetched, parts.failures)

    def _password(self) -> str:
        return self.options.app_password.get_secret_value() if self.options.app_password else ""

    def _login(self, now: datetime, *, again: bool = False) -> None:
        if self._logged_in and not again:
            return
        if not self.options.identifier:
            raise BadConfiguration(
                "bluesky: sign-in is required for post search; set identifier and app_password "
                "(for example ${BLUESKY_IDENTIFIER} and ${BLUESKY_APP_PASSWORD}) and base_url to your PDS"
            )
        password = self._password()
        if not password:
            raise BadConfiguration("bluesky: identifier is set but app_password is missing")
        identifier = self.options.identifier
        # No profile lookup: it is one more request, and the collector has no use for it.
        self._call(lambda: self._client.login(identifier, password, fetch_bsky_profile=False), now)
        self._logged_in = True

    def _signed_in(self, call: Any, now: datetime) -> Any:
        """``call`` through the signed-in client; a session the server says expired is renewed once."""
        try:
            return self._call(call, now)
        except _SessionExpired:
            self._login(now, again=True)
            return self._call(call, now)

    def _page(self, params: dict[str, Any], now: datetime) -> tuple[list[dict[str, Any]], str | None]:
        response = self._signed_in(lambda: self._client.app.bsky.feed.search_posts(params), now)
        posts = [post.model_dump(mode="json", by_alias=True, exclude_none=True) for post in response.posts]
        return posts, response.cursor

    def _followers(
        self, posts: Iterable[Mapping[str, Any]], problems: list[str], now: datetime
    ) -> dict[str, int]:
        dids = sorted({str(p["author"]["did"]) for p in posts if isinstance(p.get("author"), Mapping)})
        counts: dict[str, int] = {}
        for start in range(0, len(dids), _PROFILE_BATCH):
            batch = dids[start : start + _PROFILE_BATCH]
            try:
                if self._appview is not None:
                    response = self._call(partial(self._appview.get_profiles, batch), now)
                else:
                    response = self._signed_in(lambda batch=batch: self._client.get_profiles(batch), now)
            except (TemporarilyUnavailable, BadPayload, RateLimited, BadConfiguration) as error:
                problems.append(f"follower counts unavailable: {error}")  # posts are still worth keeping
                break
            counts |= {p.did: p.followers_count for p in response.profiles if p.followers_count is not None}
        return counts

    def _call(self, call: Any, now: datetime) -> Any:
        try:
            return call()
        except at_errors.RateLimitExceededError as error:
            headers = error.response.headers if error.response else {}
            raise RateLimited("Bluesky rate limit reached", until=reset_time(headers, now)) from error
        except at_errors.RequestErrorBase as error:
            if _xrpc_error(error) == "ExpiredToken":
                raise _SessionExpired(str(error)) from error
            if is_method_not_served(error):
                # An AppView answers com.atproto.server.* with 501; retrying will never help.
                raise BadConfiguration(
                    f"{self.options.base_url} does not serve this method ({_describe(error)}); "
                    "base_url must be your PDS (https://bsky.social for most accounts), not an AppView"
                ) from error
            raise _mapped(error) from error
        except (ValueError, ValidationError, at_errors.ModelError) as error:
            raise BadPayload(f"Bluesky answer unreadable: {type(error).__name__}") from error

    def close(self) -> None:
        """Close the HTTP connection pools."""
        self._client.request.close()
        if self._appview is not None:
            self._appview.request.close()


class _SessionExpired(Exception):
    """The server says the session's access token expired: sign in again and retry once."""


def _xrpc_error(error: at_errors.RequestErrorBase) -> str | None:
    content = error.response.content if error.response is not None else None
    return content.error if isinstance(content, XrpcError) else None


def _describe(error: at_errors.RequestErrorBase) -> str:
    status = error.response.status_code if error.response is not None else 0
    content = error.response.content if error.response is not None else None
    detail = f"{content.error}: {content.message}" if isinstance(content, XrpcError) else ""
    return f"HTTP {status} {detail}".strip()


def _mapped(error: at_errors.RequestErrorBase) -> Exception:
    """The collector error for an XRPC failure that is neither a rate limit nor a missing method."""
    if isinstance(error, at_errors.NetworkError):
        return TemporarilyUnavailable(f"Bluesky unreachable: {type(error).__name__} {error}")
    if isinstance(error, at_errors.UnauthorizedError):
        return BadConfiguration(f"Bluesky refused the sign-in or session: {_describe(error)}")
    status = error.response.status_code if error.response is not None else 0
    if status == 403:
        return BadConfiguration(
            f"Bluesky refused the request ({_describe(error)}); is the account signed in?"
        )
    if isinstance(error, at_errors.BadRequestError):
        return BadConfiguration(f"Bluesky refused the search: {_describe(error)}")
    if status >= 500:
        return TemporarilyUnavailable(f"Bluesky answered HTTP {status}")
    return BadPayload(f"Bluesky answered {_describe(error)}")
