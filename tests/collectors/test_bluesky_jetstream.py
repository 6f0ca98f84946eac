"""The bluesky-jetstream collector against a websocket server on 127.0.0.1 speaking Jetstream.

The fake replays ``fixtures/bluesky_jetstream/events.jsonl`` (one message a line, malformed ones
included) from the cursor, filtered by ``wantedCollections``, up to its "present"; then, like the
real never-quiet stream, it sends one live event stamped with the present.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import ValidationError
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import ServerConnection, serve

from collectors.base import Collector, CollectorOptions, FetchResult
from collectors.bluesky_jetstream import (
    POST_COLLECTION,
    JetstreamCollector,
    JetstreamOptions,
    from_time_us,
    subscribe_url,
)
from collectors.errors import BadConfiguration, CollectorError, RateLimited, TemporarilyUnavailable
from tests.collectors.conftest import NOW, load_fixture, make_context

LINES: list[str] = load_fixture("bluesky_jetstream", "events.jsonl").decode("utf-8").splitlines()
NOW_US = (NOW - from_time_us(0)) // timedelta(microseconds=1)
SECOND = 1_000_000


def _event(line: str | bytes) -> dict[str, Any] | None:
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


def _post(text_start: str) -> dict[str, Any]:
    """The first create-post event whose text starts with ``text_start``."""
    for line in LINES:
        event = _event(line)
        record = ((event or {}).get("commit") or {}).get("record")
        if isinstance(record, dict) and str(record.get("text", "")).startswith(text_start):
            return event  # type: ignore[return-value]
    raise AssertionError(text_start)


OLD = _post("Acme support answered")  # two minutes before NOW: outside a first run
CHECKOUT = _post("Acme checkout has been failing")  # English; redelivered later in the stream
COFFEE = _post("morning coffee")
PORTUGUESE = _post("A Acme caiu")  # langs pt-BR
REPLY = _post("@mira.bsky.social same here")  # a reply to CHECKOUT, with a link facet
ACMEVILLE = _post("acmeville")
EMBED = _post("Acme's incident write-up")  # external embed; createdAt is unreadable
RECOVERED = _post("Acme checkout is back")  # 4 s after NOW
TAGGED = _post("still getting 502s")  # 15 s after NOW


def uri(event: dict[str, Any]) -> str:
    return f"at://{event['did']}/{POST_COLLECTION}/{event['commit']['rkey']}"


TIMES = [e["time_us"] for e in map(_event, LINES) if e and "time_us" in e]
REDELIVERY_US = max(t for t in TIMES if t <= NOW_US)  # Jetstream sends CHECKOUT again 3.5 s before NOW
LIVE_US = RECOVERED["time_us"]  # the first event after NOW
IDENTITY_US = min(t for t in TIMES if t > NOW_US + 20 * SECOND)
FIRST_RUN = [uri(e) for e in (CHECKOUT, PORTUGUESE, REPLY, EMBED)]  # "acme", NOW - 60 s .. NOW
LATER = [uri(e) for e in (RECOVERED, TAGGED)]  # "acme", NOW .. NOW + 30 s


class FakeJetstream:
    """Jetstream's /subscribe: records the query, replays events from its cursor, then tails."""

    def __init__(self) -> None:
        self.lines = list(LINES)
        self.present_us = NOW_US  # the newest event the service holds
        self.tail = True  # after replaying, send one live event stamped with the present
        self.honour_filter = True
        self.stop_after: int | None = None  # messages sent before the stream is cut
        self.close_code: int | None = None  # cut with this close frame; None drops the TCP connection
        self.reject: tuple[int, dict[str, str]] | None = None  # answer the handshake with HTTP status
        self.prefix: list[str | bytes] = []  # extra messages sent first (malformed ones)
        self.queries: list[dict[str, list[str]]] = []
        self.url = ""

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if self.reject is None:
            return None
        response = connection.respond(self.reject[0], "rejected\n")
        response.headers.update(self.reject[1])
        return response

    def replay(self, query: dict[str, list[str]]) -> list[str | bytes]:
        wanted = set(query.get("wantedCollections", []))
        cursor = int(query["cursor"][0]) if "cursor" in query else self.present_us
        started = False
        out: list[str | bytes] = []
        for line in self.lines:
            event = _event(line)
            time_us = (event or {}).get("time_us")
            if isinstance(time_us, int):
                if time_us > self.present_us:
                    break
                started = started or time_us >= cursor
                commit = (event or {}).get("commit") or {}
                if not started or (self.honour_filter and commit and commit.get("collection") not in wanted):
                    continue
            elif not started:  # an unreadable line goes out where it sits in the stream
                continue
            out.append(line)
        if self.tail:
            account = next(e for e in map(_event, LINES) if e and e.get("kind") == "account")
            out.append(json.dumps(account | {"time_us": self.present_us}, separators=(",", ":")))
        return [*self.prefix, *out]

    def handler(self, websocket: ServerConnection) -> None:
        assert websocket.request is not None
        query = parse_qs(urlsplit(websocket.request.path).query)
        self.queries.append(query)
        for sent, message in enumerate(self.replay(query)):
            if sent == self.stop_after:
                if self.close_code is None:  # a dropped connection: no close frame at all
                    websocket.socket.shutdown(socket.SHUT_RDWR)
                else:
                    websocket.close(self.close_code, "jetstream shutting down")
                return
            websocket.send(message)
        try:
            for _ in websocket:  # live with nothing new: hold the stream open until the client leaves
                pass
        except ConnectionClosed:
            pass


