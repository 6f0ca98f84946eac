"""The reddit collector: praw pointed (oauth_url/reddit_url) at a fake Reddit with a fake token endpoint."""

from __future__ import annotations

import base64
import copy
import json
import re
from collections.abc import Iterator
from typing import Any

import praw
import pytest
from praw.models.listing.listing import Listing
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from collectors.errors import BadConfiguration, BadPayload, RateLimited, TemporarilyUnavailable
from collectors.reddit import RedditCollector, RedditOptions, comment_replies
from tests.collectors.conftest import NOW, load_fixture, make_context

TOKEN = load_fixture("reddit", "access_token.json")
SEARCH = load_fixture("reddit", "search_new.json")
COMMENTS = load_fixture("reddit", "subreddit_comments.json")
LISTING = re.compile(r"^/r/(?P<subs>[^/]+)/(?P<what>search|new|comments)/?$")
# Reddit's API docs: GET [/r/subreddit]/search, /r/subreddit/new, /r/subreddit/comments.
_LISTING_PARAMS = {"after", "before", "count", "limit", "show", "sr_detail", "raw_json"}
DOCUMENTED = {
    "search": _LISTING_PARAMS
    | {"q", "sort", "syntax", "t", "restrict_sr", "type", "category", "include_facets", "include_over_18"},
    "new": _LISTING_PARAMS,
    "comments": _LISTING_PARAMS
    | {"article", "context", "depth", "showedits", "showmore", "sort", "threaded"},
}
# What praw documents on its models, and what the collector reads from them.
SUBMISSION_FIELDS = {"id", "name", "title", "selftext", "author", "created_utc", "permalink", "url", "score"}
SUBMISSION_FIELDS |= {"num_comments", "subreddit", "is_self"}
COMMENT_FIELDS = {"id", "name", "body", "author", "created_utc", "permalink", "score", "link_id", "parent_id"}


def request_problems(what: str, args: dict[str, str]) -> list[str]:
    """What in one listing request breaks Reddit's documented parameters."""
    problems = [f"{what}: undocumented parameter {k!r}" for k in args if k not in DOCUMENTED[what]]
    # The docs say at most 100; praw asks for everything it wants and Reddit clamps, so >100 is allowed.
    if not args.get("limit", "25").isdigit() or int(args.get("limit", "25")) < 1:
        problems.append(f"{what}: limit {args['limit']!r} is not a positive integer")
    if what == "search" and (args.get("sort") not in {"relevance", "hot", "top", "new", "comments"}):
        problems.append(f"search: sort {args.get('sort')!r}")
    if what == "search" and args.get("t") not in {None, "hour", "day", "week", "month", "year", "all"}:
        problems.append(f"search: t {args.get('t')!r}")
    if "after" in args and not re.fullmatch(r"t[1-6]_[0-9a-z]+", args["after"]):
        problems.append(f"{what}: after {args['after']!r} is not a fullname")
    return problems


def praw_problems(payload: Any) -> list[str]:
    """What praw's own objector cannot turn into the Submission/Comment models the collector reads."""
    reddit = praw.Reddit(
        client_id="x",
        client_secret="y",
        user_agent="contract-test",
        check_for_updates=False,
        check_for_async=False,
    )
    listing = reddit._objector.objectify(data=payload)
    if not isinstance(listing, Listing):
        return [f"not a Listing: {type(listing).__name__}"]
    problems = []
    for thing in listing.children:
        if isinstance(thing, praw.models.Submission):
            missing = SUBMISSION_FIELDS - set(vars(thing))
        elif isinstance(thing, praw.models.Comment):
            missing = COMMENT_FIELDS - set(vars(thing))
        else:
            problems.append(f"child is a {type(thing).__name__}, not a Submission or Comment")
            continue
        problems += [f"{getattr(thing, 'name', '?')}: no {field}" for field in sorted(missing)]
    return problems


