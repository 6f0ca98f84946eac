"""Escaping and cutting shared by every channel."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

import pytest

from alerting.channels.render import (
    Escaper,
    alert_view,
    clean,
    escape_html,
    escape_markdown,
    escape_plain,
    escape_slack,
    fit,
    safe_url,
)
from domain import NotificationAction
from tests.alerting.channels.helpers import notification

BROADCAST = re.compile(r"@(channel|here|everyone)\b", re.IGNORECASE)
ZERO_WIDTH = "\u200b"


def unslack(text: str) -> str:
    return text.replace(ZERO_WIDTH, "").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def unmarkdown(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def test_corpus_is_really_hostile(hostile: list[str]) -> None:
    joined = "\n".join(hostile)
    for needle in ("<script", "<iframe", "onclick=", "<!channel>", "](http://evil"):
        assert needle in joined


@pytest.mark.parametrize(
    ("escape", "undo"),
    [(escape_slack, unslack), (escape_markdown, unmarkdown), (escape_html, html.unescape)],
    ids=["slack", "markdown", "html"],
)
def test_escaping_keeps_the_text_readable(
    escape: Escaper, undo: Callable[[str], str], hostile: list[str]
) -> None:
    for text in hostile:
        assert undo(escape(text)) == escape_plain(text)


def test_every_escaper_breaks_broadcasts_and_strips_controls(hostile: list[str]) -> None:
    for escape in (escape_plain, escape_slack, escape_markdown, escape_html):
        for text in hostile:
            out = escape(text)
            assert not BROADCAST.search(out), (escape.__name__, out)
            assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]", out)
            assert "\r" not in out


def test_slack_leaves_no_control_sequence_or_raw_marker(hostile: list[str]) -> None:
    for text in hostile:
        out = escape_slack(text)
        assert "<" not in out and ">" not in out
        # every & starts one of the three entities Slack defines
        assert re.fullmatch(r"(?:[^&]|&(?:amp|lt|gt);)*", out, re.DOTALL)
        for marker in "*_~`":
            for at in (m.start() for m in re.finditer(re.escape(marker), out)):
                assert out[at - 1] == ZERO_WIDTH and out[at + 1] == ZERO_WIDTH


def test_slack_exact() -> None:
    assert escape_slack("<!channel> & <http://evil|x> @here") == (
        "&lt;!channel&gt; &amp; &lt;http://evil|x&gt; @\u2060here"
    )


def test_markdown_leaves_no_live_markup(hostile: list[str]) -> None:
    for text in hostile:
        out = escape_markdown(text)
        # strip escaped pairs; what remains must hold no markup character at all
        bare = re.sub(r"\\.", "", out)
        assert not re.search(r"[\\`*_\[\]()<>|~!{}]", bare), bare
        assert not re.search(r"^[ \t]*(?:[#+\-=]|\d+[.)])", out, re.MULTILINE), out


def test_markdown_exact() -> None:
    assert escape_markdown("1. [a](http://e) **b**\n- c") == "1\\. \\[a\\]\\(http://e\\) \\*\\*b\\*\\*\n\\- c"


def test_html_has_no_markup_left(hostile: list[str]) -> None:
    for text in hostile:
        out = escape_html(text)
        assert not re.search(r"[<>\"']", out)


def test_clean_normalises_newlines_and_drops_bidi() -> None:
    assert clean("a\r\nb\rc\u202ed\x00e\tf") == "a\nb\ncde\tf"


@pytest.mark.parametrize("escape", [escape_plain, escape_slack, escape_markdown, escape_html])
@pytest.mark.parametrize("limit", [1, 2, 7, 100, 3000])
def test_fit_never_exceeds_and_never_splits_an_escape(escape: Escaper, limit: int) -> None:
    text = ("<&>*_[x]" * 20_000)[:100_000]
    out = fit(text, limit, escape)
    assert len(out) <= limit
    if limit > 1:
        assert out.endswith("…")
        body = out[:-1]
        # the cut text is exactly an escaped prefix of the raw text: no half entity or escape
        assert body == escape(text[: shortest_prefix_escaping_to(text, escape, len(body))])


def shortest_prefix_escaping_to(text: str, escape: Escaper, length: int) -> int:
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi) // 2
        if len(escape(text[:mid])) < length:
            lo = mid + 1
        else:
            hi = mid
    return lo


def test_fit_leaves_short_text_alone() -> None:
    assert fit("a & b", 100, escape_html) == "a &amp; b"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://social.example/@dana/1?a=1&b=2", "https://social.example/@dana/1?a=1&b=2"),
        ("HTTP://Example.com/x", "http://Example.com/x"),
        ("javascript:alert(1)", None),
        ("data:text/html,<script>", None),
        ("//evil.example/x", None),
        ("https://bank.example@evil.example/login", "https://evil.example/login"),
        ('https://e.example/a b|c)">', "https://e.example/a%20b%7Cc%29%22%3E"),
        ("https://e.example/x?q=<script>#<b>", "https://e.example/x?q=%3Cscript%3E#%3Cb%3E"),
        ("http://[::1]:8080/p", "http://[::1]:8080/p"),
        ("https://exa mple.com/", None),
        ("", None),
        (None, None),
    ],
)
def test_safe_url(url: str | None, expected: str | None) -> None:
    assert safe_url(url) == expected


@pytest.mark.parametrize(
    ("action", "title"),
    [
        (NotificationAction.FIRE, "[HIGH] Outage complaint about Acme Cloud"),
        (NotificationAction.ESCALATE, "[HIGH] Escalated: Outage complaint about Acme Cloud"),
        (NotificationAction.ACKNOWLEDGE, "Acknowledged: Outage complaint about Acme Cloud"),
        (NotificationAction.RESOLVE, "Resolved: Outage complaint about Acme Cloud"),
    ],
)
def test_view_title_follows_the_action(action: NotificationAction, title: str) -> None:
    assert alert_view(notification(action=action)).title == title


def test_view_skips_unknown_fields_and_unsafe_links() -> None:
    view = alert_view(notification(brand=None, author=None, count=1, mention_url="javascript:x"))
    labels = [label for label, _ in view.fields]
    assert "Brand" not in labels and "Author" not in labels and "Mentions" not in labels
    assert labels[:2] == ["Urgency", "Status"]
    assert view.link is None


def test_fit_can_measure_encoded_bytes() -> None:
    def utf8(text: str) -> int:
        return len(text.encode())

    out = fit("é" * 1000, 100, escape_plain, measure=utf8)
    assert utf8(out) <= 100 and out == "é" * 48 + "…"  # 48 × 2 bytes + 3 for the marker