@pytest.fixture
def jetstream() -> Iterator[FakeJetstream]:
    fake = FakeJetstream()
    server = serve(fake.handler, "127.0.0.1", 0, process_request=fake.process_request)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"ws://127.0.0.1:{server.socket.getsockname()[1]}/subscribe"
    yield fake
    server.shutdown()
    thread.join(5)


def collector(url: str, *queries: str, now_us: int = NOW_US, **options: Any) -> JetstreamCollector:
    return JetstreamCollector(
        name="bsky-live",
        options=JetstreamOptions(url=url, **{"max_seconds": 5.0, **options}),
        context=make_context(*(queries or ("acme",)), now=from_time_us(now_us), timeout=2.0),
    )


def fetch(jetstream: FakeJetstream, cursor: Any = None, *queries: str, **options: Any) -> FetchResult:
    result = collector(jetstream.url, *queries, **options).fetch(cursor)
    json.dumps(result.cursor)  # the pipeline stores it as JSON
    return result


def uris(result: FetchResult) -> list[str]:
    return [m.external_id for m in result.mentions]


def cursor_us(result: FetchResult) -> int:
    assert result.cursor is not None
    return int(result.cursor["time_us"])


@pytest.mark.parametrize(
    ("queries", "honour_filter", "expected"),
    [
        (["acme"], True, FIRST_RUN),
        (["acme"], False, FIRST_RUN),  # likes in the stream (an unfiltered instance) are ignored
        (["acme lang:pt"], True, [uri(PORTUGUESE)]),
        (["acme OR acmeville"], True, [*FIRST_RUN[:3], uri(ACMEVILLE), FIRST_RUN[3]]),
        (["acme site:status.acme.example.org"], True, [uri(REPLY), uri(EMBED)]),
        (["coffee OR bakery"], True, [uri(COFFEE)]),
        (["lumora"], True, []),
    ],
)
def test_first_run(
    jetstream: FakeJetstream, queries: list[str], honour_filter: bool, expected: list[str]
) -> None:
    jetstream.honour_filter = honour_filter
    result = fetch(jetstream, None, *queries)
    assert uris(result) == expected
    (query,) = jetstream.queries
    assert query == {"wantedCollections": [POST_COLLECTION], "cursor": [str(NOW_US - 60 * SECOND)]}
    # Only posts last read within the rewind (5 s) of the cursor are remembered.
    recent = {uri(CHECKOUT): REDELIVERY_US} if uri(CHECKOUT) in expected else {}
    assert result.cursor == {"time_us": NOW_US, "recent": recent}
    # identity, posts, delete, account, edit, redelivery, malformed lines, the live event (and a like)
    assert result.fetched == (15 if honour_filter else 16)
    kinds = ["not JSON", "no usable time_us", "record is not a post"]
    assert [next(k for k in kinds if k in p) for p in result.problems] == kinds


