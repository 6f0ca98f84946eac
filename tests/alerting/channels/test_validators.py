"""Every payload checked by the receiving service's own SDK or schema, not by our own snapshots.

Slack: slack_sdk's Block Kit models. Teams: the Adaptive Cards schema of the card's declared
version (trimmed by hand from the official spec, in schemas/) and a CommonMark renderer for the
TextBlock markdown. PagerDuty: the Events API v2 schema (written from PagerDuty's reference, in
schemas/). Email: Python's email parser, and html5lib in strict mode for the HTML part.
"""

from __future__ import annotations

import email
import email.policy
import json
import re
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import html5lib
import jsonschema
import pytest
from markdown_it import MarkdownIt
from pytest_httpserver import HTTPServer
from slack_sdk.models.blocks import Block

from alerting.channels.email import EmailChannel, EmailOptions
from alerting.channels.pagerduty import PagerDutyChannel
from alerting.channels.render import clean, neutralise_broadcasts
from alerting.channels.slack import SlackChannel
from alerting.channels.teams import TeamsChannel
from domain import AlertKind, NotificationAction
from tests.alerting.channels.helpers import HTTP_PATHS, make_http_channel, notification

SCHEMAS = Path(__file__).parent / "schemas"
ACTIONS = list(NotificationAction)
# What stray escapes looked like on Teams mobile, and text Slack must leave linkable.
EVERYDAY = "@startup_sara (7,200 followers) says <script> is 1<2 & snake_case_names :rotating_light:"
URL = "https://status.example/incidents/eu_west_1?id=a_b_c&x=1"


def _schema(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS / name).read_text())
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def _texts(card: dict[str, Any]) -> list[str]:
    found = []
    for block in card["body"]:
        items = block.get("items", [block])
        found += [item["text"] for item in items if "text" in item]
        found += [fact["value"] for fact in block.get("facts", [])]
    return found


def _teams_card(**changes: Any) -> dict[str, Any]:
    channel = make_http_channel("teams", 9)
    assert isinstance(channel, TeamsChannel)
    card: dict[str, Any] = channel.render(notification(**changes))["attachments"][0]["content"]
    return card


@pytest.mark.parametrize("action", ACTIONS)
def test_teams_card_matches_the_schema_of_its_declared_version(action: NotificationAction) -> None:
    card = _teams_card(action=action)
    errors = [e.message for e in _schema(f"adaptive-card-{card['version']}.json").iter_errors(card)]
    assert errors == []


def _rendered(markdown: str) -> str:
    # Adaptive Cards renderers use a CommonMark parser with raw HTML off, plus strikethrough.
    html: str = MarkdownIt("commonmark", {"html": False}).enable("strikethrough").render(markdown)
    return html


MARKUP = re.compile(r"<(?!/?p>)[a-z]")


def test_teams_text_renders_as_the_original_text(hostile: list[str]) -> None:
    md = MarkdownIt("commonmark", {"html": False}).enable("strikethrough")
    for text in [*hostile, EVERYDAY]:
        (quote,) = [t for t in _texts(_teams_card(mention_text=text))[-2:-1]]
        html = _rendered(quote)
        assert not MARKUP.search(html), (text, html)  # only paragraphs: no link, list, emphasis...
        shown = [tok.content for tok in md.parseInline(quote)[0].children or [] if tok.type == "text"]
        # What a reader sees is the mention, line by line, and not one backslash more.
        expected = [line.strip() for line in neutralise_broadcasts(clean(text)).split("\n")]
        assert "".join(shown).replace("\u00a0", " ") == "".join(expected), text


def test_teams_leaves_everyday_text_unescaped_and_breaks_lines() -> None:
    card = _teams_card(mention_text=EVERYDAY + "\nsecond line", summary="one\ntwo")
    quote, summary = _texts(card)[-2], _texts(card)[1]
    assert quote == EVERYDAY + "\n\nsecond line"  # no backslash anywhere
    assert summary == "one\n\ntwo"
    assert _rendered(summary) == "<p>one</p>\n<p>two</p>\n"


