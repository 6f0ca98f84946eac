"""The bluesky collector: the atproto SDK against a fake XRPC server serving captured searchPosts pages."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from collectors.bluesky import BlueskyCollector, BlueskyOptions
from collectors.errors import BadConfiguration, BadPayload, RateLimited, TemporarilyUnavailable
from collectors.normalise import parse_datetime
from tests.collectors.conftest import NOW, load_fixture, make_context

SEARCH = load_fixture("bluesky", "search_posts.json")
PROFILES = load_fixture("bluesky", "get_profiles.json")
SESSION = load_fixture("bluesky", "create_session.json")
XRPC = "/xrpc/app.bsky.feed.searchPosts"


class FakeAppView:
    """searchPosts over captured posts (since filter, latest first, numeric cursor) and getProfiles."""

    page_size = 2

    def __init__(self) -> None:
        self.posts = list(SEARCH["posts"])
        self.requests: list[dict[str, Any]] = []
        self.profile_requests: list[list[str]] = []

    def search(self, request: Request) -> Response:
        args: dict[str, Any] = {
            k: request.args.getlist(k) if k == "tag" else v for k, v in request.args.items()
        }
        self.requests.append(args)
        since = parse_datetime(args["since"])
        words = [w for w in args["q"].lower().split() if not w.startswith("-")]
        pool = [
            p
            for p in self.posts
            if parse_datetime(p["indexedAt"]) >= since  # type: ignore[operator]
            and all(w.lstrip("#") in p["record"]["text"].lower() for w in words)
            and ("author" not in args or p["author"]["handle"] == args["author"])
        ]
        pool.sort(key=lambda p: p["indexedAt"], reverse=True)
        start = int(args.get("cursor", "0"))
        page = pool[start : start + self.page_size]
        body: dict[str, Any] = {"posts": page, "hitsTotal": len(pool)}
        if start + self.page_size < len(pool):
            body["cursor"] = str(start + self.page_size)
        return Response(json.dumps(body), content_type="application/json; charset=utf-8")

    def profiles(self, request: Request) -> Response:
        actors = request.args.getlist("actors")
        self.profile_requests.append(actors)
        found = [p for p in PROFILES["profiles"] if p["did"] in actors]
        return Response(json.dumps({"profiles": found}), content_type="application/json")


@pytest.fixture
def appview(httpserver: HTTPServer) -> FakeAppView:
    fake = FakeAppView()
    httpserver.expect_request(XRPC).respond_with_handler(fake.search)
    httpserver.expect_request("/xrpc/app.bsky.actor.getProfiles").respond_with_handler(fake.profiles)
    return fake


def collector(server: HTTPServer, *queries: str, **options: Any) -> BlueskyCollector:
    return BlueskyCollector(
        name="bsky",
        options=BlueskyOptions(base_url=server.url_for("/"), **options),
        context=make_context(*queries, timeout=1.0),
    )


MIRA = "at://did:plc:4hqjfn7m6n5hno3doamuhgef/app.bsky.feed.post/3ljn6yx2wqk2s"
ACME = "at://did:plc:z72i7hdynmk6r22z27h6tvur/app.bsky.feed.post/3ljn5aa7kxs2d"
LEO = "at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3ljn3zzq2lc2p"

CASES = [
    # (queries, expected uris, expected q parameters)
    (["acme"], [MIRA, ACME], ["acme"]),
    (["acme -investigating"], [MIRA], ["acme -investigating"]),
    (["acme OR acmeville"], [MIRA, ACME, LEO], ["acme", "acmeville"]),
    (["#acmefail"], [MIRA], ["#acmefail"]),
    (["acme from:acme.example.org"], [ACME], ["acme"]),
    (["acme site:status.acme.example.org"], [MIRA, ACME], ["acme"]),
    (["acme lang:pt"], [], ["acme"]),
]


@pytest.mark.parametrize(("queries", "uris", "qs"), CASES)
def test_search(
    httpserver: HTTPServer, appview: FakeAppView, queries: list[str], uris: list[str], qs: list[str]
) -> None:
    result = collector(httpserver, *queries).fetch(None)
    assert [m.external_id for m in result.mentions] == uris
    assert list(dict.fromkeys(r["q"] for r in appview.requests)) == qs
    assert result.problems == []
    json.dumps(result.cursor)


def test_request_parameters(httpserver: HTTPServer, appview: FakeAppView) -> None:
    collector(httpserver, "#acmefail lang:en from:mira.bsky.social site:acme.example.org").fetch(None)
    (args,) = appview.requests
    assert args["sort"] == "latest" and args["limit"] == "100" and args["since"] == "2025-03-05T12:00:00Z"
    assert (args["tag"], args["lang"], args["author"], args["domain"]) == (
        ["acmefail"],
        "en",
        "mira.bsky.social",
        "acme.example.org",
    )


def test_pagination_and_normalised_fields(httpserver: HTTPServer, appview: FakeAppView) -> None:
    appview.page_size = 1
    result = collector(httpserver, "acme OR acmeville").fetch(None)
    # The fake, like real search, finds 'acmeville' for 'acme': three one-post pages, then one more.
    assert result.fetched == 4 and [r.get("cursor") for r in appview.requests] == [None, "1", "2", None]
    mentions = {m.external_id: m for m in result.mentions}
    mira = mentions[MIRA]
    assert mira.url == "https://bsky.app/profile/mira.bsky.social/post/3ljn6yx2wqk2s"
    assert (mira.author.handle, mira.author.display_name, mira.author.followers) == (
        "mira.bsky.social",
        "Mira 🌿",
        2310,
    )
    assert (mira.engagement.likes, mira.engagement.shares, mira.engagement.replies) == (52, 13, 4)
    assert mira.language == "en" and mira.published_at.isoformat() == "2025-03-06T11:57:31.102000+00:00"
    assert (
        mira.raw["record"]["facets"][0]["features"][0]["uri"]
        == "https://status.acme.example.org/incidents/77"
    )
    assert mira.collected_at == NOW and mira.source_kind == "bluesky" and mira.brands == ("Acme",)
    assert mentions[ACME].author.followers == 120450
    assert len(appview.profile_requests) == 1  # one batched lookup for every new author


def test_second_run_reads_only_new_posts(httpserver: HTTPServer, appview: FakeAppView) -> None:
    bsky = collector(httpserver, "acme", fetch_followers=False)
    first = bsky.fetch(None)
    mark = first.cursor["searches"]["acme"]  # type: ignore[index]
    assert mark["ids"] == [MIRA] and mark["time"] == parse_datetime("2025-03-06T11:57:32.011Z").timestamp()  # type: ignore[union-attr]
    late = dict(
        SEARCH["posts"][0], uri=MIRA + "late", indexedAt="2025-03-06T11:57:00.000Z"
    )  # inside the overlap
    new = dict(SEARCH["posts"][0], uri=MIRA + "new", indexedAt="2025-03-06T11:59:00.000Z")
    appview.posts += [late, new]
    second = bsky.fetch(json.loads(json.dumps(first.cursor)))
    assert sorted(m.external_id for m in second.mentions) == [MIRA + "late", MIRA + "new"]
    since = parse_datetime(appview.requests[-1]["since"])
    assert since == parse_datetime("2025-03-06T11:57:32.011Z") - timedelta(seconds=120)  # type: ignore[operator]
    assert bsky.fetch(second.cursor).mentions == []


def test_login_uses_the_session_token(httpserver: HTTPServer, appview: FakeAppView) -> None:
    seen: list[str | None] = []

    def session(request: Request) -> Response:
        assert request.json == {"identifier": "earshot-bot.bsky.social", "password": "app-pass-1234"}
        return Response(json.dumps(SESSION), content_type="application/json")

    def profile(request: Request) -> Response:
        seen.append(request.headers.get("Authorization"))
        return Response(
            json.dumps(PROFILES["profiles"][0] | {"did": SESSION["did"], "handle": SESSION["handle"]}),
            content_type="application/json",
        )

    httpserver.expect_request("/xrpc/com.atproto.server.createSession", method="POST").respond_with_handler(
        session
    )
    httpserver.expect_request("/xrpc/app.bsky.actor.getProfile").respond_with_handler(profile)
    result = collector(
        httpserver, "acme", identifier="earshot-bot.bsky.social", app_password="app-pass-1234"
    ).fetch(None)
    assert len(result.mentions) == 2 and seen == [f"Bearer {SESSION['accessJwt']}"]


def test_identifier_without_password(httpserver: HTTPServer) -> None:
    with pytest.raises(BadConfiguration, match="app_password"):
        collector(httpserver, "acme", identifier="someone.bsky.social").fetch(None)


def test_untranslatable_query_is_reported(httpserver: HTTPServer, appview: FakeAppView) -> None:
    result = collector(httpserver, "*").fetch(None)
    assert result.mentions == [] and "not searched on Bluesky" in result.problems[0]


@pytest.mark.parametrize(
    ("status", "body", "headers", "error"),
    [
        (
            429,
            '{"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}',
            {
                "ratelimit-limit": "3000",
                "ratelimit-remaining": "0",
                "ratelimit-reset": "1741263000",
                "ratelimit-policy": "3000;w=300",
            },
            RateLimited,
        ),
        (
            500,
            '{"error": "InternalServerError", "message": "Internal Server Error"}',
            {},
            TemporarilyUnavailable,
        ),
        (502, "bad gateway", {}, TemporarilyUnavailable),
        (400, '{"error": "InvalidRequest", "message": "Error: q must not be empty"}', {}, BadConfiguration),
        (403, '{"error": "Forbidden"}', {}, BadConfiguration),
        (200, '{"posts": [', {}, BadPayload),
        (200, '{"posts": [{"uri": 3}]}', {}, BadPayload),
    ],
)
def test_errors(httpserver: HTTPServer, status: int, body: str, headers: dict[str, str], error: type) -> None:
    httpserver.expect_request(XRPC).respond_with_data(
        body, status=status, headers=headers, content_type="application/json"
    )
    with pytest.raises(error) as caught:
        collector(httpserver, "acme").fetch(None)
    if status == 429:
        assert caught.value.until.timestamp() == 1741263000  # type: ignore[attr-defined]


def test_timeout(httpserver: HTTPServer) -> None:
    def slow(request: Request) -> Response:
        time.sleep(0.6)
        return Response('{"posts": []}', content_type="application/json")

    httpserver.expect_request(XRPC).respond_with_handler(slow)
    with pytest.raises(TemporarilyUnavailable, match="unreachable"):
        collector(httpserver, "acme", timeout_seconds=0.2).fetch(None)


def test_follower_lookup_failure_keeps_posts(httpserver: HTTPServer) -> None:
    fake = FakeAppView()
    httpserver.expect_request(XRPC).respond_with_handler(fake.search)
    httpserver.expect_request("/xrpc/app.bsky.actor.getProfiles").respond_with_data("oops", status=503)
    result = collector(httpserver, "acme").fetch(None)
    assert len(result.mentions) == 2 and all(m.author.followers is None for m in result.mentions)
    assert "follower counts unavailable" in result.problems[0]
