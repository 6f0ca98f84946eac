"""Fixtures shared by collector tests: brand contexts, captured payloads, a feed corpus server."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from collectors.base import CollectorContext
from collectors.matching import BrandMatcher, BrandSpec

FIXTURES = Path(__file__).parent / "fixtures"
# Resolved, so a symlinked shared/ still passes the path-traversal check below.
CORPUS = (Path(__file__).resolve().parents[3] / "shared" / "corpora" / "feedparser-tests").resolve()
NOW = datetime(2025, 3, 6, 12, 0, tzinfo=UTC)


def make_context(
    *queries: str, brand: str = "Acme", now: datetime = NOW, timeout: float = 5.0
) -> CollectorContext:
    """A collector context tracking one brand with ``queries`` and a frozen clock."""
    return CollectorContext(
        matcher=BrandMatcher([BrandSpec(brand, tuple(queries))]),
        now=lambda: now,
        timeout_seconds=timeout,
    )


def load_fixture(kind: str, name: str) -> Any:
    """A captured payload from ``fixtures/<kind>/<name>``: parsed JSON, or bytes for anything else."""
    path = FIXTURES / kind / name
    return json.loads(path.read_text("utf-8")) if path.suffix == ".json" else path.read_bytes()


_HEADER = re.compile(rb"^Header:\s*([\w-]+):\s*(.*?)\s*$", re.MULTILINE)


def corpus_headers(body: bytes) -> dict[str, str]:
    """HTTP headers a corpus file asks to be served with (its ``Header:`` comment lines)."""
    headers = {"Content-Type": "application/xml"}
    for name, value in _HEADER.findall(body[:4096]):
        key = name.decode("ascii").title()
        headers["Content-Type" if key == "Content-Type" else key] = value.decode("latin-1")
    return headers


class _CorpusHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        path = (CORPUS / self.path.lstrip("/").split("?", 1)[0]).resolve()
        if CORPUS not in path.parents or not path.is_file():
            self.send_error(404)
            return
        body = path.read_bytes()
        self.send_response(200)
        for name, value in corpus_headers(body).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def corpus_server() -> Iterator[str]:
    """Serve the feedparser test corpus from 127.0.0.1, honouring each file's Header: lines."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CorpusHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
