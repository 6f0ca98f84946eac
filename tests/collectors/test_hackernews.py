"""The hackernews collector against a fake Algolia HN Search API serving captured hits."""

from __future__ import annotations

import copy
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from collectors.errors import BadPayload, RateLimited, TemporarilyUnavailable
from collectors.hackernews import HackerNewsCollector, HackerNewsOptions
from tests.collectors.conftest import NOW, load_fixture, make_context

CAPTURED = load_fixture("hackernews", "search_by_date.json")
# hn.algolia.com/api: the parameters search_by_date documents, and Algolia's pagination cap.
DOCUMENTED = {"query", "tags", "numericFilters", "page", "hitsPerPage", "advancedSyntax", "typoTolerance"}
CAP = 1000
FILTER = re.compile(r"created_at_i>=(\d+)(?:,created_at_i<(\d+))?")


def request_problems(args: dict[str, str]) -> list[str]:
    """What in one search_by_date request breaks the documented parameters."""
    problems = [f"undocumented parameter {k!r}" for k in args if k not in DOCUMENTED]
    if not FILTER.fullmatch(args.get("numericFilters", "")):
        problems.append(f"numericFilters {args.get('numericFilters')!r}")
    if not 1 <= int(args.get("hitsPerPage", "20")) <= CAP or int(args.get("page", "0")) < 0:
        problems.append(f"hitsPerPage {args.get('hitsPerPage')} / page {args.get('page')}")
    if not re.fullmatch(
        r"(\((story|comment)(,(story|comment))*\)|story|comment)(,author_[\w-]+)*", args["tags"]
    ):
        problems.append(f"tags {args['tags']!r}")
    return problems


class FakeAlgolia:
    """Serves a pool of hits the way search_by_date does: filtered, newest first, paginated."""

    def __init__(self, hits: list[dict[str, Any]]) -> None:
        self.hits = hits
        self.requests: list[dict[str, str]] = []
        self.violations: list[str] = []
        self.failing_queries: set[str] = set()

    def __call__(self, request: Request) -> Response:
        args = dict(request.args)
        self.requests.append(args)
        self.violations += request_problems(args)
        if args.get("query") in self.failing_queries:
            return Response('{"message": "boom", "status": 500}', status=500)
        bounds = FILTER.fullmatch(args["numericFilters"])
        assert bounds is not None
        since, until = int(bounds[1]), int(bounds[2] or 2**40)
        group, _, rest = args["tags"].partition(")")
        types = set(group.strip("(").split(",")) if rest or group.startswith("(") else {group.split(",")[0]}
        authors = re.findall(r"author_([^,]+)", args["tags"])
        words = [w.strip('"').lower() for w in re.findall(r'-?"[^"]+"|\S+', args.get("query", ""))]
        selected = []
        for hit in self.hits:
            blob = " ".join(
                str(hit.get(k) or "") for k in ("title", "story_text", "comment_text", "url")
            ).lower()
            if not since <= hit["created_at_i"] < until or not types & set(hit["_tags"]):
                continue
            if authors and hit["author"] not in authors:
                continue
            # Algolia matches prefixes, so 'acme' also finds 'acmeville': the collector must re-check.
            if all((w[1:] not in blob) if w.startswith("-") else (w in blob) for w in words):
                selected.append(hit)
        selected.sort(key=lambda h: -h["created_at_i"])
        per_page, page = int(args["hitsPerPage"]), int(args["page"])
        reachable = selected[:CAP]  # Algolia never pages past its cap, whatever nbHits says
        body = copy.deepcopy(CAPTURED)
        body.update(
            hits=reachable[page * per_page : (page + 1) * per_page],
            nbHits=len(selected),
            nbPages=(len(reachable) + per_page - 1) // per_page,
            page=page,
            hitsPerPage=per_page,
        )
        return Response(json.dumps(body), content_type="application/json; charset=UTF-8")


def collector(server: HTTPServer, *queries: str, **options: Any) -> HackerNewsCollector:
    return HackerNewsCollector(
        name="hn",
        options=HackerNewsOptions(base_url=server.url_for("/api/v1"), **options),
        context=make_context(*queries, timeout=1.0),
    )


@pytest.fixture
def algolia(httpserver: HTTPServer) -> Iterator[FakeAlgolia]:
    fake = FakeAlgolia(copy.deepcopy(CAPTURED["hits"]))
    httpserver.expect_request("/api/v1/search_by_date").respond_with_handler(fake)
    yield fake
    assert fake.violations == [], "a request broke the documented search_by_date parameters"