def test_normalised_fields(jetstream: FakeJetstream) -> None:
    mentions = {m.external_id: m for m in fetch(jetstream).mentions}
    checkout = mentions[uri(CHECKOUT)]
    did, rkey = CHECKOUT["did"], CHECKOUT["commit"]["rkey"]
    assert checkout.url == f"https://bsky.app/profile/{did}/post/{rkey}"
    assert (checkout.author.handle, checkout.author.url) == (did, f"https://bsky.app/profile/{did}")
    assert checkout.text == CHECKOUT["commit"]["record"]["text"] and checkout.language == "en"
    assert checkout.published_at.isoformat() == "2025-03-06T11:59:01.400000+00:00"  # createdAt
    assert checkout.collected_at == NOW and checkout.source_kind == "bluesky-jetstream"
    assert checkout.source == "bsky-live" and checkout.brands == ("Acme",)
    assert checkout.raw == CHECKOUT  # the first delivery, though Jetstream sent it twice
    assert mentions[uri(PORTUGUESE)].language == "pt"
    reply = mentions[uri(REPLY)]
    assert reply.raw["commit"]["record"]["reply"]["parent"]["uri"] == uri(CHECKOUT)
    embed = mentions[uri(EMBED)]
    assert embed.raw["commit"]["record"]["createdAt"] == "2025-03-06 sometime"
    assert embed.published_at == from_time_us(EMBED["time_us"])  # unreadable createdAt: time_us


def test_second_run_resumes_from_the_cursor(jetstream: FakeJetstream) -> None:
    first = fetch(jetstream)
    jetstream.present_us = NOW_US + 30 * SECOND  # half a minute later
    stored = json.loads(json.dumps(first.cursor))
    second = collector(jetstream.url, now_us=jetstream.present_us).fetch(stored)
    assert jetstream.queries[-1]["cursor"] == [str(NOW_US - 5 * SECOND)]  # rewound a little
    assert uris(second) == LATER  # the redelivered CHECKOUT inside the rewind is not returned again
    assert second.problems == [] and cursor_us(second) == jetstream.present_us
    third = collector(jetstream.url, now_us=jetstream.present_us).fetch(second.cursor)
    assert uris(third) == []


@pytest.mark.parametrize(
    ("options", "cut", "first_uris", "problem"),
    [
        # messages: identity, CHECKOUT, coffee, truncated, PORTUGUESE, REPLY, delete, account, ...
        ({"max_events": 4}, (None, None), FIRST_RUN[:1], None),
        ({}, (5, None), FIRST_RUN[:2], "dropped without a close frame"),
        ({}, (6, 1011), FIRST_RUN[:3], "code 1011: jetstream shutting down"),
        ({}, (14, 1001), FIRST_RUN, "code 1001"),
    ],
)
def test_interrupted_fetch_resumes_without_loss(
    jetstream: FakeJetstream, options: dict[str, Any], cut: Any, first_uris: list[str], problem: str | None
) -> None:
    jetstream.stop_after, jetstream.close_code = cut
    first = fetch(jetstream, None, **options)
    assert uris(first) == first_uris
    read = [e for e in map(_event, jetstream.replay(jetstream.queries[0])[: first.fetched]) if e]
    last_read = [e["time_us"] for e in read if "time_us" in e][-1]
    assert cursor_us(first) == last_read
    closed = [p for p in first.problems if "closed the stream" in p]
    assert len(closed) == (problem is not None) and all(str(problem) in p for p in closed)
    jetstream.stop_after = None
    second = fetch(jetstream, json.loads(json.dumps(first.cursor)))
    assert jetstream.queries[-1]["cursor"] == [str(last_read - 5 * SECOND)]
    # Nothing lost, and nothing from the rewind twice. Jetstream's second delivery of CHECKOUT, 54 s
    # after the first, is beyond what the cursor remembers: if it falls in the second run it comes
    # back once more, and the store (keyed by source and URI) absorbs it.
    redelivered = [uri(CHECKOUT)] if last_read < REDELIVERY_US else []
    assert uris(second) == [u for u in FIRST_RUN if u not in uris(first)] + redelivered


