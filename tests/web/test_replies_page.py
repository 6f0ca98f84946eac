"""The composer on the alert page: rendered around the alert's post, escaped, script from /static only."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from collectors.repliers.base import ReplyTarget
from tests.collectors.repliers.desk import seed_alert
from tests.collectors.repliers.fakes import FakeX


def test_the_alert_page_carries_the_composer(client: TestClient, sessions: sessionmaker[Session]) -> None:
    alert_id = seed_alert(sessions, FakeX().target())
    page = client.get(f"/alerts/{alert_id}")
    assert page.status_code == 200
    html = page.text
    assert f'id="composer" data-alert="{alert_id}"' in html
    assert '<script src="/static/composer.js" defer></script>' in html
    assert "To dana_ops on x" in html
    assert 'href="https://x.com/dana_ops/status/1897600000000000000"' in html
    assert client.get("/static/composer.js").status_code == 200


def test_a_hostile_author_is_escaped_in_the_composer(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    target = ReplyTarget("blog", "rss", "https://blog.example/p/1", "https://blog.example/p/1", None)
    alert_id = seed_alert(sessions, target, handle='<img src=x onerror="alert(1)">')
    html = client.get(f"/alerts/{alert_id}").text
    composer = html[html.index('id="composer"') :]
    assert "<img src=x" not in composer
    assert (
        "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in composer
        or "&lt;img src=x onerror=&quot;" in composer
    )
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", composer), "inline script in the composer"
