"""The rss collector: the feedparser corpus end to end, plus targeted feed behaviours."""

from __future__ import annotations

import gzip
import io
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import ThreadingHTTPServer
from typing import Any

import feedparser
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from collectors.errors import RateLimited, TemporarilyUnavailable
from collectors.normalise import stable_id
from collectors.rss import RssCollector, RssOptions, is_benign
from tests.collectors.conftest import (
    CORPUS,
    NOW,
    _CorpusHandler,
    corpus_headers,
    load_fixture,
    make_context,
)

CORPUS_FILES = sorted(p.relative_to(CORPUS).as_posix() for p in CORPUS.rglob("*.xml"))


def collector(feeds: list[str], *queries: str, timeout: float = 2.0, **options: object) -> RssCollector:
    # The fake servers listen on 127.0.0.1, which the SSRF guard refuses unless allowed.
    options.setdefault("allow_private", True)
    return RssCollector(
        name="feeds",
        options=RssOptions(feeds=feeds, **options),
        context=make_context(*(queries or ("acme",)), timeout=timeout),
    )


def _parse_alone(name: str) -> feedparser.FeedParserDict:
    body = (CORPUS / name).read_bytes()
    headers = {k.lower(): v for k, v in corpus_headers(body).items()}
    return feedparser.parse(io.BytesIO(body), response_headers=headers)


def _independent_entry_count(name: str) -> int:
    """Distinct entries feedparser reads from a corpus file on its own.

    An entry is the same item as another when they share an id; without ids,
    a link; without either, identical title and text (nothing else tells them apart).
    """
    parsed = _parse_alone(name)
    identities = {e.get("id") or e.get("link") or (e.get("title"), e.get("summary")) for e in parsed.entries}
    return len(identities)


class _BacklogServer(ThreadingHTTPServer):
    # The stdlib default listen backlog is 5: with 8 parallel clients on a loaded machine, SYNs
    # beyond it were dropped and retried after 1 s, past the 2 s timeout, and a feed went missing.
    request_queue_size = 128
    daemon_threads = True


