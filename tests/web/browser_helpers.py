"""Pieces of the real-browser test: the app served by uvicorn on 127.0.0.1, a seeded desk, chromium.

The app runs in a thread of the test process (so the test can hand it a reply desk pointed at a
fake X and read its database), on a socket bound before the thread starts: the browser's first
request waits in the listen backlog instead of racing the server's start.
"""

from __future__ import annotations

import shutil
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import uvicorn
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from collectors.repliers.base import ReplyTarget
from domain import AlertKind, Author, Mention, Urgency
from storage.alerts import NewAlert, create_alert
from storage.mentions import store_mentions
from tests.web.factories import NOW, alert, classification, mention, store

# Debian's package installs /usr/bin/chromium; other distributions name it chromium-browser.
CHROMIUM_NAMES = ("chromium", "chromium-browser")
PASSWORD = "correct horse battery staple"
STARTUP_SECONDS = 30.0

# How many painted (non-transparent) pixels a canvas has; 0 for a blank or zero-sized one.
PAINTED_PIXELS_JS = """(canvas) => {
  if (!canvas.width || !canvas.height) return 0;
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) painted += 1;
  return painted;
}"""

# True once every chart canvas has its Chart.js chart and painted pixels (app.js turns animation off).
CHARTS_DRAWN_JS = (
    """() => {
  const painted = """
    + PAINTED_PIXELS_JS
    + """;
  const canvases = Array.from(document.querySelectorAll("canvas[data-chart]"));
  return canvases.length > 0 && canvases.every((c) => {
    const chart = window.Chart && window.Chart.getChart(c);
    return Boolean(chart) && painted(c) > 0;
  });
}"""
)

# Each chart: its name, its painted pixels and the non-zero values across its datasets.
CHART_FACTS_JS = (
    """() => {
  const painted = """
    + PAINTED_PIXELS_JS
    + """;
  return Array.from(document.querySelectorAll("canvas[data-chart]")).map((c) => {
    const chart = window.Chart.getChart(c);
    const values = chart.data.datasets.flatMap((d) => d.data).filter((v) => typeof v === "number" && v !== 0);
    return { name: c.dataset.chart, painted: painted(c), size: [c.width, c.height], values: values.length };
  });
}"""
)


def chromium_path() -> str | None:
    """The chromium executable on PATH (installed by .ci/run when missing), or None."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


class _Server(uvicorn.Server):
    """uvicorn that says when it has started serving."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start as uvicorn does, then set ``ready``."""
        await super().startup(sockets=sockets)
        self.ready.set()


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1 in a thread; yields its base URL."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    server = _Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        if not server.ready.wait(STARTUP_SECONDS):
            raise RuntimeError("uvicorn did not start serving the app")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(STARTUP_SECONDS)
        listener.close()


@dataclass(frozen=True)
class Desk:
    """What the browser test seeded: the alert it works, and the ones the filters must hide."""

    x_alert: int
    low_support: int
    billing: int
    social: int
    tweet_id: str
    x_text: str


def _x_alert(sessions: sessionmaker[Session], target: ReplyTarget, text: str) -> int:
    """A high support alert on ``target`` (a tweet), as the pipeline would store it."""
    post = Mention(
        source=target.source,
        source_kind=target.source_kind,
        external_id=target.external_id,
        text=text,
        author=Author(handle=target.author or "someone", display_name="Dana", followers=5400),
        published_at=NOW - timedelta(minutes=20),
        collected_at=NOW - timedelta(minutes=19),
        url=target.url,
        brands=("Acme",),
        raw=dict(target.raw),
    )
    with sessions.begin() as session:
        [stored] = store_mentions(session, [post], [classification("negative", "high", ["outage"])], now=NOW)
        row = create_alert(
            session,
            NewAlert(
                kind=AlertKind.MENTION,
                title="Outage complaint",
                summary="Outage complaint on X",
                urgency=Urgency.HIGH,
                team="support",
                route_name="outages",
                route_snapshot={"name": "outages"},
                reason="category outage with urgency high",
                group_key=f"Acme:{target.external_id}",
                channels=(),
                mention_id=stored.id,
                brand="Acme",
            ),
            now=NOW,
        )
        return row.id


def seed_desk(sessions: sessionmaker[Session], target: ReplyTarget) -> Desk:
    """A week of classified mentions of Acme and its rivals (for the charts) and four alerts."""
    feelings = ("positive", "negative", "neutral", "negative", "positive")
    history = [
        (
            mention(
                f"hist-{brand}-{i}",
                at=NOW - timedelta(hours=7 * i + offset),
                brands=(brand,),
                text=f"{brand} post number {i}",
            ),
            classification(feelings[(i + offset) % len(feelings)], "low"),
        )
        for offset, brand in enumerate(("Acme", "Rival", "Zed"))
        for i in range(1, 24 - 5 * offset)
    ]
    low_text = "Acme's new logo is a bit odd"
    billing_text = "Acme charged me twice this month"
    low_id, billing_id, social_id = store(
        sessions,
        [
            (mention("low-1", text=low_text, handle="@lou"), classification("negative", "low")),
            (mention("bill-1", text=billing_text, handle="@bea"), classification("negative", "high")),
            (mention("social-1", text="Acme support was great today", handle="@sol"), classification()),
        ],
    )
    store(sessions, history)
    with sessions.begin() as session:
        low = alert(session, title="Logo grumble", urgency="low", team="support", mention_id=low_id)
        billing = alert(session, title="Double charge", urgency="high", team="billing", mention_id=billing_id)
        social = alert(session, title="Praise", urgency="medium", team="social", mention_id=social_id)
    x_text = "Acme Cloud is down again, nothing loads since this morning"
    x_alert = _x_alert(sessions, target, x_text)
    return Desk(x_alert, low, billing, social, target.external_id, x_text)