CASES = [
    # (queries, options, expected external ids, expected searches sent)
    (["acme -jobs"], {}, ["43210077", "43210001", "43190123"], ["acme -jobs"]),
    (["acme"], {"hits_per_page": 2}, ["43210077", "43210001", "43209990", "43190123"], ["acme"] * 3),
    (
        ["acme outage OR acme support"],
        {},
        ["43210077", "43210001", "43190123"],
        ["acme outage", "acme support"],
    ),
    (["acme from:jdoe"], {}, ["43210001"], ["acme"]),
    (["acme"], {"item_types": ["story"]}, ["43210001", "43209990"], ["acme"]),
    (["globex"], {}, [], ["globex"]),
]


@pytest.mark.parametrize(("queries", "options", "ids", "searches"), CASES)
def test_search(
    httpserver: HTTPServer,
    algolia: FakeAlgolia,
    queries: list[str],
    options: dict[str, Any],
    ids: list[str],
    searches: list[str],
) -> None:
    result = collector(httpserver, *queries, **options).fetch(None)
    assert [m.external_id for m in result.mentions] == ids
    assert [r["query"] for r in algolia.requests] == searches
    assert all(
        r["numericFilters"] == f"created_at_i>={int(NOW.timestamp()) - 86400}" for r in algolia.requests
    )
    assert result.problems == []
    json.dumps(result.cursor)


def test_normalised_fields(httpserver: HTTPServer, algolia: FakeAlgolia) -> None:
    mentions = {m.external_id: m for m in collector(httpserver, "acme").fetch(None).mentions}
    story, comment = mentions["43210001"], mentions["43210077"]
    assert (
        story.title == "Postmortem: Acme Cloud outage"
        and story.url == "https://news.ycombinator.com/item?id=43210001"
    )
    assert (story.engagement.likes, story.engagement.replies) == (212, 58)
    assert story.author.handle == "jdoe" and story.author.url == "https://news.ycombinator.com/user?id=jdoe"
    assert story.published_at.isoformat() == "2025-03-06T11:40:00+00:00" and story.collected_at == NOW
    assert comment.title is None and "&" in comment.text and "<" not in comment.text
    assert "https://status.acme.example.org/" in comment.text
    assert comment.raw["story_title"] == "Postmortem: Acme Cloud outage"
    assert story.source == "hn" and story.source_kind == "hackernews" and story.brands == ("Acme",)


def test_site_filter_uses_links(httpserver: HTTPServer, algolia: FakeAlgolia) -> None:
    # The story links to acme.example.org; the comment quotes a status.acme.example.org URL.
    result = collector(httpserver, "acme site:acme.example.org").fetch(None)
    assert [m.external_id for m in result.mentions] == ["43210077", "43210001"]
    result = collector(httpserver, "acme site:status.acme.example.org").fetch(None)
    assert [m.external_id for m in result.mentions] == ["43210077"]


def test_second_run_reads_only_new_items(httpserver: HTTPServer, algolia: FakeAlgolia) -> None:
    hn = collector(httpserver, "acme")
    first = hn.fetch(None)
    newest = first.cursor["searches"]["acme"]  # type: ignore[index]
    assert newest == {"time": 1741262300, "ids": ["43210077"]}
    same_second = dict(CAPTURED["hits"][0], objectID="43210078", comment_text="Acme again, same second")
    later = dict(CAPTURED["hits"][0], objectID="43210099", created_at_i=1741262400, comment_text="Acme later")
    algolia.hits += [same_second, later]
    second = hn.fetch(json.loads(json.dumps(first.cursor)))
    assert sorted(m.external_id for m in second.mentions) == ["43210078", "43210099"]
    assert algolia.requests[-1]["numericFilters"] == "created_at_i>=1741262300"
    assert hn.fetch(second.cursor).mentions == []


def test_match_everything_query_is_reported_not_searched(
    httpserver: HTTPServer, algolia: FakeAlgolia
) -> None:
    result = collector(httpserver, "*").fetch(None)
    assert result.mentions == [] and algolia.requests == []
    assert result.problems and "not searched on Hacker News" in result.problems[0]


