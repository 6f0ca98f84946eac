"""The rss collector under attack (issue 10): slow-drip feeds, SSRF, secrets in feed URLs."""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer

from collectors.errors import TemporarilyUnavailable
from collectors.http import DeadlineExceeded, run_deadline
from collectors.netguard import BlockedAddress, is_public
from collectors.redact import redact_url
from tests.collectors.test_rss import RSS_TYPE, _versioned_feed, collector
from tests.slowfeed import dripping_server


@pytest.fixture
def drip_server() -> Iterator[HTTPServer]:
    with dripping_server() as server:
        yield server


def test_slow_drip_feed_hits_the_run_deadline_and_fails_only_itself(
    httpserver: HTTPServer, drip_server: HTTPServer
) -> None:
    httpserver.expect_request("/ok").respond_with_data(_versioned_feed([1]), content_type=RSS_TYPE)
    drip, ok = drip_server.url_for("/drip"), httpserver.url_for("/ok")
    # Each read arrives well within the 5 s per-read timeout; only the run's deadline can stop it.
    rss = collector([drip, ok], timeout=5.0)
    with run_deadline(3.0):
        result = rss.fetch({"feeds": {drip: {"etag": '"old"'}}})
    assert [m.title for m in result.mentions] == ["Acme news 1"]
    assert len(result.failures) == 1
    assert result.failures[0].startswith(f"{redact_url(drip)}: DeadlineExceeded: ")
    assert "deadline of 3 s exceeded" in result.failures[0]
    assert result.cursor["feeds"][drip]["etag"] == '"old"'  # type: ignore[index]
    with run_deadline(2.0), pytest.raises(DeadlineExceeded):
        collector([drip], timeout=5.0).fetch(None)


def test_loopback_feeds_are_refused_unless_allowed(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/feed").respond_with_data(_versioned_feed([1]), content_type=RSS_TYPE)
    with pytest.raises(BlockedAddress, match="not a public address"):
        collector([httpserver.url_for("/feed")], allow_private=False).fetch(None)
    assert httpserver.log == []  # refused before connecting
    allowed = collector([httpserver.url_for("/feed")], allow_private=True).fetch(None)
    assert [m.title for m in allowed.mentions] == ["Acme news 1"]


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://[::ffff:127.0.0.1]:5432/",
        "http://10.0.0.8/admin",
        "http://100.100.100.200/latest/meta-data/",
        "http://localhost:{other}/internal",
        "http://127.0.0.1:{other}/internal",
    ],
)
def test_redirects_to_private_addresses_are_refused(httpserver: HTTPServer, target: str) -> None:
    internal = HTTPServer(host="127.0.0.1", port=0)
    internal.start()
    try:
        internal.expect_request("/internal").respond_with_data("internal secrets", content_type=RSS_TYPE)
        location = target.format(other=internal.port)
        httpserver.expect_request("/moved").respond_with_data("", status=302, headers={"Location": location})
        httpserver.expect_request("/ok").respond_with_data(_versioned_feed([1]), content_type=RSS_TYPE)
        moved, ok = httpserver.url_for("/moved"), httpserver.url_for("/ok")
        # allow_private lets the configured origin (this 127.0.0.1 port) through, nothing else.
        result = collector([moved, ok], allow_private=True).fetch(None)
        assert [m.title for m in result.mentions] == ["Acme news 1"]
        assert len(result.failures) == 1 and result.failures[0].startswith(f"{moved}: BlockedAddress: ")
        assert internal.log == []
    finally:
        internal.stop()


def test_names_are_checked_after_resolution(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # A public-looking name that resolves to loopback (DNS rebinding) is refused by its address,
    # and when the configured host is allowed, the connection goes to the address that was checked.
    real = socket.getaddrinfo

    def rebinding(host: Any, *args: Any, **kwargs: Any) -> Any:
        return real("127.0.0.1" if host == "feeds.rebind.test" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    httpserver.expect_request("/feed").respond_with_data(_versioned_feed([1]), content_type=RSS_TYPE)
    url = f"http://feeds.rebind.test:{httpserver.port}/feed"
    with pytest.raises(BlockedAddress, match=r"feeds\.rebind\.test \(resolves to 127\.0\.0\.1\)"):
        collector([url], allow_private=False).fetch(None)
    assert httpserver.log == []
    assert [m.title for m in collector([url], allow_private=True).fetch(None).mentions] == ["Acme news 1"]


def test_https_never_downgrades_to_http() -> None:
    requested: list[str] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        requested.append(str(request.url))
        if request.url.scheme == "https":
            return httpx.Response(301, headers={"Location": "http://feeds.example.com/feed"})
        return httpx.Response(200, content=_versioned_feed([1]), headers={"Content-Type": RSS_TYPE})

    rss = collector(["https://feeds.example.com/feed"], allow_private=False)
    # Only the network layer is swapped for a fake; the client's redirect hooks stay as built.
    rss._client._transport = httpx.MockTransport(upstream)
    with pytest.raises(BlockedAddress, match="refused a redirect from https to http"):
        rss.fetch(None)
    assert requested == ["https://feeds.example.com/feed"]


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.215.14", True),
        ("2606:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.100.100.200", False),
        ("0.0.0.0", False),
        ("224.0.0.251", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00:ec2::254", False),
        ("::ffff:169.254.169.254", False),
        ("ff02::1", False),
    ],
)
def test_public_address_ranges(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


def test_secrets_in_feed_urls_are_redacted(httpserver: HTTPServer, caplog: pytest.LogCaptureFixture) -> None:
    httpserver.expect_request("/down").respond_with_data("oops", status=503)
    httpserver.expect_request("/ok").respond_with_data(_versioned_feed([1]), content_type=RSS_TYPE)
    secret_feed = httpserver.url_for("/down") + "?api_key=SECRET1&user=me"
    with_credentials = httpserver.url_for("/ok").replace("http://", "http://bob:SECRET2@")
    caplog.set_level(logging.DEBUG)
    result = collector([secret_feed, with_credentials]).fetch(None)
    assert [m.title for m in result.mentions] == ["Acme news 1"]
    assert result.failures == [
        f"{httpserver.url_for('/down')}?api_key=REDACTED&user=REDACTED: TemporarilyUnavailable: HTTP 503"
    ]
    # Earshot's own records (the fake server's werkzeug log is not ours): httpx logged each request
    # URL, without its keys.
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith("werkzeug")]
    assert any("api_key=REDACTED" in line for line in ours)
    assert not [line for line in ours if "SECRET" in line]
    with pytest.raises(TemporarilyUnavailable) as caught:
        collector([secret_feed]).fetch(None)
    assert "SECRET" not in str(caught.value) and "api_key=REDACTED" in str(caught.value)