@pytest.mark.parametrize("action", ACTIONS)
def test_slack_blocks_pass_slack_sdk_validation(action: NotificationAction, hostile: list[str]) -> None:
    channel = make_http_channel("slack", 9)
    assert isinstance(channel, SlackChannel)
    for text in [*hostile, EVERYDAY, "x" * 100_000]:
        payload = channel.render(notification(action=action, mention_text=text, summary=text[:5000]))
        for raw in payload["blocks"]:
            block = Block.parse(raw)
            assert block is not None, raw
            block.validate_json()  # raises SlackObjectFormationError on any limit or shape error
            assert block.to_dict() == raw


def test_slack_leaves_urls_handles_and_emoji_intact() -> None:
    channel = make_http_channel("slack", 9)
    assert isinstance(channel, SlackChannel)
    text = f"{EVERYDAY} see {URL} or u/some_user and @dana@mastodon.example *now*"
    quote = channel.render(notification(mention_text=text))["blocks"][3]["text"]["text"]
    assert URL.replace("&", "&amp;") in quote
    for intact in ["@startup_sara", ":rotating_light:", "u/some_user", "@dana@mastodon.example"]:
        assert intact in quote
    # Formatting outside them is still neutralised.
    assert "\u200b*\u200bnow\u200b*\u200b" in quote


def _pagerduty(port: int = 9) -> PagerDutyChannel:
    channel = make_http_channel("pagerduty", port)
    assert isinstance(channel, PagerDutyChannel)
    return channel


@pytest.mark.parametrize("action", ACTIONS)
def test_pagerduty_events_match_the_events_v2_schema(action: NotificationAction, hostile: list[str]) -> None:
    validator = _schema("pagerduty-events-v2.json")
    alert_event = {"$ref": "#/$defs/alert_event", "$defs": validator.schema["$defs"]}
    check = jsonschema.Draft202012Validator(alert_event, format_checker=jsonschema.FormatChecker())
    for text in [*hostile, "x" * 100_000]:
        event = _pagerduty().render(notification(action=action, mention_text=text, title=text[:3000]))
        assert [e.message for e in check.iter_errors(event)] == []


def test_a_digest_is_a_change_event_and_never_pages(receiver: HTTPServer) -> None:
    receiver.expect_request("/v2/change/enqueue", method="POST").respond_with_json(
        {"message": "Change event processed", "status": "success"}, status=202
    )
    channel = _pagerduty(receiver.port)
    digest = notification(kind=AlertKind.DIGEST, summary="Lumora: 12 mentions\nOpen alerts: 0")
    assert channel.send(digest).ok
    (request, _), *rest = receiver.log
    assert rest == [] and request.path == "/v2/change/enqueue"  # nothing went to /v2/enqueue
    event = json.loads(request.get_data())
    validator = _schema("pagerduty-events-v2.json")
    change = {"$ref": "#/$defs/change_event", "$defs": validator.schema["$defs"]}
    assert list(jsonschema.Draft202012Validator(change).iter_errors(event)) == []
    assert "event_action" not in event and "dedup_key" not in event
    # A later resolve of the digest has no incident to close, so nothing is posted.
    assert channel.send(notification(kind=AlertKind.DIGEST, action=NotificationAction.RESOLVE)).ok
    assert len(receiver.log) == 1
    assert HTTP_PATHS["pagerduty"] == "/v2/enqueue"


def _email() -> EmailChannel:
    options = EmailOptions(
        host="127.0.0.1", security="none", sender="Earshot <alerts@example.com>", recipients=["a@example.com"]
    )
    return EmailChannel(name="mail", options=options)


@pytest.mark.parametrize("text", ["Ünïcödé café ☕ " * 50, "plain ascii", "x" * 100_000])
def test_email_parts_are_quoted_printable_and_html_is_valid(text: str) -> None:
    raw = _email().render(notification(mention_text=text)).as_bytes()
    assert max(raw) < 128  # 7-bit clean: no BODY=8BITMIME needed
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    parts = {part.get_content_type(): part for part in parsed.iter_parts()}
    assert set(parts) == {"text/plain", "text/html"}
    for part in parts.values():
        assert part["Content-Transfer-Encoding"] == "quoted-printable"
        assert part.defects == []
    plain = parts["text/plain"].get_content()
    assert text[:1000] in plain
    parser = html5lib.HTMLParser(strict=True)  # raises on any parse error
    document = parser.parse(parts["text/html"].get_content())
    assert document is not None