@pytest.mark.parametrize(
    ("status", "body", "headers", "error"),
    [
        (429, "{}", {"Retry-After": "30"}, RateLimited),
        (500, "oops", {}, TemporarilyUnavailable),
        (502, "<html>bad gateway</html>", {}, TemporarilyUnavailable),
        (200, '{"hits": [', {}, BadPayload),
        (200, '{"message": "no hits key"}', {}, BadPayload),
    ],
)
def test_errors(httpserver: HTTPServer, status: int, body: str, headers: dict[str, str], error: type) -> None:
    httpserver.expect_request("/api/v1/search_by_date").respond_with_data(
        body, status=status, headers=headers
    )
    with pytest.raises(error) as caught:
        collector(httpserver, "acme").fetch(None)
    if status == 429:
        assert caught.value.until.timestamp() == NOW.timestamp() + 30  # type: ignore[attr-defined]


def test_timeout(httpserver: HTTPServer) -> None:
    def slow(request: Request) -> Response:
        time.sleep(0.6)
        return Response("{}", content_type="application/json")

    httpserver.expect_request("/api/v1/search_by_date").respond_with_handler(slow)
    with pytest.raises(TemporarilyUnavailable, match="timed out"):
        collector(httpserver, "acme", timeout_seconds=0.2).fetch(None)


def test_unreadable_hits_and_page_limit_are_reported(httpserver: HTTPServer) -> None:
    body = copy.deepcopy(CAPTURED)
    body["hits"].insert(0, {"objectID": "x1", "title": "acme but no time"})
    body["hits"].insert(1, "not even an object")
    httpserver.expect_request("/api/v1/search_by_date").respond_with_json(body)
    result = collector(httpserver, "acme").fetch(None)
    assert len(result.mentions) == 4 and result.fetched == 7
    assert sum("unreadable hit" in p for p in result.problems) == 2
    # max_pages reached with pages left and no window to split into: reported, never silent.
    httpserver.clear()
    httpserver.expect_request("/api/v1/search_by_date").respond_with_handler(FakeAlgolia(CAPTURED["hits"]))
    result = collector(httpserver, "acme", hits_per_page=1, max_pages=2, max_windows=1).fetch(None)
    assert len(result.mentions) == 2 and any("3 of 5 hits" in p and "max_pages" in p for p in result.problems)


def _many_hits(count: int, *, spread: int) -> list[dict[str, Any]]:
    """``count`` matching comments, ``spread`` seconds apart, the newest an hour before NOW."""
    newest = int(NOW.timestamp()) - 3600
    return [
        dict(
            CAPTURED["hits"][0],
            objectID=str(50000000 + i),
            created_at_i=newest - i * spread,
            comment_text="acme",
        )
        for i in range(count)
    ]


def test_searches_over_algolias_cap_are_split_into_time_windows(httpserver: HTTPServer) -> None:
    fake = FakeAlgolia(_many_hits(1500, spread=30))
    httpserver.expect_request("/api/v1/search_by_date").respond_with_handler(fake)
    result = collector(httpserver, "acme", hits_per_page=1000).fetch(None)
    assert len(result.mentions) == 1500 and result.problems == [] and fake.violations == []
    assert any(",created_at_i<" in r["numericFilters"] for r in fake.requests)


def test_hits_over_the_cap_in_one_second_are_reported(httpserver: HTTPServer) -> None:
    fake = FakeAlgolia(_many_hits(1200, spread=0))
    httpserver.expect_request("/api/v1/search_by_date").respond_with_handler(fake)
    result = collector(httpserver, "acme", hits_per_page=1000).fetch(None)
    assert len(result.mentions) == 1000 and fake.violations == []
    (report,) = result.problems
    assert "200 of 1200 hits" in report and "1000-hit cap" in report


def test_one_failing_search_keeps_the_others(httpserver: HTTPServer, algolia: FakeAlgolia) -> None:
    algolia.failing_queries.add("acme support")
    previous = {"searches": {"acme support": {"time": 1741000000, "ids": ["1"]}}}
    result = collector(httpserver, "acme outage OR acme support").fetch(previous)
    assert [m.external_id for m in result.mentions] == ["43210077", "43210001"]  # the 'outage' search's
    assert result.failures == ["acme support: /search_by_date: HTTP 500"]
    assert result.cursor["searches"]["acme support"] == {"time": 1741000000, "ids": ["1"]}  # type: ignore[index]
    algolia.failing_queries.add("acme outage")
    with pytest.raises(TemporarilyUnavailable):
        collector(httpserver, "acme outage OR acme support").fetch(previous)