class FakeReddit:
    """Token endpoint plus search/new/comments listings, newest first, paginated with limit/after."""

    def __init__(self) -> None:
        self.posts = [c["data"] for c in SEARCH["data"]["children"]]
        self.comments = [c["data"] for c in COMMENTS["data"]["children"]]
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.violations: list[str] = []
        self.failing: set[str] = set()

    def token(self, request: Request) -> Response:
        expected = "Basic " + base64.b64encode(b"app-id:app-secret").decode()
        if request.headers.get("Authorization") != expected:
            return Response(json.dumps({"message": "Unauthorized", "error": 401}), status=401)
        assert request.form["grant_type"] == "client_credentials"
        return Response(json.dumps(TOKEN), content_type="application/json")

    def listing(self, request: Request) -> Response:
        if request.headers.get("Authorization") != f"bearer {TOKEN['access_token']}":
            return Response(json.dumps({"message": "Unauthorized", "error": 401}), status=401)
        match = LISTING.match(request.path)
        assert match is not None
        args = dict(request.args)
        self.requests.append((request.path, args))
        self.violations += request_problems(match["what"], args)
        if match["what"] in self.failing:
            return Response(json.dumps({"message": "Forbidden", "error": 403}), status=403)
        subs = set(match["subs"].lower().split("+"))
        if match["what"] == "comments":
            kind, pool = "t1", self.comments
        else:
            kind, pool = "t3", self.posts
        if match["what"] == "search":
            words = [w for w in re.findall(r"\w+", args["q"].lower()) if w not in {"and", "or", "not"}]
            pool = [p for p in pool if any(w in (p["title"] + p["selftext"]).lower() for w in words)]
        else:
            pool = [p for p in pool if p["subreddit"].lower() in subs]
        pool = sorted(pool, key=lambda p: -p["created_utc"])
        if "after" in args:
            names = [p["name"] for p in pool]
            pool = pool[names.index(args["after"]) + 1 :]
        page = pool[: int(args.get("limit", 25))]
        after = page[-1]["name"] if len(pool) > len(page) else None
        body = copy.deepcopy(SEARCH)
        body["data"].update(children=[{"kind": kind, "data": p} for p in page], after=after, dist=len(page))
        return Response(json.dumps(body), content_type="application/json; charset=UTF-8")


@pytest.fixture
def fake_reddit(httpserver: HTTPServer) -> Iterator[FakeReddit]:
    fake = FakeReddit()
    httpserver.expect_request("/api/v1/access_token", method="POST").respond_with_handler(fake.token)
    httpserver.expect_request(LISTING).respond_with_handler(fake.listing)
    yield fake
    assert fake.violations == [], "a request broke Reddit's documented parameters"


def collector(server: HTTPServer, *queries: str, **options: Any) -> RedditCollector:
    base = server.url_for("").rstrip("/")
    settings: dict[str, Any] = {"client_id": "app-id", "client_secret": "app-secret"} | options
    return RedditCollector(
        name="reddit-main",
        options=RedditOptions(oauth_url=base, reddit_url=base, **settings),
        context=make_context(*queries, timeout=2.0),
    )


CASES = [
    # (queries, options, expected fullnames, expected listing paths)
    (["acme"], {}, ["t3_1j4xk2q", "t3_1j4wq0z"], ["/r/all/search/"]),
    (["acme"], {"max_items": 1}, ["t3_1j4xk2q"], ["/r/all/search/"]),
    (["acme -recalls"], {}, ["t3_1j4xk2q"], ["/r/all/search/"]),
    (["acme site:news.example.com"], {}, ["t3_1j4wq0z"], ["/r/all/search/"]),
    (
        ["acme"],
        {"search": False, "subreddits": ["sysadmin", "r/Acmeville"]},
        ["t3_1j4xk2q", "t1_mgq1x7a"],
        ["/r/Acmeville+sysadmin/new", "/r/Acmeville+sysadmin/comments/"],
    ),
    (
        ["acme"],
        {"search": False, "subreddits": ["sysadmin"], "include_comments": False},
        ["t3_1j4xk2q"],
        ["/r/sysadmin/new"],
    ),
]