@pytest.mark.parametrize(
    ("present", "tail", "expected", "end"),
    [
        # The service already holds events after our "now": stop at the first of them (RECOVERED).
        (NOW_US + 30 * SECOND, True, [*FIRST_RUN, uri(RECOVERED)], RECOVERED["time_us"]),
        # The replay ends and nothing new arrives: max_seconds ends the fetch.
        (NOW_US, False, FIRST_RUN, REDELIVERY_US),
    ],
)
def test_where_a_fetch_stops(
    jetstream: FakeJetstream, present: int, tail: bool, expected: list[str], end: int
) -> None:
    jetstream.present_us, jetstream.tail = present, tail
    result = fetch(jetstream, None, max_seconds=1.0 if not tail else 30.0)
    assert uris(result) == expected and cursor_us(result) == end


BINARY = b"\x28\xb5\x2f\xfd\x00\x58"  # a zstd frame header: a compressed message we never asked for
BAD_RKEY = json.dumps(CHECKOUT | {"commit": CHECKOUT["commit"] | {"rkey": "a/b"}})
BAD_FACETS = json.dumps(
    CHECKOUT | {"commit": CHECKOUT["commit"] | {"record": {"text": "acme", "facets": "x"}}}
)


@pytest.mark.parametrize(
    ("prefix", "problem", "count"),
    [
        (['{"did":"did:plc:x","time_us":17412'], "not JSON", 4),  # the fixture's own three follow
        (["[" * 50_000], "not JSON (RecursionError", 4),
        (["[]"], "no usable time_us", 4),
        (['{"time_us":true,"kind":"commit"}'], "no usable time_us", 4),
        (['{"time_us":1e300,"kind":"commit"}'], "no usable time_us", 4),
        (['{"time_us":100000000000000000000000000,"kind":"commit"}'], "no usable time_us", 4),
        ([BINARY], "binary frame (6 bytes)", 4),
        ([BAD_RKEY], "without a usable rkey", 4),
        ([BAD_FACETS], "unreadable record (AttributeError)", 4),
        ([json.dumps(CHECKOUT | {"did": 42})], "without a did or commit", 4),
        (["{"] * 40, "not JSON", 26),  # 25 listed, then "18 more problems not listed"
    ],
)
def test_malformed_messages_are_reported_and_skipped(
    jetstream: FakeJetstream, prefix: list[str | bytes], problem: str, count: int
) -> None:
    jetstream.prefix = prefix
    result = fetch(jetstream)
    assert uris(result) == FIRST_RUN and cursor_us(result) == NOW_US
    assert problem in result.problems[0] and result.problems[0].startswith("message 1:")
    assert len(result.problems) == count
    assert count < 26 or result.problems[-1] == "18 more problems not listed"


@pytest.mark.parametrize(
    ("cursor", "sent", "first", "end", "problem"),
    [
        ({"time_us": "soon"}, NOW_US - 60 * SECOND, CHECKOUT, LIVE_US, "starting as on a first run"),
        # Ten days back is beyond Jetstream's replay window: it starts from its oldest event.
        ({"time_us": NOW_US - 864_000 * SECOND}, NOW_US - 864_005 * SECOND, OLD, LIVE_US, "were missed"),
        # The cursor is 20 s ahead of our clock (it jumped back): reading must still get past it.
        ({"time_us": NOW_US + 20 * SECOND}, NOW_US + 15 * SECOND, TAGGED, IDENTITY_US, None),
    ],
)
def test_odd_cursors(
    jetstream: FakeJetstream, cursor: Any, sent: int, first: dict[str, Any], end: int, problem: str | None
) -> None:
    jetstream.present_us = NOW_US + 30 * SECOND
    result = collector(jetstream.url).fetch(cursor)
    assert jetstream.queries[0]["cursor"] == [str(sent)]
    assert uris(result)[0] == uri(first) and cursor_us(result) == end
    assert (problem in result.problems[0]) if problem else result.problems == []


