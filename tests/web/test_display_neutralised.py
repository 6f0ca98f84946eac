"""Bidi overrides and zero-width characters in strangers' text never reach a dashboard page.

A right-to-left override (U+202E) makes "moc.elgoog" display as "google.com"; zero-width characters
split words so "pay\u200bpal" looks like a word it is not. The channels drop them; so must every page.
Joiners that scripts and emoji need (inside an emoji sequence, a Persian word) are kept.
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from storage.sources import record_failure
from tests.web.factories import NOW, alert, classification, mention, store
from web.templating import neutralise

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
INVISIBLE = "\u200b\u2060\ufeff\u180e"
FORBIDDEN = re.compile(f"[{BIDI}{INVISIBLE}]")
# Joiners only where they disguise: inside ASCII words.
DISGUISED_JOINER = re.compile("[a-zA-Z][\u200c\u200d]|[\u200c\u200d][a-zA-Z]")
HOSTILE = "Acme refund \u202egnp.exe\u202c pay\u200bpal a\u200db \u2066hidden\u2069 \ufeffbom"
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # one emoji, held together by ZWJ
PERSIAN = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"  # "I want": ZWNJ is spelling


@pytest.fixture
def ids(sessions: sessionmaker[Session]) -> dict[str, int]:
    """A mention and an alert full of hostile invisible characters, and a failing source."""
    hostile = mention(
        "bidi",
        text=f"{HOSTILE} {FAMILY} {PERSIAN}",
        title=f"Title \u202e{HOSTILE}",
        handle="@da\u200bna\u202e",
        display_name="Dana \u202eevil\u202c",
        brands=("Acme",),
        at=NOW,
    )
    [mention_id] = store(sessions, [(hostile, classification("negative", "critical", ["outage"]))])
    with sessions.begin() as session:
        alert_id = alert(
            session, title=f"Outage \u202e{HOSTILE}", reason=f"matched \u200b{HOSTILE}", mention_id=mention_id
        )
        record_failure(session, source="feeds", kind="rss", error=f"HTTP 500 \u202e{HOSTILE}", now=NOW)
    return {"mention": mention_id, "alert": alert_id}


def test_pages_show_no_bidi_or_zero_width_characters(client: TestClient, ids: dict[str, int]) -> None:
    pages = [
        "/",
        "/mentions",
        f"/mentions/{ids['mention']}",
        "/alerts",
        f"/alerts/{ids['alert']}",
        "/sources",
    ]
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        found = FORBIDDEN.findall(response.text) + DISGUISED_JOINER.findall(response.text)
        assert not found, f"{path} shows {[hex(ord(c[-1])) for c in found]}"
        assert "gnp.exe" in response.text or path in {"/", "/sources", "/alerts"}, path
    detail = client.get(f"/mentions/{ids['mention']}").text
    assert "paypal" in detail and FAMILY in detail and PERSIAN in detail
    # The API returns data as stored: only display is neutralised.
    api = client.get(f"/api/mentions/{ids['mention']}").json()
    assert "\u202e" in api["text"]


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("abc\u202edef", "abcdef"),
        ("pay\u200bpal", "paypal"),
        ("pa\u200dy", "pay"),
        ("\u2067x\u2069", "x"),
        (FAMILY, FAMILY),
        (PERSIAN, PERSIAN),
        ("\u200d" + FAMILY, FAMILY),
    ],
)
def test_neutralise(raw: str, shown: str) -> None:
    assert neutralise(raw) == shown
