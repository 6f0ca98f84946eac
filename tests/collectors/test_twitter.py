"""The twitter collector: tweepy's Client pointed at a fake X API v2 serving captured pages."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from collectors.errors import BadConfiguration, BadPayload, RateLimited, TemporarilyUnavailable
from collectors.twitter import TwitterCollector, TwitterOptions, pack_searches
from tests.collectors.conftest import NOW, load_fixture, make_context

PAGES = [
    load_fixture("twitter", "search_recent_page1.json"),
    load_fixture("twitter", "search_recent_page2.json"),
]
SEARCH = "/2/tweets/search/recent"
TOKEN = "AAAAAAAAAAAAAAAAAAAAAtest%2Ftoken"


class FakeX:
    """Recent search over the captured tweets: since_id filtering and two-tweet pages with next_token."""

    page_size = 2

    def __init__(self) -> None:
        self.tweets = [t for page in PAGES for t in page["data"]]
        self.users = {u["id"]: u for page in PAGES for u in page["includes"]["users"]}
        self.requests: list[dict[str, str]] = []

    def __call__(self, request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            problem = {
                "title": "Unauthorized",
                "type": "about:blank",
                "status": 401,
                "detail": "Unauthorized",
            }
            return Response(json.dumps(problem), status=401, content_type="application/problem+json")
        args = dict(request.args)
        self.requests.append(args)
        since = int(args.get("since_id", "0"))
        tweets = sorted((t for t in self.tweets if int(t["id"]) > since), key=lambda t: -int(t["id"]))
        start = int(args.get("next_token", "tok0")[3:])
        page = tweets[start : start + self.page_size]
        if not page:
            return Response(json.dumps({"meta": {"result_count": 0}}), content_type="application/json")
        meta: dict[str, Any] = {
            "newest_id": page[0]["id"],
            "oldest_id": page[-1]["id"],
            "result_count": len(page),
        }
        if start + self.page_size < len(tweets):
            meta["next_token"] = f"tok{start + self.page_size}"
        users = [self.users[i] for i in dict.fromkeys(t["author_id"] for t in page)]
        body = {"data": page, "includes": {"users": users}, "meta": meta}
        return Response(json.dumps(body), content_type="application/json; charset=utf-8")


@pytest.fixture
def fake_x(httpserver: HTTPServer) -> FakeX:
    fake = FakeX()
    httpserver.expect_request(SEARCH).respond_with_handler(fake)
    return fake


def collector(
    server: HTTPServer, *queries: str, token: str | None = TOKEN, **options: Any
) -> TwitterCollector:
    return TwitterCollector(
        name="x-main",
        options=TwitterOptions(bearer_token=token, base_url=server.url_for("/"), **options),
        context=make_context(*queries, timeout=1.0),
    )


CASES = [
    # (queries, expected ids, expected X searches)
    (["acme"], ["1897601123456789504", "1897599876543210496", "1897590000000000000"], ["(acme) -is:retweet"]),
    (["acme lang:en"], ["1897601123456789504", "1897590000000000000"], ["(acme lang:en) -is:retweet"]),
    (["#acmefail", "@acmesupport"], ["1897601123456789504"], ["(#acmefail) OR (@acmesupport) -is:retweet"]),
    (
        ["acme site:status.acme.example.org"],
        ["1897601123456789504"],
        ['(acme url:"status.acme.example.org") -is:retweet'],
    ),
    (['"support team" NEAR/3 billing'], [], ['("support team" billing) -is:retweet']),
    (['"support team" NEAR/10 billing'], ["1897590000000000000"], ['("support team" billing) -is:retweet']),
]


@pytest.mark.parametrize(("queries", "ids", "searches"), CASES)
def test_search(
    httpserver: HTTPServer, fake_x: FakeX, queries: list[str], ids: list[str], searches: list[str]
) -> None:
    result = collector(httpserver, *queries).fetch(None)
    assert [m.external_id for m in result.mentions] == ids
    assert list(dict.fromkeys(r["query"] for r in fake_x.requests)) == searches
    assert result.cursor == {"since_id": "1897601123456789504"}
    assert result.fetched == 4 and result.problems == []


def test_request_parameters(httpserver: HTTPServer, fake_x: FakeX) -> None:
    collector(httpserver, "acme").fetch(None)
    first, second = fake_x.requests
    assert first["expansions"] == "author_id" and first["max_results"] == "100"
    assert set(first["tweet.fields"].split(",")) >= {"public_metrics", "lang", "created_at"}
    assert set(first["user.fields"].split(",")) >= {"public_metrics"}
    assert "next_token" not in first and second["next_token"] == "tok2"


def test_normalised_fields(httpserver: HTTPServer, fake_x: FakeX) -> None:
    mentions = {m.external_id: m for m in collector(httpserver, "acme").fetch(None).mentions}
    outage = mentions["1897601123456789504"]
    assert outage.url == "https://x.com/danar/status/1897601123456789504"
    assert (outage.author.handle, outage.author.display_name, outage.author.followers) == (
        "danar",
        "Dana R.",
        5120,
    )
    assert (outage.engagement.likes, outage.engagement.shares, outage.engagement.replies) == (88, 15, 7)
    assert outage.engagement.views == 10432 and outage.language == "en"
    assert outage.published_at.isoformat() == "2025-03-06T11:52:10+00:00" and outage.collected_at == NOW
    assert outage.raw["entities"]["urls"][0]["expanded_url"] == "https://status.acme.example.org/incidents/77"
    assert mentions["1897599876543210496"].language == "es"
    assert mentions["1897590000000000000"].text.endswith(
        "the text field below is truncated."
    )  # note_tweet wins
    assert outage.source == "x-main" and outage.source_kind == "twitter" and outage.brands == ("Acme",)


def test_second_run_reads_only_new_tweets(httpserver: HTTPServer, fake_x: FakeX) -> None:
    x = collector(httpserver, "acme")
    first = x.fetch(None)
    newer = dict(PAGES[0]["data"][0], id="1897700000000000000", text="Acme is back up")
    fake_x.tweets.append(newer)
    second = x.fetch(json.loads(json.dumps(first.cursor)))
    assert [m.external_id for m in second.mentions] == ["1897700000000000000"]
    assert fake_x.requests[-1]["since_id"] == "1897601123456789504"
    third = x.fetch(second.cursor)
    assert third.mentions == [] and third.cursor == {"since_id": "1897700000000000000"}


def test_page_limit_is_reported(httpserver: HTTPServer, fake_x: FakeX) -> None:
    result = collector(httpserver, "acme", max_pages=1).fetch(None)
    assert len(result.mentions) == 2 and "more than 1 pages" in result.problems[0]


def test_empty_results_keep_the_cursor(httpserver: HTTPServer, fake_x: FakeX) -> None:
    result = collector(httpserver, "globex").fetch({"since_id": "1897700000000000000"})
    assert result.mentions == [] and result.cursor == {"since_id": "1897700000000000000"}


def test_untranslatable_query_is_a_problem(httpserver: HTTPServer, fake_x: FakeX) -> None:
    result = collector(httpserver, "*", "acme").fetch(None)
    assert "not searched on X" in result.problems[0]
    # '*' still matches locally, so what the 'acme' search brought back is kept, acmeville included.
    assert len(result.mentions) == 4


@pytest.mark.parametrize(
    ("status", "body", "headers", "error"),
    [
        (
            429,
            '{"title": "Too Many Requests", "detail": "Too Many Requests", "status": 429}',
            {"x-rate-limit-reset": "1741263300", "x-rate-limit-remaining": "0"},
            RateLimited,
        ),
        (503, '{"title": "Service Unavailable"}', {}, TemporarilyUnavailable),
        (500, "", {}, TemporarilyUnavailable),
        (
            400,
            '{"errors": [{"message": "There were errors processing your request: Ambiguous use of and"}]}',
            {},
            BadConfiguration,
        ),
        (403, '{"title": "Forbidden"}', {}, BadConfiguration),
        (200, '{"data": [', {}, BadPayload),
        (200, '["not", "an", "object"]', {}, BadPayload),
    ],
)
def test_errors(httpserver: HTTPServer, status: int, body: str, headers: dict[str, str], error: type) -> None:
    httpserver.expect_request(SEARCH).respond_with_data(
        body, status=status, headers=headers, content_type="application/json"
    )
    with pytest.raises(error) as caught:
        collector(httpserver, "acme").fetch(None)
    if status == 429:
        assert caught.value.until.timestamp() == 1741263300  # type: ignore[attr-defined]


def test_bad_token_and_missing_token(httpserver: HTTPServer, fake_x: FakeX) -> None:
    with pytest.raises(BadConfiguration, match="bearer"):
        collector(httpserver, "acme", token="wrong").fetch(None)
    with pytest.raises(BadConfiguration, match="bearer_token is required"):
        collector(httpserver, "acme", token=None).fetch(None)
    assert fake_x.requests == []


def test_timeout(httpserver: HTTPServer) -> None:
    def slow(request: Request) -> Response:
        time.sleep(0.6)
        return Response("{}", content_type="application/json")

    httpserver.expect_request(SEARCH).respond_with_handler(slow)
    with pytest.raises(TemporarilyUnavailable, match="ReadTimeout"):
        collector(httpserver, "acme", timeout_seconds=0.2).fetch(None)


def test_packing_respects_the_length_limit() -> None:
    queries = [f"brand{i} OR brand{i}x" for i in range(40)]
    packed = pack_searches(queries, 120, " -is:retweet")
    assert all(len(p) <= 120 for p in packed) and len(packed) > 1
    assert sum(p.count("(brand") for p in packed) == 40
