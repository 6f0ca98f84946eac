"""Hostile text from real-world feed attacks never reaches the dashboard as markup.

Payloads come from feedparser's sanitizer corpus (read from ../shared at test
time, never copied here), parsed with sanitizing OFF so the scripts, event
handlers and javascript: URLs stay in. They go into mention titles, texts,
author names and URLs, alert titles and reasons, and source errors; every page
is then parsed and checked structurally: only our own tags, scripts and
attributes may appear.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import feedparser
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from storage.sources import record_failure
from tests.web.factories import NOW, alert, classification, mention, store
from web.templating import badge, safe_url

CORPUS = Path(__file__).resolve().parents[3] / "shared/corpora/feedparser-tests/wellformed/sanitize"
PICK = re.compile(
    r"^(entry|item)_.*(script|_on[a-z]+|crazy|iframe|object|embed|applet|meta|_link|style_tag|frame)\.xml$"
    r"|unacceptable_uri|malicious"
)
HOSTILE_URLS = [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(document.cookie)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "\x01javascript:alert(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript:msgbox(1)",
    "//evil.example/steal",
    'https://ok.example/"><script>alert(1)</script>',
    "https://ok.example/?q=' onmouseover='alert(1)",
]
OUR_SCRIPTS = {
    (("src", "/static/vendor/htmx/htmx.min.js"), ("defer", None)),
    (("src", "/static/vendor/chartjs/chart.umd.min.js"), ("defer", None)),
    (("src", "/static/app.js"), ("defer", None)),
    (("src", "/static/inbox.js"), ("defer", None)),
    (("src", "/static/composer.js"), ("defer", None)),
    (("type", "application/json"), ("class", "chart-data")),
}
OUR_TAGS = {
    *("html", "head", "meta", "title", "link", "script", "body", "header", "nav", "main", "footer"),
    *("a", "div", "h1", "h2", "h3", "p", "section", "span", "time", "article", "pre", "strong"),
    *("figure", "figcaption", "canvas", "table", "thead", "tbody", "tr", "th", "td"),
    *("form", "input", "button", "label", "select", "option", "datalist"),
    *("dl", "dt", "dd", "details", "summary", "caption", "br"),
    # The alert page's notes form and reply composer; the overview's filter groups.
    *("textarea", "ol", "li", "noscript", "fieldset", "legend"),
}
EXTERNAL_REL = "noopener noreferrer nofollow"


def hostile_payloads() -> list[str]:
    """Every distinct title, summary and content value of the picked feeds, unsanitized."""
    files = sorted(p for p in CORPUS.iterdir() if PICK.search(p.name))
    assert len(files) > 100, f"sanitize corpus not found at {CORPUS}"
    values: list[str] = []
    for path in files:
        parsed = feedparser.parse(str(path), sanitize_html=False)
        for entry in parsed.entries:
            values += [entry.get("title", ""), entry.get("summary", "")]
            values += [c.value for c in entry.get("content", [])]
        values += [parsed.feed.get(k, "") for k in ("title", "subtitle", "rights", "info")]
    return [v for v in dict.fromkeys(values) if v.strip()]


class PageAudit(HTMLParser):
    """Collects every problem a browser would turn into script execution or a foreign load."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.in_data_script = False
        self.data_scripts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in OUR_TAGS:
            self.problems.append(f"foreign tag <{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"event handler {name}= on <{tag}>")
            if name in {"href", "src", "action", "formaction", "background", "poster"}:
                self._check_url(tag, name, value or "", dict(attrs))
            if name == "style":
                self.problems.append(f"inline style on <{tag}>")
        if tag == "script":
            if tuple(attrs) not in OUR_SCRIPTS:
                self.problems.append(f"unexpected script {attrs}")
            self.in_data_script = ("type", "application/json") in attrs

    def _check_url(self, tag: str, name: str, value: str, attrs: dict[str, str | None]) -> None:
        if value.startswith(("/", "#", "?")) and not value.startswith("//"):
            return
        if tag == "link" and value == "data:,":
            return  # the empty favicon
        if safe_url(value) is None:
            self.problems.append(f"unsafe {name}={value!r} on <{tag}>")
        elif tag == "a" and attrs.get("rel") != EXTERNAL_REL:
            self.problems.append(f"external link without rel={EXTERNAL_REL!r}: {value!r}")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self.in_data_script = False

    def handle_data(self, data: str) -> None:
        if self.in_data_script:
            self.data_scripts.append(data)


def audit(html: str) -> None:
    parser = PageAudit()
    parser.feed(html)
    parser.close()
    assert parser.problems == []
    for data in parser.data_scripts:
        assert "<" not in data  # tojson escapes it, so "</script>" cannot end the block early
        json.loads(data)


@pytest.fixture
def hostile(sessions: sessionmaker[Session]) -> dict[str, list[int]]:
    payloads = hostile_payloads()
    assert len(payloads) >= 30
    urls = HOSTILE_URLS + re.findall(r'(?:href|src)=["\']?([^"\' >]+)', " ".join(payloads))
    items = [
        (
            mention(
                f"h{i}",
                at=NOW - timedelta(minutes=i + 1),
                title=payload[:500],
                text=payload,
                display_name=payload[:255],
                handle=f"@{payload[:40]}",
                url=urls[i % len(urls)],
                author_url=urls[(i + 1) % len(urls)],
            ),
            classification("negative", "critical", ["outage"]),
        )
        for i, payload in enumerate(payloads)
    ]
    ids = store(sessions, items)
    with sessions.begin() as session:
        alert_ids = [
            alert(session, title=payloads[i][:300], reason=payloads[-i - 1], mention_id=ids[i], channels=())
            for i in range(8)
        ]
        for i in range(5):
            record_failure(session, source=f"feed-{i}", kind="rss", error=payloads[i * 3], now=NOW)
    return {"mentions": ids, "alerts": alert_ids}


def test_hostile_text_is_inert_everywhere(client: TestClient, hostile: dict[str, list[int]]) -> None:
    ids, alert_ids = hostile["mentions"], hostile["alerts"]
    pages = ["/", "/alerts", "/sources", *(f"/alerts/{a}" for a in alert_ids[:3])]
    pages += [f"/mentions?offset={offset}" for offset in range(0, len(ids), 25)]
    pages += [f"/mentions/{m}" for m in ids[:: max(1, len(ids) // 8)]]
    inbox = ""
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        audit(response.text)
        if path.startswith("/mentions?"):
            inbox += response.text
    for fragment in ("/", "/alerts"):
        audit(client.get(fragment, headers={"HX-Request": "true"}).text)
    # Not vacuous: the payloads were rendered, as text.
    assert inbox.count('<article class="mention">') == len(ids)
    assert "&lt;script" in inbox and "onerror=" in inbox and "&lt;iframe" in inbox
    # Only the http(s) URLs became links, with the external rel.
    assert 'href="https://ok.example/&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in inbox


def test_htmx_row_fragment_escapes_the_title(client: TestClient, hostile: dict[str, list[int]]) -> None:
    response = client.post(
        f"/alerts/{hostile['alerts'][0]}/ack", data={"view": "row"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    audit(response.text)


@pytest.mark.parametrize(
    ("markup", "problem"),
    [
        ('<p><img src="x" onerror="alert(1)"></p>', "foreign tag <img>"),
        ('<a href="javascript:alert(1)">x</a>', "unsafe href='javascript:alert(1)' on <a>"),
        ('<a href="https://evil.example/">x</a>', "external link without rel="),
        ('<p onclick="alert(1)">x</p>', "event handler onclick= on <p>"),
        ('<script src="https://evil.example/x.js"></script>', "unexpected script"),
        ("<script>alert(1)</script>", "unexpected script []"),
        ('<textarea style="x"></textarea>', "inline style on <textarea>"),
        ("<iframe></iframe>", "foreign tag <iframe>"),
    ],
)
def test_the_audit_still_catches_hostile_markup(markup: str, problem: str) -> None:
    # The tags and scripts our pages use are allowed; markup a payload could inject is not.
    parser = PageAudit()
    parser.feed(markup)
    parser.close()
    assert any(found.startswith(problem) for found in parser.problems), parser.problems
    with pytest.raises(AssertionError):
        audit(markup)


@pytest.mark.parametrize(
    ("url", "linked"),
    [
        ("https://social.example/post/1?x=1&y=2", True),
        ("http://news.example", True),
        ("HTTPS://NEWS.EXAMPLE/A", True),
        ("https://例え.jp/パス", True),
        # Quotes and brackets are fine in a link target: autoescape keeps them inside the attribute.
        (HOSTILE_URLS[8], True),
        *((url, False) for url in HOSTILE_URLS[:8] + HOSTILE_URLS[9:]),
        ("https:///no-host", False),
        ("/relative/path", False),
        ("ftp://files.example/x", False),
        ("mailto:someone@example.com", False),
        ("https://ok.example/\u2028", False),
        ("", False),
        (None, False),
    ],
)
def test_safe_url(url: str | None, linked: bool) -> None:
    assert safe_url(url) == (url if linked else None)


def test_badges_escape_their_kind_and_value() -> None:
    hostile = '"><script>alert(1)</script>'
    html = str(badge("urgency", hostile))
    assert "<script>" not in html and html.count("<span") == 1
    assert html == (
        '<span class="badge urgency-&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;">'
        "&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;</span>"
    )
    assert str(badge("sentiment", "negative")) == '<span class="badge sentiment-negative">negative</span>'
