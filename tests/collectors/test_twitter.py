"""The twitter collector: tweepy's Client pointed at a fake X API v2 serving captured pages."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from collectors.errors import BadConfiguration, BadPayload, RateLimited, TemporarilyUnavailable
from collectors.twitter import WINDOW, TwitterCollector, TwitterOptions, pack_searches, snowflake_time
from tests.collectors.conftest import NOW, load_fixture, make_context

PAGES = [
    load_fixture("twitter", "search_recent_page1.json"),
    load_fixture("twitter", "search_recent_page2.json"),
]
SEARCH = "/2/tweets/search/recent"
TOKEN = "AAAAAAAAAAAAAAAAAAAAAtest%2Ftoken"
CONTRACT = json.loads((Path(__file__).parent / "contracts" / "x_search_recent.json").read_text("utf-8"))
_LISTS = {"tweet.fields", "expansions", "user.fields", "media.fields", "poll.fields", "place.fields"}


def _validator(part: str) -> jsonschema.Draft202012Validator:
    schema = {**CONTRACT[part], "$defs": CONTRACT["$defs"]}
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


REQUEST = _validator("request")
RESPONSE = _validator("response")


def request_problems(args: dict[str, str]) -> list[str]:
    """What in one recent-search request breaks X's documented parameters."""
    shaped: dict[str, Any] = {k: v.split(",") if k in _LISTS else v for k, v in args.items()}
    problems = [e.message for e in REQUEST.iter_errors(shaped)]
    if "max_results" in args and not 10 <= int(args["max_results"]) <= 100:
        problems.append(f"max_results {args['max_results']} outside 10..100")
    return problems


def snowflake(when: Any) -> str:
    """The smallest post id X could give a post created at ``when``."""
    return str((int(when.timestamp() * 1000) - 1288834974657) << 22)


def x_error(parameter: str, value: str, message: str) -> Response:
    """A 400 the way X words one (an errors list naming the parameter)."""
    body = {
        "errors": [{"parameters": {parameter: [value]}, "message": message}],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": "https://api.twitter.com/2/problems/invalid-request",
    }
    return Response(json.dumps(body), status=400, content_type="application/json")


class FakeX:
    """Recent search over the captured tweets: since_id filtering and two-tweet pages with next_token."""

    page_size = 2

    def __init__(self) -> None:
        self.tweets = [t for page in PAGES for t in page["data"]]
        self.users = {u["id"]: u for page in PAGES for u in page["includes"]["users"]}
        self.requests: list[dict[str, str]] = []
        self.violations: list[str] = []
        self.refused_since_ids: set[str] = set()
        self.failing_queries: set[str] = set()

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
        self.violations += request_problems(args)
        edge = NOW - timedelta(days=7)
        since_id = args.get("since_id")
        if since_id and (since_id in self.refused_since_ids or snowflake_time(int(since_id)) < edge):
            message = (
                f"Invalid 'since_id':'{since_id}'. 'since_id' must be a tweet id created after "
                f"{edge:%Y-%m-%dT%H:%MZ}. Please use a 'start_time' param instead"
            )
            return x_error("since_id", since_id, message)
        start_time = args.get("start_time")
        if start_time and start_time < f"{edge:%Y-%m-%dT%H:%M:%SZ}":
            return x_error("start_time", start_time, "Invalid 'start_time': must be within the last 7 days")
        if args["query"] in self.failing_queries:
            return Response('{"title": "Service Unavailable"}', status=503, content_type="application/json")
        since = int(since_id or "0")
        floor = start_time.replace("Z", "+00:00") if start_time else ""
        tweets = sorted(
            (t for t in self.tweets if int(t["id"]) > since and t["created_at"] >= floor[:19]),
            key=lambda t: -int(t["id"]),
        )
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
def fake_x(httpserver: HTTPServer) -> Iterator[FakeX]:
    fake = FakeX()
    httpserver.expect_request(SEARCH).respond_with_handler(fake)
    yield fake
    assert fake.violations == [], "a request broke X's documented parameters"


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
    # The OR chain is parenthesised so -is:retweet applies to all of it, not the last group only.
    (["#acmefail", "@acmesupport"], ["1897601123456789504"], ["((#acmefail) OR (@acmesupport)) -is:retweet"]),
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
    assert result.cursor == {"searches": {searches[0]: {"since_id": "1897601123456789504"}}}
    assert result.fetched == 4 and result.problems == [] and result.failures == []


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
    assert third.mentions == [] and third.cursor == {
        "searches": {"(acme) -is:retweet": {"since_id": "1897700000000000000"}}
    }


def test_page_limit_is_reported(httpserver: HTTPServer, fake_x: FakeX) -> None:
    result = collector(httpserver, "acme", max_pages=1).fetch(None)
    assert len(result.mentions) == 2 and "more than 1 pages" in result.problems[0]


def test_empty_results_keep_the_cursor(httpserver: HTTPServer, fake_x: FakeX) -> None:
    # A cursor stored before per-search cursors still applies to every search.
    result = collector(httpserver, "globex").fetch({"since_id": "1897700000000000000"})
    assert result.mentions == [] and result.failures == []
    assert result.cursor == {"searches": {"(globex) -is:retweet": {"since_id": "1897700000000000000"}}}


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
        (400, '{"errors": [{"message": "Invalid since_id"}]}', {}, BadConfiguration),  # no since_id sent
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