@pytest.fixture(scope="module")
def roomy_corpus_server() -> Iterator[str]:
    """The feedparser corpus on 127.0.0.1, from a server whose backlog holds every parallel client."""
    server = _BacklogServer(("127.0.0.1", 0), _CorpusHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_whole_feedparser_corpus(roomy_corpus_server: str) -> None:
    corpus_server = roomy_corpus_server
    assert len(CORPUS_FILES) > 2000  # the corpus is there; an empty glob must not pass silently
    urls = [corpus_server + name for name in CORPUS_FILES]
    # A loopback server cannot be slow for a reason worth a test failure; only a loaded CI machine
    # makes it slow, so the timeout is generous (it bounds a hang, not performance).
    result = collector(urls, "*", concurrency=8, timeout=120.0).fetch(None)
    assert result.failures == []

    per_feed = Counter(m.external_id.split(":", 1)[0] for m in result.mentions)
    missing = []
    for name, url in zip(CORPUS_FILES, urls, strict=True):
        expected = _independent_entry_count(name)
        got = per_feed[stable_id(url)[:10]]
        if got != expected:
            missing.append((name, expected, got))
    assert missing == [], missing
    assert result.fetched >= len(result.mentions) > 1000
    # Malformed feeds are reported (with how much was read), not silently accepted.
    reported = {p.split(": ", 1)[0] for p in result.problems}
    malformed = {
        corpus_server + name
        for name in CORPUS_FILES
        if (parsed := _parse_alone(name)).bozo and not is_benign(parsed.get("bozo_exception"))
    }
    assert len(malformed) > 50
    assert malformed <= reported
    for mention in result.mentions:
        assert "<script" not in mention.text.lower() and "<script" not in (mention.title or "").lower()
        assert mention.url is None or mention.url.startswith(("http://", "https://"))
        assert mention.published_at.tzinfo is not None
        assert mention.brands == ("Acme",) and mention.source_kind == "rss"
    assert set(result.cursor["feeds"]) == set(urls)  # type: ignore[index]


# ------------------------------------------------------------------ targeted behaviours

RSS_TYPE = "application/rss+xml; charset=utf-8"
ATOM_TYPE = "application/atom+xml"

FIXTURE_CASES = [
    # (fixture, content type, query, expected (title, url, text fragment, published, author, lang))
    (
        "blog_rss2.xml",
        RSS_TYPE,
        "acme -jobs",
        [
            (
                "Acme recalls the Rocket Skates",  # HTML stripped from an escaped-HTML title
                "{feed}2025/03/acme-recall",  # relative to the feed URL, tracking parameters removed
                "recalling 10,000 pairs of Rocket Skates",
                datetime(2025, 3, 4, 8, 30, tzinfo=UTC),
                "Jane Doe",
                "en",
            )
        ],
    ),
    (
        "releases_atom.xml",
        ATOM_TYPE,
        "acme",
        [
            (
                "Postmortem: Acme Cloud outage",
                "https://acme.example.org/blog/posts/2025-03-05-postmortem.html",  # xml:base resolved
                "Acme Cloud was down for 42 minutes",
                datetime(2025, 3, 5, 16, 0, tzinfo=UTC),
                "Ops Team",
                "en",
            ),
            (
                "Release 4.2 <beta> of the SDK",  # a text title keeps its literal angle brackets
                "https://acme.example.org/blog/posts/release-4-2.html",
                "What is new in the Acme SDK.",
                datetime(2025, 3, 1, 9, 0, tzinfo=UTC),
                "Acme Engineering",
                "en",
            ),
        ],
    ),
    (
        "no_ids_no_dates.xml",
        RSS_TYPE,
        "acme",
        [
            (
                "Acme anvil broke on first use",
                "http://forum.example.net/t/123",
                "Mine cracked",
                NOW,
                "Forum digest",
                None,
            ),
            ("Acme support was great", None, "No link and no id", NOW, "Forum digest", None),
            (None, None, "Untitled note mentioning acme.", NOW, "Forum digest", None),
        ],
    ),
    (
        # Reddit without credentials: its public search feed, still filtered by the brand query.
        "reddit_search_atom.xml",
        ATOM_TYPE,
        "acme",
        [
            (
                "Acme Cloud down again?",
                "https://www.reddit.com/r/sysadmin/comments/1j4xk2q/acme_cloud_down_again/",
                "Anyone else seeing Acme Cloud 503s",
                datetime(2025, 3, 6, 11, 55, tzinfo=UTC),
                "/u/pager_duty_dan",
                None,
            )
        ],
    ),
    (
        "latin1.xml",
        "application/rss+xml; charset=ISO-8859-1",
        "acme",
        [
            (
                "Acme ouvre un café à Paris",
                "http://cafe.example.fr/1",
                "Crème brûlée offerte.",
                datetime(2025, 3, 5, 6, 0, tzinfo=UTC),
                "Café Acme",
                "fr",
            )
        ],
    ),
]


@pytest.mark.parametrize(("fixture", "content_type", "query", "expected"), FIXTURE_CASES)
def test_captured_feeds(
    httpserver: HTTPServer, fixture: str, content_type: str, query: str, expected: list[tuple[Any, ...]]
) -> None:
    httpserver.expect_request("/feed").respond_with_data(
        load_fixture("rss", fixture), content_type=content_type
    )
    result = collector([httpserver.url_for("/feed")], query).fetch(None)
    expected = [(e[0], e[1] and e[1].format(feed=httpserver.url_for("/")), *e[2:]) for e in expected]
    got = [(m.title, m.url, m.text, m.published_at, m.author.handle, m.language) for m in result.mentions]
    assert [g[:2] for g in got] == [e[:2] for e in expected]
    for (_, _, text, published, author, language), (_, _, fragment, e_pub, e_author, e_lang) in zip(
        got, expected, strict=True
    ):
        assert fragment in text and "<" not in text.replace("<beta>", "")
        assert (published, author, language) == (e_pub, e_author, e_lang)
    for mention in result.mentions:
        assert mention.collected_at == NOW and mention.source == "feeds" and mention.brands == ("Acme",)
        assert mention.raw and json.dumps(mention.raw)  # the entry, as plain JSON
    assert result.problems == []


def test_script_and_markup_never_reach_text(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/feed").respond_with_data(
        load_fixture("rss", "blog_rss2.xml"), content_type=RSS_TYPE
    )
    (mention,) = collector([httpserver.url_for("/feed")], "recalls").fetch(None).mentions
    assert "alert" not in mention.text and "<" not in mention.text and "Read the FAQ" in mention.text
    assert mention.engagement.replies == 17


def test_wrong_charset_and_bozo_feeds_keep_what_they_can(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/latin").respond_with_data(
        load_fixture("rss", "latin1.xml"), content_type="application/rss+xml; charset=utf-8"
    )
    httpserver.expect_request("/broken").respond_with_data(
        load_fixture("rss", "bozo_truncated.xml"), content_type=RSS_TYPE
    )
    result = collector([httpserver.url_for("/latin"), httpserver.url_for("/broken")]).fetch(None)
    titles = [m.title or "" for m in result.mentions]
    assert titles[0].startswith("Acme ouvre un caf")  # decoded by falling back, never a crash
    assert titles[1:] == ["Acme & friends", "Acme second"]
    assert any("/broken: malformed feed" in p for p in result.problems)


def _versioned_feed(items: list[int]) -> bytes:
    entries = "".join(
        f"<item><title>Acme news {i}</title><link>http://n.example.com/{i}</link>"
        f"<pubDate>Wed, 0{i} Jan 2025 10:00:00 GMT</pubDate></item>"
        for i in items
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>N</title>{entries}</channel></rss>'.encode()
    )


def test_second_run_reads_only_new_entries(httpserver: HTTPServer) -> None:
    feed = httpserver.url_for("/feed")
    rss = collector([feed])
    httpserver.expect_ordered_request("/feed").respond_with_data(
        _versioned_feed([2, 1]), content_type=RSS_TYPE
    )
    httpserver.expect_ordered_request("/feed").respond_with_data(
        _versioned_feed([3, 2, 1]), content_type=RSS_TYPE
    )
    first = rss.fetch(None)
    second = rss.fetch(json.loads(json.dumps(first.cursor)))  # the cursor survives a JSON round trip
    assert [m.title for m in first.mentions] == ["Acme news 2", "Acme news 1"]
    assert [m.title for m in second.mentions] == ["Acme news 3"]
    assert second.fetched == 3


def test_entries_without_ids_or_dates_are_not_repeated(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/feed").respond_with_data(
        load_fixture("rss", "no_ids_no_dates.xml"), content_type=RSS_TYPE
    )
    rss = collector([httpserver.url_for("/feed")])
    first = rss.fetch(None)
    assert len(first.mentions) == 3
    assert rss.fetch(first.cursor).mentions == []


def _conditional(request: Request) -> Response:
    if (
        request.headers.get("If-None-Match") == '"v1"'
        or request.headers.get("If-Modified-Since") == "Wed, 01 Jan 2025"
    ):
        return Response(status=304)
    return Response(
        _versioned_feed([1]),
        content_type=RSS_TYPE,
        headers={"ETag": '"v1"', "Last-Modified": "Wed, 01 Jan 2025"},
    )


def test_not_modified_keeps_the_cursor(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/feed").respond_with_handler(_conditional)
    rss = collector([httpserver.url_for("/feed")])
    first = rss.fetch(None)
    state = first.cursor["feeds"][httpserver.url_for("/feed")]  # type: ignore[index]
    assert (state["etag"], state["last_modified"]) == ('"v1"', "Wed, 01 Jan 2025")
    second = rss.fetch(first.cursor)
    assert second.mentions == [] and second.problems == [] and second.cursor == first.cursor
    assert [r.headers.get("If-None-Match") for r, _ in httpserver.log] == [None, '"v1"']


def test_gzip_bodies_are_decoded(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/feed").respond_with_data(
        gzip.compress(_versioned_feed([1])), content_type=RSS_TYPE, headers={"Content-Encoding": "gzip"}
    )
    assert [m.title for m in collector([httpserver.url_for("/feed")]).fetch(None).mentions] == ["Acme news 1"]


def test_size_limit_is_enforced_while_streaming(httpserver: HTTPServer) -> None:
    huge = _versioned_feed([1]).replace(b"<title>N</title>", b"<title>" + b"N" * 300_000 + b"</title>")
    bomb = gzip.compress(huge.replace(b"N" * 300_000, b" " * 20_000_000))  # 20 MB once decompressed
    httpserver.expect_request("/huge").respond_with_data(huge, content_type=RSS_TYPE)
    httpserver.expect_request("/bomb").respond_with_data(
        bomb, content_type=RSS_TYPE, headers={"Content-Encoding": "gzip"}
    )
    httpserver.expect_request("/ok").respond_with_data(_versioned_feed([2]), content_type=RSS_TYPE)
    urls = [httpserver.url_for(p) for p in ("/huge", "/bomb", "/ok")]
    result = collector(urls, max_bytes=100_000).fetch(None)
    assert [m.title for m in result.mentions] == ["Acme news 2"]
    assert sorted(p.split(": ")[0] for p in result.failures) == sorted(urls[:2])
    assert all("100000-byte limit" in p for p in result.failures)


def test_one_failing_feed_does_not_lose_the_others(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/down").respond_with_data("oops", status=503)
    httpserver.expect_request("/ok").respond_with_data(_versioned_feed([1]), content_type=RSS_TYPE)
    down, ok = httpserver.url_for("/down"), httpserver.url_for("/ok")
    previous = {"feeds": {down: {"etag": '"old"', "seen": [["k", 1.0]]}}}
    result = collector([down, ok]).fetch(previous)
    assert [m.title for m in result.mentions] == ["Acme news 1"]
    assert result.failures == [f"{down}: TemporarilyUnavailable: HTTP 503"] and result.problems == []
    assert result.cursor["feeds"][down]["etag"] == '"old"'  # type: ignore[index]


@pytest.mark.parametrize(
    ("status", "headers", "error"),
    [
        (503, {}, TemporarilyUnavailable),
        (429, {"Retry-After": "120"}, RateLimited),
    ],
)
def test_all_feeds_failing_raises(
    httpserver: HTTPServer, status: int, headers: dict[str, str], error: type
) -> None:
    httpserver.expect_request("/a").respond_with_data("", status=status, headers=headers)
    httpserver.expect_request("/b").respond_with_data("", status=status, headers=headers)
    with pytest.raises(error) as caught:
        collector([httpserver.url_for("/a"), httpserver.url_for("/b")]).fetch(None)
    if isinstance(caught.value, RateLimited):
        assert caught.value.until == NOW + timedelta(seconds=120)


def test_timeout_is_temporary(httpserver: HTTPServer) -> None:
    def slow(request: Request) -> Response:
        time.sleep(1.0)
        return Response(_versioned_feed([1]), content_type=RSS_TYPE)

    httpserver.expect_request("/slow").respond_with_handler(slow)
    with pytest.raises(TemporarilyUnavailable, match="timed out"):
        collector([httpserver.url_for("/slow")], timeout_seconds=0.3).fetch(None)


def test_redirects_are_followed_but_bounded(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/moved").respond_with_data("", status=301, headers={"Location": "/feed"})
    httpserver.expect_request("/feed").respond_with_data(
        load_fixture("rss", "blog_rss2.xml"), content_type=RSS_TYPE
    )
    httpserver.expect_request("/loop").respond_with_data("", status=302, headers={"Location": "/loop"})
    moved, loop = httpserver.url_for("/moved"), httpserver.url_for("/loop")
    result = collector([moved, loop], "recalls").fetch(None)
    assert [m.url for m in result.mentions] == [httpserver.url_for("/2025/03/acme-recall")]
    assert len(result.failures) == 1 and "too many redirects" in result.failures[0]


def test_seen_list_is_bounded_and_leaves_a_horizon(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/feed").respond_with_data(
        _versioned_feed(list(range(9, 0, -1))), content_type=RSS_TYPE
    )
    rss = collector([httpserver.url_for("/feed")], max_seen_per_feed=10)
    first = rss.fetch(None)
    state = first.cursor["feeds"][httpserver.url_for("/feed")]  # type: ignore[index]
    assert len(first.mentions) == 9 and len(state["seen"]) == 9 and state["horizon"] is None
    bigger = _versioned_feed(list(range(9, 0, -1))).replace(
        b"</channel>",
        b"".join(
            f"<item><title>Acme old {i}</title><link>http://o.example.com/{i}</link>"
            f"<pubDate>Mon, 0{i} Dec 2024 10:00:00 GMT</pubDate></item>".encode()
            for i in range(1, 6)
        )
        + b"</channel>",
    )
    httpserver.clear()
    httpserver.expect_request("/feed").respond_with_data(bigger, content_type=RSS_TYPE)
    second = rss.fetch(first.cursor)
    state = second.cursor["feeds"][httpserver.url_for("/feed")]  # type: ignore[index]
    assert len(state["seen"]) == 10 and state["horizon"] is not None
    assert len(second.mentions) == 5  # the five old entries were never seen before
    assert rss.fetch(second.cursor).mentions == []  # forgotten keys stay behind the horizon


def test_options_reject_non_http_feeds() -> None:
    with pytest.raises(ValueError, match=r"feeds\[1\] is not an http") as caught:
        RssOptions(feeds=["https://ok.example.com/feed", "file:///etc/passwd?key=s3cret"])
    assert "s3cret" not in str(caught.value)
    with pytest.raises(ValueError):
        RssOptions(feeds=[])
