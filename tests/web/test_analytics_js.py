"""app.js, run under Node with stand-ins for the DOM and Chart.js: phone layout and drill-down links.

Node runs the real script file; only the browser and Chart.js are replaced, by recorders.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.web.factories import NOW, classification, mention, store
from web.templating import STATIC_DIR

NODE = shutil.which("node")
HARNESS = Path(__file__).with_name("analytics_harness.js")
pytestmark = pytest.mark.skipif(NODE is None, reason="Node.js is not installed")


def run_app_js(
    tmp_path: Path, html: str, *, narrow: bool, clicks: list[tuple[str, int, int]]
) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" class="chart-data">(.*?)</script>', html, re.S)
    assert match
    data = tmp_path / "charts.json"
    data.write_text(match.group(1), encoding="utf-8")
    assert NODE is not None
    done = subprocess.run(
        [
            NODE,
            str(HARNESS),
            str(STATIC_DIR / "app.js"),
            str(data),
            "1" if narrow else "0",
            json.dumps(clicks),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.fixture
def page(client: TestClient, sessions: sessionmaker[Session]) -> str:
    store(
        sessions,
        [
            (mention("a", at=NOW - timedelta(hours=3)), classification("negative")),
            (mention("r", at=NOW - timedelta(hours=3), brands=("Rival",)), classification("positive")),
        ],
    )
    html: str = client.get("/?range=24h").text
    return html


def test_charts_fit_a_phone(tmp_path: Path, page: str) -> None:
    phone = run_app_js(tmp_path, page, narrow=True, clicks=[])["charts"]
    desktop = run_app_js(tmp_path, page, narrow=False, clicks=[])["charts"]
    assert set(phone) == {"volume", "net", "share", "sentiment"}
    for name, chart in phone.items():
        assert chart["legend"] == "bottom" and chart["responsive"] and not chart["maintainAspectRatio"], name
        assert chart["xTicks"] == 4 < desktop[name]["xTicks"], name
    # Share of voice is a stacked area: every brand filled onto the one below it.
    assert phone["share"]["yStacked"] and phone["share"]["fills"] == ["origin", "-1", "-1"]
    assert phone["sentiment"]["type"] == "bar" and phone["volume"]["type"] == "line"


def test_a_click_opens_the_mentions_behind_the_point(tmp_path: Path, page: str, client: TestClient) -> None:
    # Bucket 21 of 25 is 09:00; dataset 1 of volume is Rival, dataset 0 of sentiment is negative.
    opened = run_app_js(tmp_path, page, narrow=True, clicks=[("volume", 1, 21), ("sentiment", 0, 21)])[
        "opened"
    ]
    rival, negative = (parse_qs(urlsplit(url).query) for url in opened)
    assert all(url.startswith("/mentions?") for url in opened)
    assert rival == {"brand": ["Rival"], "since": ["2024-05-10T09:00:00"], "until": ["2024-05-10T10:00:00"]}
    assert negative == {**rival, "brand": ["Acme"], "sentiment": ["negative"]}
    for url, expected in zip(opened, ("r", "a"), strict=True):
        html = client.get(url).text
        assert "1 matching" in html and f"mention {expected} about" in html