def test_since_id_older_than_seven_days_falls_back_to_the_window_edge(
    httpserver: HTTPServer, fake_x: FakeX
) -> None:
    stale = snowflake(NOW - timedelta(days=9))  # e.g. after a quiet week or a pause
    cursor = {"searches": {"(acme) -is:retweet": {"since_id": stale}}}
    result = collector(httpserver, "acme").fetch(cursor)
    assert len(result.mentions) == 3  # the run carries on instead of failing
    assert "since_id" not in fake_x.requests[0]
    assert fake_x.requests[0]["start_time"] == f"{NOW - WINDOW:%Y-%m-%dT%H:%M:%SZ}"
    (gap,) = result.failures
    assert gap.startswith(f"(acme) -is:retweet: since_id {stale} not usable") and "missing" in gap
    assert result.cursor == {"searches": {"(acme) -is:retweet": {"since_id": "1897601123456789504"}}}


def test_since_id_refused_by_x_falls_back_to_the_window_edge(httpserver: HTTPServer, fake_x: FakeX) -> None:
    refused = snowflake(NOW - timedelta(days=6))  # inside the window by our clock, refused by X's
    fake_x.refused_since_ids.add(refused)
    result = collector(httpserver, "acme").fetch({"since_id": refused})
    assert len(result.mentions) == 3 and [r.get("since_id") for r in fake_x.requests[:2]] == [refused, None]
    assert "X refused it" in result.failures[0] and "must be a tweet id created after" in result.failures[0]


def test_quiet_search_after_a_fallback_keeps_its_place(httpserver: HTTPServer, fake_x: FakeX) -> None:
    stale = snowflake(NOW - timedelta(days=9))
    fake_x.tweets = []  # nothing posted since
    result = collector(httpserver, "globex").fetch({"since_id": stale})
    assert result.mentions == [] and len(result.failures) == 1
    assert result.cursor == {"searches": {"(globex) -is:retweet": {"start_time": "2025-03-06T12:00:00Z"}}}
    again = collector(httpserver, "globex").fetch(result.cursor)
    assert again.failures == [] and fake_x.requests[-1]["start_time"] == "2025-03-06T12:00:00Z"


def test_one_failing_search_keeps_the_others(httpserver: HTTPServer, fake_x: FakeX) -> None:
    # A short max_query_length puts each query in its own search.
    x = collector(httpserver, "acme", '"acme cloud is down again today for all of us"', max_query_length=64)
    searches, _ = x.searches()
    assert len(searches) == 2
    fake_x.failing_queries.add(searches[1])
    previous = {"searches": {s: {"since_id": "1897500000000000000"} for s in searches}}
    result = x.fetch(previous)
    assert {m.external_id for m in result.mentions} == {
        "1897601123456789504",
        "1897599876543210496",
        "1897590000000000000",
    }
    assert result.failures == [f"{searches[1]}: X answered HTTP 503"]
    assert result.cursor["searches"][searches[0]] == {"since_id": "1897601123456789504"}  # type: ignore[index]
    assert result.cursor["searches"][searches[1]] == {"since_id": "1897500000000000000"}  # type: ignore[index]
    fake_x.failing_queries.add(searches[0])
    with pytest.raises(TemporarilyUnavailable):  # every search failed: the run fails
        x.fetch(previous)


def test_new_field_names_are_read(httpserver: HTTPServer, fake_x: FakeX) -> None:
    renamed = copy.deepcopy(PAGES[1]["data"][0])
    renamed["note_post"] = renamed.pop("note_tweet")
    metrics = renamed["public_metrics"]
    metrics["repost_count"] = metrics.pop("retweet_count")
    fake_x.tweets = [renamed]
    (mention,) = collector(httpserver, "acme").fetch(None).mentions
    assert mention.text.endswith("the text field below is truncated.") and mention.engagement.shares == 2


@pytest.mark.parametrize("name", ["search_recent_page1.json", "search_recent_page2.json"])
def test_fixtures_match_the_openapi_schema(name: str) -> None:
    fixture = load_fixture("twitter", name)
    assert [e.message for e in RESPONSE.iter_errors(fixture)] == []
    drifted = copy.deepcopy(fixture)
    del drifted["data"][0]["edit_history_tweet_ids"]
    drifted["includes"]["users"][0]["username"] = "not a username"
    assert len(list(RESPONSE.iter_errors(drifted))) == 2  # a fixture drifting from the spec fails


def test_request_contract_catches_undocumented_parameters() -> None:
    good = {"query": "acme", "max_results": "100", "tweet.fields": "lang,note_tweet"}
    assert request_problems(good) == []
    assert request_problems(good | {"post.fields": "lang"})  # not in the spec X publishes
    assert request_problems(good | {"since_id": "12", "start_time": "2025-03-01T00:00:00Z"})
    assert request_problems(good | {"max_results": "500"})


def test_legacy_language_codes_match_locally(httpserver: HTTPServer, fake_x: FakeX) -> None:
    hebrew = dict(PAGES[0]["data"][0], lang="iw")
    fake_x.tweets = [hebrew]
    result = collector(httpserver, "acme lang:he").fetch(None)
    assert fake_x.requests[0]["query"] == "(acme lang:iw) -is:retweet"
    assert [m.language for m in result.mentions] == ["he"]