@pytest.mark.parametrize(("queries", "options", "ids", "paths"), CASES)
def test_streams(
    httpserver: HTTPServer,
    fake_reddit: FakeReddit,
    queries: list[str],
    options: dict[str, Any],
    ids: list[str],
    paths: list[str],
) -> None:
    result = collector(httpserver, *queries, **options).fetch(None)
    assert [m.external_id for m in result.mentions] == ids
    assert list(dict.fromkeys(path for path, _ in fake_reddit.requests)) == paths
    assert result.problems == []
    json.dumps(result.cursor)


def test_search_parameters(httpserver: HTTPServer, fake_reddit: FakeReddit) -> None:
    collector(httpserver, "acme -recalls").fetch(None)
    (_, args), *_ = fake_reddit.requests
    assert args["q"] == "acme AND NOT recalls" and args["sort"] == "new" and args["syntax"] == "lucene"
    assert args["raw_json"] == "1"


def test_normalised_fields(httpserver: HTTPServer, fake_reddit: FakeReddit) -> None:
    result = collector(httpserver, "acme", subreddits=["sysadmin"]).fetch(None)
    mentions = {m.external_id: m for m in result.mentions}
    post, link, comment = mentions["t3_1j4xk2q"], mentions["t3_1j4wq0z"], mentions["t1_mgq1x7a"]
    base = httpserver.url_for("").rstrip("/")
    assert post.url == f"{base}/r/sysadmin/comments/1j4xk2q/acme_cloud_down_again/"
    assert post.title == "Acme Cloud down again?" and post.text.startswith(
        "Anyone else seeing Acme Cloud 503s"
    )
    assert (post.engagement.likes, post.engagement.replies, post.engagement.shares) == (41, 23, 1)
    assert post.author.handle == "pager_duty_dan" and post.published_at.timestamp() == 1741262100
    assert (
        link.text == "Acme recalls 10,000 pairs of Rocket Skates" and link.raw["domain"] == "news.example.com"
    )
    assert (
        comment.title is None
        and comment.text.startswith("Same here.")
        and comment.author.handle == "ops_oracle"
    )
    assert comment.raw["link_title"] == "Acme Cloud down again?"
    assert all(
        m.collected_at == NOW and m.source_kind == "reddit" and m.brands == ("Acme",)
        for m in mentions.values()
    )


def test_second_run_reads_only_new_items(httpserver: HTTPServer, fake_reddit: FakeReddit) -> None:
    reddit = collector(httpserver, "acme", subreddits=["sysadmin"])
    first = reddit.fetch(None)
    newer = dict(
        fake_reddit.posts[0], name="t3_1j5new1", id="1j5new1", created_utc=1741262500.0, title="Acme is back"
    )
    late = dict(
        fake_reddit.posts[0],
        name="t3_1j4late",
        id="1j4late",
        created_utc=1741262000.0,
        title="Acme late indexed",
    )  # older than the newest read, inside the overlap window
    fake_reddit.posts += [newer, late]
    second = reddit.fetch(json.loads(json.dumps(first.cursor)))
    assert sorted(m.external_id for m in second.mentions) == ["t3_1j4late", "t3_1j5new1"]
    assert reddit.fetch(second.cursor).mentions == []


def test_missing_credentials_point_to_rss(httpserver: HTTPServer) -> None:
    with pytest.raises(BadConfiguration, match=r"search\.rss"):
        collector(httpserver, "acme", client_id=None).fetch(None)


def test_wrong_credentials(httpserver: HTTPServer, fake_reddit: FakeReddit) -> None:
    with pytest.raises(BadConfiguration):
        collector(httpserver, "acme", client_secret="nope").fetch(None)


@pytest.mark.parametrize(
    ("status", "body", "headers", "error"),
    [
        (
            429,
            '{"message": "Too Many Requests", "error": 429}',
            {"x-ratelimit-reset": "42", "x-ratelimit-remaining": "0", "x-ratelimit-used": "100"},
            RateLimited,
        ),
        (200, '{"kind": "Listing", "data": {"children": [', {}, BadPayload),
        (
            200,
            '{"kind": "Listing", "data": {"children": [{"kind": "t3", "data": {"id": "x"}}]}}',
            {},
            BadPayload,
        ),
        (404, '{"message": "Not Found", "error": 404}', {}, BadConfiguration),
    ],
)
def test_errors(httpserver: HTTPServer, status: int, body: str, headers: dict[str, str], error: type) -> None:
    httpserver.expect_request("/api/v1/access_token", method="POST").respond_with_json(TOKEN)
    httpserver.expect_request(LISTING).respond_with_data(
        body, status=status, headers=headers, content_type="application/json"
    )
    with pytest.raises(error) as caught:
        collector(httpserver, "acme").fetch(None)
    if status == 429:
        assert caught.value.until.timestamp() == NOW.timestamp() + 42  # type: ignore[attr-defined]