@pytest.fixture
def raw_server() -> Iterator[tuple[socket.socket, str]]:
    """A bare TCP listener: it answers handshakes only if a test tells it to."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    yield listener, f"ws://127.0.0.1:{listener.getsockname()[1]}/subscribe"
    listener.close()


@pytest.mark.parametrize(
    ("reply", "match"),
    [
        (b"", "ConnectionRefusedError"),  # nobody listening
        (None, "TimeoutError"),  # accepts the TCP connection, never answers the handshake
        (b"SSH-2.0-OpenSSH_9.6\r\n", "InvalidMessage"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "HTTP 200"),  # a web page, not a websocket
    ],
)
def test_connection_failures(raw_server: tuple[socket.socket, str], reply: bytes | None, match: str) -> None:
    listener, url = raw_server

    def answer_once(reply: bytes) -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(reply)

    if reply == b"":
        listener.close()
    elif reply is not None:
        threading.Thread(target=answer_once, args=(reply,), daemon=True).start()
    with pytest.raises(TemporarilyUnavailable, match=match):
        collector(url, timeout_seconds=0.3).fetch(None)


@pytest.mark.parametrize(
    ("reject", "error", "match"),
    [
        ((503, {}), TemporarilyUnavailable, "HTTP 503"),
        ((429, {"Retry-After": "30"}), RateLimited, "rate limited"),
        ((404, {}), BadConfiguration, "check the URL"),
        ((400, {}), BadConfiguration, "HTTP 400"),
    ],
)
def test_handshake_refused(
    jetstream: FakeJetstream, reject: tuple[int, dict[str, str]], error: type[CollectorError], match: str
) -> None:
    jetstream.reject = reject
    with pytest.raises(error, match=match) as caught:
        fetch(jetstream)
    if isinstance(caught.value, RateLimited):
        assert caught.value.until == NOW + timedelta(seconds=30)


@pytest.mark.parametrize(
    ("stop_after", "close_code", "tail", "match"),
    [
        (0, None, True, "closed the stream at once"),
        (0, 1008, True, "code 1008"),
        (None, None, False, "sent nothing in 0.3 s"),
    ],
)
def test_nothing_read_is_unavailable(
    jetstream: FakeJetstream, stop_after: int | None, close_code: int | None, tail: bool, match: str
) -> None:
    jetstream.stop_after, jetstream.close_code, jetstream.tail = stop_after, close_code, tail
    jetstream.lines = []
    with pytest.raises(TemporarilyUnavailable, match=match):
        fetch(jetstream, None, max_seconds=0.3)


def test_options_seam_and_subscribe_url() -> None:
    assert issubclass(JetstreamCollector, Collector) and JetstreamCollector.kind == "bluesky-jetstream"
    assert JetstreamCollector.options_model is JetstreamOptions and issubclass(
        JetstreamOptions, CollectorOptions
    )
    assert JetstreamOptions().url == "wss://jetstream2.us-east.bsky.network/subscribe"
    with pytest.raises(ValidationError, match="ws:// or wss://"):
        JetstreamOptions(url="https://jetstream2.us-east.bsky.network/subscribe")
    with pytest.raises(ValidationError, match="Extra inputs"):
        JetstreamOptions(wanted_collections=["app.bsky.feed.like"])  # type: ignore[call-arg]
    url = subscribe_url("wss://js.example/subscribe?wantedDids=did:plc:a&cursor=1", 42)
    query = {"wantedDids": ["did:plc:a"], "wantedCollections": [POST_COLLECTION], "cursor": ["42"]}
    assert parse_qs(urlsplit(url).query) == query
