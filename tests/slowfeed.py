"""A feed that never finishes: one byte every 0.2 s, on its own server (pytest-httpserver serves one
request at a time, so the dripping feed must not block the other feeds' server)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

RSS_TYPE = "application/rss+xml"


def _drip(request: Request) -> Response:
    def body() -> Iterator[bytes]:
        for _ in range(150):
            yield b" "
            time.sleep(0.2)

    return Response(body(), content_type=RSS_TYPE)


@contextmanager
def dripping_server() -> Iterator[HTTPServer]:
    """A server whose ``/drip`` sends a byte every 0.2 s for 30 s: every read succeeds, none ends it."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.expect_request("/drip").respond_with_handler(_drip)
    server.start()
    try:
        yield server
    finally:
        server.clear()
        server.stop()