def test_server_errors_are_temporary(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # prawcore retries 5xx twice with a few seconds' sleep; skip the sleeping, keep the retries.
    monkeypatch.setattr("prawcore.sessions.FiniteRetryStrategy._sleep_seconds", lambda self: None)
    httpserver.expect_request("/api/v1/access_token", method="POST").respond_with_json(TOKEN)
    httpserver.expect_request(LISTING).respond_with_data("<html>503</html>", status=503)
    with pytest.raises(TemporarilyUnavailable, match="503"):
        collector(httpserver, "acme").fetch(None)
    assert sum(r.path == "/r/all/search/" for r, _ in httpserver.log) == 3


def test_unreachable_is_temporary(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("prawcore.sessions.FiniteRetryStrategy._sleep_seconds", lambda self: None)
    reddit = RedditCollector(
        name="r",
        options=RedditOptions(
            client_id="a", client_secret="b", oauth_url="http://127.0.0.1:9", reddit_url="http://127.0.0.1:9"
        ),
        context=make_context("acme", timeout=0.5),
    )
    with pytest.raises(TemporarilyUnavailable, match="unreachable"):
        reddit.fetch(None)


def test_comment_replies_are_its_own_not_the_threads(httpserver: HTTPServer, fake_reddit: FakeReddit) -> None:
    result = collector(httpserver, "acme", search=False, subreddits=["sysadmin"]).fetch(None)
    comment = next(m for m in result.mentions if m.external_id == "t1_mgq1x7a")
    assert comment.raw["num_comments"] == 23 and comment.engagement.replies == 0
    post = next(m for m in result.mentions if m.external_id == "t3_1j4xk2q")
    assert post.engagement.replies == 23


def test_comment_replies_from_raw_json() -> None:
    reply = {"kind": "t1", "data": {"name": "t1_r1"}}
    data = {"name": "t1_x", "replies": {"kind": "Listing", "data": {"children": [reply, reply]}}}
    assert comment_replies(data) == 2 and comment_replies({"name": "t1_x", "replies": ""}) == 0


def test_one_failing_stream_keeps_the_others(httpserver: HTTPServer, fake_reddit: FakeReddit) -> None:
    fake_reddit.failing.add("comments")
    previous = {"streams": {"comments:sysadmin": {"time": 1741000000.0, "ids": ["t1_old"]}}}
    result = collector(httpserver, "acme", subreddits=["sysadmin"]).fetch(previous)
    assert {m.external_id for m in result.mentions} == {"t3_1j4xk2q", "t3_1j4wq0z"}
    (failure,) = result.failures
    assert failure.startswith("comments:sysadmin: ") and "app-secret" not in failure
    assert result.cursor["streams"]["comments:sysadmin"] == previous["streams"]["comments:sysadmin"]  # type: ignore[index]
    assert result.cursor is not None
    assert {"search:acme", "new:sysadmin"} <= set(result.cursor["streams"])
    fake_reddit.failing |= {"search", "new"}
    with pytest.raises(BadConfiguration):
        collector(httpserver, "acme", subreddits=["sysadmin"]).fetch(previous)


@pytest.mark.parametrize("payload", [SEARCH, COMMENTS])
def test_fixtures_are_what_praws_objector_reads(payload: dict[str, Any]) -> None:
    assert praw_problems(copy.deepcopy(payload)) == []
    drifted = copy.deepcopy(payload)
    drifted["data"]["children"][0]["kind"] = "t9"  # no such thing
    del drifted["data"]["children"][-1]["data"]["created_utc"]
    assert len(praw_problems(drifted)) == 2  # a fixture drifting from what praw reads fails
