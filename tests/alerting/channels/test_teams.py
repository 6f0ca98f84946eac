"""Teams Workflows webhook: the exact Adaptive Card envelope, markdown escaping, the 28 KB cap."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from alerting.channels.teams import TeamsChannel
from domain import NotificationAction, Urgency
from tests.alerting.channels.helpers import (
    FIXTURES,
    HTTP_PATHS,
    TEAMS_SIG,
    check_fixture,
    make_http_channel,
    notification,
)

BROADCAST = re.compile(r"@(channel|here|everyone)\b", re.IGNORECASE)


def teams(port: int = 9) -> TeamsChannel:
    channel = make_http_channel("teams", port)
    assert isinstance(channel, TeamsChannel)
    return channel


def card_texts(payload: dict[str, Any]) -> list[str]:
    card = payload["attachments"][0]["content"]
    found = []
    for block in card["body"]:
        items = block.get("items", [block])
        found += [item["text"] for item in items if "text" in item]
        found += [fact["value"] for fact in block.get("facts", [])]
    return found


def test_posts_the_reference_card(receiver: HTTPServer) -> None:
    receiver.expect_request(HTTP_PATHS["teams"], method="POST").respond_with_data("", status=202)
    result = teams(receiver.port).send(notification())
    assert result.ok and result.status_code == 202
    request = receiver.log[0][0]
    # the workflow URL's query (api-version, sp, sig) is passed through untouched
    assert request.args["sig"] == TEAMS_SIG and request.args["api-version"] == "1"
    assert request.headers["Content-Type"] == "application/json"
    check_fixture("teams.json", json.loads(request.get_data()))


def test_fixture_has_the_workflows_envelope() -> None:
    payload = json.loads((FIXTURES / "teams.json").read_text())
    assert payload["type"] == "message"
    (attachment,) = payload["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.5"
    assert card["actions"] == [
        {
            "type": "Action.OpenUrl",
            "title": "View mention",
            "url": "https://social.example/@dana/112233?ref=feed&lang=en",
        }
    ]


@pytest.mark.parametrize("field", ["mention_text", "author", "title", "summary"])
def test_hostile_text_stays_text(hostile: list[str], field: str) -> None:
    channel = teams()
    for text in hostile:
        changes: dict[str, Any] = {field: text}
        payload = channel.render(notification(**changes))
        for value in card_texts(payload):
            # Only what Teams would turn into markup is escaped (test_validators renders it).
            bare = re.sub(r"\\.", "", value)  # what is left once escaped characters are removed
            assert not re.search(r"[*`]|\]\(", bare), value
            assert not BROADCAST.search(value)
        # links only ever come from our own action, never from text
        assert "evil.example" not in json.dumps(payload["attachments"][0]["content"].get("actions", []))


def test_a_100k_mention_fits_in_28kb(receiver: HTTPServer) -> None:
    receiver.expect_request(HTTP_PATHS["teams"], method="POST").respond_with_data("", status=202)
    huge = ("Ünïcödé & *stars* " * 6000)[:100_000]
    assert teams(receiver.port).send(notification(mention_text=huge)).ok
    body = receiver.log[0][0].get_data()
    assert len(body) <= TeamsChannel.max_message_chars
    quote = json.loads(body)["attachments"][0]["content"]["body"][3]["items"][0]["text"]
    assert quote.endswith("…") and quote.startswith("Ünïcödé & \\*stars\\*")
    # the cut is tight: the card uses most of its budget rather than dropping the quote
    assert len(body) > TeamsChannel.max_message_chars - 200


def test_huge_everything_still_fits() -> None:
    payload = teams().render(
        notification(mention_text="x" * 100_000, title="t" * 10_000, summary="s" * 50_000, author="a" * 9000)
    )
    assert len(json.dumps(payload, ensure_ascii=False).encode()) <= TeamsChannel.max_message_chars


@pytest.mark.parametrize(
    ("action", "urgency", "colour"),
    [
        (NotificationAction.FIRE, Urgency.CRITICAL, "Attention"),
        (NotificationAction.FIRE, Urgency.MEDIUM, "Warning"),
        (NotificationAction.ACKNOWLEDGE, Urgency.HIGH, "Default"),
        (NotificationAction.RESOLVE, Urgency.HIGH, "Good"),
    ],
)
def test_title_colour_follows_action_and_urgency(
    action: NotificationAction, urgency: Urgency, colour: str
) -> None:
    card = teams().render(notification(action=action, urgency=urgency))["attachments"][0]["content"]
    assert card["body"][0]["color"] == colour
