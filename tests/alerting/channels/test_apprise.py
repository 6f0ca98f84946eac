"""Apprise: any Apprise URL; tested with json:// against a recording receiver on 127.0.0.1."""

from __future__ import annotations

import json
import re

import pytest
from pytest_httpserver import HTTPServer

from alerting.channels.apprise import AppriseChannel, AppriseOptions
from domain import NotificationAction, Urgency
from tests.alerting.channels.helpers import (
    APPRISE_TOKEN,
    HTTP_PATHS,
    check_fixture,
    make_http_channel,
    notification,
)


def apprise(port: int = 9, **changes: str) -> AppriseChannel:
    channel = make_http_channel("apprise", port)
    assert isinstance(channel, AppriseChannel)
    if changes:
        options = AppriseOptions(**(channel.options.model_dump() | {"url": channel.options.url} | changes))
        channel = AppriseChannel(name=channel.name, options=options)
    return channel


def test_posts_the_reference_notification(receiver: HTTPServer) -> None:
    receiver.expect_request(HTTP_PATHS["apprise"], method="POST").respond_with_data("ok")
    result = apprise(receiver.port).send(notification())
    assert result.ok, result.reason
    document = json.loads(receiver.log[0][0].get_data())
    check_fixture("apprise_json.json", document)
    assert not document["message"].startswith(document["title"])  # the title is not repeated


@pytest.mark.parametrize(
    ("action", "urgency", "kind"),
    [
        (NotificationAction.FIRE, Urgency.HIGH, "failure"),
        (NotificationAction.ESCALATE, Urgency.MEDIUM, "warning"),
        (NotificationAction.FIRE, Urgency.LOW, "info"),
        (NotificationAction.ACKNOWLEDGE, Urgency.CRITICAL, "info"),
        (NotificationAction.RESOLVE, Urgency.CRITICAL, "success"),
    ],
)
def test_notify_type_follows_action_and_urgency(
    receiver: HTTPServer, action: NotificationAction, urgency: Urgency, kind: str
) -> None:
    receiver.expect_request(HTTP_PATHS["apprise"], method="POST").respond_with_data("ok")
    assert apprise(receiver.port).send(notification(action=action, urgency=urgency)).ok
    assert json.loads(receiver.log[0][0].get_data())["type"] == kind


def test_hostile_text_cannot_ping_a_room(hostile: list[str]) -> None:
    channel = apprise()
    for text in hostile:
        title, body = channel.render(notification(mention_text=text, title=text, author=text))
        for part in (title, body):
            assert not re.search(r"@(channel|here|everyone)\b", part, re.IGNORECASE)
            assert not re.search(r"[\x00-\x08\x0b-\x1f\u202e]", part)


def test_markdown_bodies_are_markdown_escaped() -> None:
    _, body = apprise(body_format="markdown").render(
        notification(mention_text="[click](http://evil.example) **now**")
    )
    assert "> \\[click\\]\\(http://evil.example\\) \\*\\*now\\*\\*" in body


def test_a_100k_mention_is_cut(receiver: HTTPServer) -> None:
    receiver.expect_request(HTTP_PATHS["apprise"], method="POST").respond_with_data("ok")
    assert apprise(receiver.port).send(notification(mention_text="y" * 100_000)).ok
    message = json.loads(receiver.log[0][0].get_data())["message"]
    assert AppriseChannel.max_message_chars - 50 < len(message) <= AppriseChannel.max_message_chars
    assert "y…" in message


@pytest.mark.parametrize("url", ["nosuchscheme://x/y", "json://", "not a url"])
def test_urls_apprise_cannot_use_are_rejected_without_echoing_them(url: str) -> None:
    with pytest.raises(ValueError, match="Apprise does not recognise") as info:
        AppriseOptions(url=url)
    assert url not in str(info.value)


def test_describe_hides_the_token_in_the_url() -> None:
    assert APPRISE_TOKEN not in apprise().describe(privacy=True)
