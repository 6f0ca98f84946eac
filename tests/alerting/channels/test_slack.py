"""Slack incoming webhook: the exact Block Kit body, escaping and Block Kit limits."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from alerting.channels.slack import FIELD_CHARS, HEADER_CHARS, SECTION_CHARS, SlackChannel, SlackOptions
from domain import DeliveryOutcome, NotificationAction
from tests.alerting.channels.helpers import (
    FIXTURES,
    HTTP_PATHS,
    check_fixture,
    make_http_channel,
    notification,
)

BROADCAST = re.compile(r"@(channel|here|everyone)\b", re.IGNORECASE)


def slack(port: int = 9) -> SlackChannel:
    channel = make_http_channel("slack", port)
    assert isinstance(channel, SlackChannel)
    return channel


def texts(payload: dict[str, Any]) -> list[tuple[str, str]]:
    """Every (text object type, text) in the message, plus the fallback text as mrkdwn."""
    found = [("mrkdwn", payload["text"])]
    for block in payload["blocks"]:
        objects = [block["text"]] if "text" in block else []
        objects += block.get("fields", []) + block.get("elements", [])
        found += [(obj["type"], obj["text"]) for obj in objects]
    return found


def test_posts_the_reference_body(receiver: HTTPServer) -> None:
    receiver.expect_request(HTTP_PATHS["slack"], method="POST").respond_with_data("ok")
    result = slack(receiver.port).send(notification())
    assert result.ok, result.reason
    request = receiver.log[0][0]
    assert request.headers["Content-Type"] == "application/json"
    check_fixture("slack.json", json.loads(request.get_data()))


def test_fixture_is_valid_block_kit_shape() -> None:
    payload = json.loads((FIXTURES / "slack.json").read_text())
    assert payload["unfurl_links"] is False and payload["unfurl_media"] is False
    assert [b["type"] for b in payload["blocks"]] == ["header", "section", "section", "section", "context"]
    assert payload["blocks"][0]["text"]["type"] == "plain_text"  # header blocks only take plain_text
    # the one Slack control sequence in the message is our own link, to the escaped mention URL
    links = re.findall(r"<[^>]*>", json.dumps(payload))
    assert links == ["<https://social.example/@dana/112233?ref=feed&amp;lang=en|View mention>"]


@pytest.mark.parametrize("field", ["mention_text", "author", "title", "summary", "brand"])
def test_hostile_text_cannot_ping_link_or_format(hostile: list[str], field: str) -> None:
    channel = slack()
    for text in hostile:
        changes: dict[str, Any] = {field: text}
        payload = channel.render(notification(**changes))
        for kind, value in texts(payload):
            assert not BROADCAST.search(value), value
            if kind == "mrkdwn":
                # only our own "<url|View mention>" may open a control sequence
                stripped = value.replace(
                    "<https://social.example/@dana/112233?ref=feed&amp;lang=en|View mention>", ""
                )
                assert "<" not in stripped and ">" not in stripped.replace("\n> ", "\n").removeprefix("> ")
                assert "<!channel>" not in value and "<@U" not in value and "<http://evil" not in value


def test_a_100k_mention_is_cut_to_block_limits(receiver: HTTPServer) -> None:
    receiver.expect_request(HTTP_PATHS["slack"], method="POST").respond_with_data("ok")
    huge = ("spam & <eggs> " * 10_000)[:100_000]
    result = slack(receiver.port).send(notification(mention_text=huge, title="t" * 500, summary="s" * 5000))
    assert result.ok
    payload = json.loads(receiver.log[0][0].get_data())
    header, summary, fields, quote, _ = payload["blocks"]
    assert len(header["text"]["text"]) <= HEADER_CHARS
    assert len(summary["text"]["text"]) == SECTION_CHARS and summary["text"]["text"].endswith("…")
    assert len(quote["text"]["text"]) <= SECTION_CHARS and quote["text"]["text"].endswith("…")
    assert quote["text"]["text"].startswith("> spam &amp; &lt;eggs&gt;")
    assert all(len(f["text"]) <= FIELD_CHARS for f in fields["fields"]) and len(fields["fields"]) <= 10
    assert sum(len(text) for _, text in texts(payload)) <= SlackChannel.max_message_chars


def test_long_field_values_are_cut_per_field() -> None:
    payload = slack().render(notification(author="a" * 5000))
    author = next(f for f in payload["blocks"][2]["fields"] if f["text"].startswith("*Author*"))
    assert len(author["text"]) == FIELD_CHARS and author["text"].endswith("…")


def test_resolve_says_so_and_keeps_the_same_shape() -> None:
    payload = slack().render(notification(action=NotificationAction.RESOLVE))
    assert payload["blocks"][0]["text"]["text"] == "Resolved: Outage complaint about Acme Cloud"


def test_a_mention_without_a_safe_url_has_no_link() -> None:
    payload = slack().render(notification(mention_url="javascript:alert(document.cookie)"))
    assert not any("<" in element["text"] for element in payload["blocks"][-1]["elements"])


def test_options_reject_a_non_http_url_without_echoing_it() -> None:
    with pytest.raises(ValueError, match="absolute http") as info:
        SlackOptions(webhook_url="hooks.slack.com/services/SECRET-PART")
    assert "SECRET-PART" not in str(info.value)


def test_unknown_options_are_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="extra"):
        SlackOptions(webhook_url="https://hooks.slack.com/x", channel="#general")  # type: ignore[call-arg]


def test_a_slack_error_body_becomes_the_reason(receiver: HTTPServer) -> None:
    receiver.expect_request(HTTP_PATHS["slack"], method="POST").respond_with_data(
        "channel_is_archived", status=410
    )
    result = slack(receiver.port).send(notification())
    assert result.outcome is DeliveryOutcome.FAILED
    assert result.reason == "HTTP 410: channel_is_archived"
