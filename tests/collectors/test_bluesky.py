"""The bluesky collector: the atproto SDK against a fake PDS serving captured searchPosts pages.

The fake checks every request against the lexicon through the SDK's own strict models, and
requires the session a real PDS hands out (search no longer works without sign-in).
"""

from __future__ import annotations

import base64
import copy
import json
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from atproto_client import models
from atproto_client.exceptions import ModelError
from atproto_client.models.utils import get_or_create
from pydantic import ValidationError
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
IDENTIFIER, PASSWORD = "earshot-bot.bsky.social", "app-pass-1234"
SEARCH_PARAMS = {f.alias or name for name, f in models.AppBskyFeedSearchPosts.Params.model_fields.items()}


def jwt(exp: int, marker: str) -> str:
    """An unsigned JWT with this expiry: the client only reads its payload."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    claims = {"scope": "com.atproto.appPass", "sub": SESSION["did"], "exp": exp, "jti": marker}
    return f"{part({'typ': 'at+jwt', 'alg': 'HS256'})}.{part(claims)}.c2ln"


def xrpc_error(status: int, error: str, message: str) -> Response:
    return Response(
        json.dumps({"error": error, "message": message}), status=status, content_type="application/json"
    )


def param_problems(args: dict[str, Any]) -> list[str]:
    """What in one searchPosts request breaks the lexicon (checked by the SDK's strict model)."""
    problems = [f"undocumented parameter {k!r}" for k in args if k not in SEARCH_PARAMS]
    if not args.get("q", "").strip():
        problems.append("empty q (the AppView answers 400)")
    typed = args | ({"limit": int(args["limit"])} if str(args.get("limit", "")).isdigit() else {})
    try:
        get_or_create(typed, models.AppBskyFeedSearchPosts.Params, strict_string_format=True)
    except (ModelError, ValidationError) as error:
        problems.append(str(error))
    return problems


class FakeAppView:
    """A PDS: sessions, and searchPosts over captured posts (since, latest first, cursor) and getProfiles."""

    page_size = 2

    def __init__(self) -> None:
        self.posts = list(SEARCH["posts"])
        self.requests: list[dict[str, Any]] = []
        self.profile_requests: list[list[str]] = []
        self.violations: list[str] = []
        self.calls: list[str] = []
        self.access = SESSION["accessJwt"]
        self.login_access = SESSION["accessJwt"]  # the token createSession hands out
        self.expire_once = False
        self.refused_queries: set[str] = set()

    def create_session(self, request: Request) -> Response:
        self.calls.append("createSession")
        if request.json != {"identifier": IDENTIFIER, "password": PASSWORD}:
            return xrpc_error(401, "AuthenticationRequired", "Invalid identifier or password")
        self.access = self.login_access
        return Response(json.dumps(SESSION | {"accessJwt": self.access}), content_type="application/json")

    def refresh_session(self, request: Request) -> Response:
        self.calls.append("refreshSession")
        if request.headers.get("Authorization") != f"Bearer {SESSION['refreshJwt']}":
            return xrpc_error(400, "InvalidToken", "Token could not be verified")
        self.access = jwt(4894860000, "refreshed")
        body = {k: SESSION[k] for k in ("did", "handle", "refreshJwt", "active")} | {"accessJwt": self.access}
        return Response(json.dumps(body), content_type="application/json")

    def search(self, request: Request) -> Response:
        self.calls.append("searchPosts")
        if request.headers.get("Authorization") != f"Bearer {self.access}":
            return xrpc_error(401, "AuthMissing", "Authentication Required")
        if self.expire_once:
            self.expire_once = False
            return xrpc_error(400, "ExpiredToken", "Token has expired")
        args: dict[str, Any] = {
            k: request.args.getlist(k) if k == "tag" else v for k, v in request.args.items()
        }
        self.requests.append(args)
        self.violations += param_problems(args)
        if args["q"] in self.refused_queries:
            return xrpc_error(400, "InvalidRequest", "Error: Params must have the property")
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


def serve(server: HTTPServer, fake: FakeAppView) -> None:
    server.expect_request("/xrpc/com.atproto.server.createSession", method="POST").respond_with_handler(
        fake.create_session
    )
    server.expect_request("/xrpc/com.atproto.server.refreshSession", method="POST").respond_with_handler(
        fake.refresh_session
    )
    server.expect_request(XRPC).respond_with_handler(fake.search)


@pytest.fixture
def appview(httpserver: HTTPServer) -> Iterator[FakeAppView]:
    fake = FakeAppView()
    serve(httpserver, fake)
    httpserver.expect_request("/xrpc/app.bsky.actor.getProfiles").respond_with_handler(fake.profiles)
    yield fake
    assert fake.violations == [], "a request broke the searchPosts lexicon"


def collector(server: HTTPServer, *queries: str, **options: Any) -> BlueskyCollector:
    settings: dict[str, Any] = {"identifier": IDENTIFIER, "app_password": PASSWORD} | options
    return BlueskyCollector(
        name="bsky",
        options=BlueskyOptions(base_url=server.url_for("/"), **settings),
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


def test_sign_in_at_the_pds_then_search_with_the_session(
    httpserver: HTTPServer, appview: FakeAppView
) -> None:
    appview.page_size = 10
    result = collector(httpserver, "acme").fetch(None)
    assert len(result.mentions) == 2
    assert appview.calls == ["createSession", "searchPosts"]  # no profile lookup at sign-in


def test_expired_session_is_refreshed(httpserver: HTTPServer, appview: FakeAppView) -> None:
    appview.page_size = 10
    appview.login_access = jwt(1741260000, "expired")  # already past: the SDK refreshes before use
    result = collector(httpserver, "acme", fetch_followers=False).fetch(None)
    assert len(result.mentions) == 2
    assert appview.calls == ["createSession", "refreshSession", "searchPosts"]


def test_session_the_server_calls_expired_is_renewed_once(
    httpserver: HTTPServer, appview: FakeAppView
) -> None:
    appview.page_size = 10
    bsky = collector(httpserver, "acme", fetch_followers=False)
    bsky.fetch(None)
    appview.expire_once = True
    appview.calls.clear()
    result = bsky.fetch(None)
    assert len(result.mentions) == 2 and result.failures == []
    assert appview.calls == ["searchPosts", "createSession", "searchPosts"]


def test_search_without_sign_in_is_a_clear_configuration_error(
    httpserver: HTTPServer, appview: FakeAppView
) -> None:
    with pytest.raises(BadConfiguration, match=r"sign-in is required.*BLUESKY_IDENTIFIER"):
        collector(httpserver, "acme", identifier=None, app_password=None).fetch(None)
    assert appview.calls == []


def test_appview_as_base_url_is_configuration_never_retried(httpserver: HTTPServer) -> None:
    # What the reference AppView answers for com.atproto.server.createSession.
    httpserver.expect_request("/xrpc/com.atproto.server.createSession").respond_with_response(
        xrpc_error(501, "MethodNotImplemented", "Method Not Implemented")
    )
    with pytest.raises(BadConfiguration, match="base_url must be your PDS"):
        collector(httpserver, "acme").fetch(None)


def test_unknown_method_is_configuration(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/xrpc/com.atproto.server.createSession").respond_with_response(
        xrpc_error(404, "XRPCNotSupported", "XRPCNotSupported")
    )
    with pytest.raises(BadConfiguration, match="does not serve this method"):
        collector(httpserver, "acme").fetch(None)


@pytest.mark.parametrize(
    ("query", "q", "mentions"),
    [
        ("@acmesupport", "acmesupport", None),  # no domain: not a handle, so search the word
        ("@acme.example.org", "mentions:acme.example.org", "acme.example.org"),  # never an empty q
        ("acme @acme.example.org", "acme", "acme.example.org"),
    ],
)
def test_mentions_are_sent_only_as_at_identifiers(
    httpserver: HTTPServer, appview: FakeAppView, query: str, q: str, mentions: str | None
) -> None:
    appview.page_size = 10
    collector(httpserver, query).fetch(None)
    (args,) = appview.requests
    assert args["q"] == q and args.get("mentions") == mentions


def test_one_failing_search_keeps_the_others(httpserver: HTTPServer, appview: FakeAppView) -> None:
    appview.refused_queries.add("acmeville")
    previous = {"searches": {"acmeville": {"time": 1741250000.0, "ids": ["at://old"]}}}
    result = collector(httpserver, "acme OR acmeville", fetch_followers=False).fetch(previous)
    assert {m.external_id for m in result.mentions} == {MIRA, ACME, LEO}  # the 'acme' search found all three
    (failure,) = result.failures
    assert failure.startswith("acmeville: Bluesky refused the search") and PASSWORD not in failure
    assert result.cursor["searches"]["acmeville"] == previous["searches"]["acmeville"]  # type: ignore[index]
    assert result.cursor["searches"]["acme"]["ids"] == [MIRA]  # type: ignore[index]
    appview.refused_queries.add("acme")
    with pytest.raises(BadConfiguration, match="refused the search"):
        collector(httpserver, "acme OR acmeville").fetch(previous)


def test_profiles_can_come_from_an_appview(httpserver: HTTPServer, appview: FakeAppView) -> None:
    seen: list[str | None] = []

    def profiles(request: Request) -> Response:
        seen.append(request.headers.get("Authorization"))
        return appview.profiles(request)

    httpserver.expect_request("/appview/xrpc/app.bsky.actor.getProfiles").respond_with_handler(profiles)
    result = collector(httpserver, "acme", appview_url=httpserver.url_for("/appview")).fetch(None)
    assert seen == [None] and {m.author.followers for m in result.mentions} == {2310, 120450}


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("search_posts.json", models.AppBskyFeedSearchPosts.Response),
        ("get_profiles.json", models.AppBskyActorGetProfiles.Response),
        ("create_session.json", models.ComAtprotoServerCreateSession.Response),
    ],
)
def test_fixtures_match_the_lexicons(name: str, model: Any) -> None:
    fixture = load_fixture("bluesky", name)
    assert isinstance(get_or_create(fixture, model, strict_string_format=True), model)
    drifted = copy.deepcopy(fixture)
    key = next(iter(k for k in ("posts", "profiles") if k in drifted), None)
    if key:
        drifted[key][0]["author" if key == "posts" else "handle"] = (
            {"did": "not-a-did", "handle": "x"} if key == "posts" else "no handle"
        )
    else:
        drifted["did"] = "not-a-did"
    with pytest.raises((ModelError, ValidationError)):  # a fixture drifting from the lexicon fails
        get_or_create(drifted, model, strict_string_format=True)


def test_identifier_without_password(httpserver: HTTPServer) -> None:
    with pytest.raises(BadConfiguration, match="app_password"):
        collector(httpserver, "acme", identifier="someone.bsky.social", app_password=None).fetch(None)


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
    fake = FakeAppView()
    httpserver.expect_request("/xrpc/com.atproto.server.createSession").respond_with_handler(
        fake.create_session
    )
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

    fake = FakeAppView()
    httpserver.expect_request("/xrpc/com.atproto.server.createSession").respond_with_handler(
        fake.create_session
    )
    httpserver.expect_request(XRPC).respond_with_handler(slow)
    with pytest.raises(TemporarilyUnavailable, match="unreachable"):
        collector(httpserver, "acme", timeout_seconds=0.2).fetch(None)


def test_follower_lookup_failure_keeps_posts(httpserver: HTTPServer) -> None:
    fake = FakeAppView()
    serve(httpserver, fake)
    httpserver.expect_request("/xrpc/app.bsky.actor.getProfiles").respond_with_data("oops", status=503)
    result = collector(httpserver, "acme").fetch(None)
    assert len(result.mentions) == 2 and all(m.author.followers is None for m in result.mentions)
    assert "follower counts unavailable" in result.problems[0]
