"""Notifications link back to Earshot: with ``web.base_url`` set, every network channel carries a
link to the alert's page (``{base_url}/alerts/{id}``) and, for a spike, to the mentions behind it;
each payload still passes the receiving service's own SDK or schema."""

from __future__ import annotations

import email
import email.policy
import json
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import html5lib
import jsonschema
import pytest
from slack_sdk.models.blocks import Block

from alerting.channels.base import Channel
from alerting.channels.email import EmailChannel, EmailOptions
from alerting.channels.jsonl import render as jsonl_render
from alerting.channels.webhook import WebhookChannel
from domain import AlertKind, Notification, NotificationAction
from earshot.compose import build_channels
from earshot.settings import load_settings
from tests.alerting.channels.helpers import make_http_channel, notification

SCHEMAS = Path(__file__).parent / "schemas"
ROOT = Path(__file__).resolve().parents[3]
BASE = "https://earshot.example.com/"
ALERT_URL = "https://earshot.example.com/alerts/42"
DRILLDOWN = "/mentions?brand=Acme+Cloud&since=2024-05-01T11%3A30%3A00Z&until=2024-05-01T12%3A30%3A00Z"
DRILLDOWN_URL = "https://earshot.example.com" + DRILLDOWN
XHTML = "{http://www.w3.org/1999/xhtml}"


def _spike(**changes: Any) -> Notification:
    return notification(
        kind=AlertKind.SPIKE, mention_url=None, mention_text=None, details={"drilldown": DRILLDOWN}, **changes
    )


def _linked(kind: str, base_url: str | None = BASE) -> Channel[Any]:
    channel = make_http_channel(kind, 9)
    channel.base_url = base_url
    return channel


def _email(base_url: str | None = BASE) -> EmailChannel:
    options = EmailOptions(
        host="127.0.0.1", security="none", sender="Earshot <alerts@example.com>", recipients=["a@example.com"]
    )
    return EmailChannel(name="mail", options=options, base_url=base_url)


def _schema(name: str, definition: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS / name).read_text())
    if definition:
        schema = {"$ref": f"#/$defs/{definition}", "$defs": schema["$defs"]}
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


@pytest.mark.parametrize("action", list(NotificationAction))
def test_slack_links_to_the_alert_and_passes_slack_sdk(action: NotificationAction) -> None:
    channel = _linked("slack")
    for note in (notification(action=action), _spike(action=action)):
        payload = channel.render(note)  # type: ignore[attr-defined]
        for raw in payload["blocks"]:
            block = Block.parse(raw)
            assert block is not None
            block.validate_json()  # at most 10 context elements, text limits, shapes
        context = [e["text"] for e in payload["blocks"][-1]["elements"]]
        assert context[0] == f"<{ALERT_URL}|Open in Earshot>"
    spike_context = [e["text"] for e in channel.render(_spike())["blocks"][-1]["elements"]]  # type: ignore[attr-defined]
    assert f"<{DRILLDOWN_URL.replace('&', '&amp;')}|Mentions behind it>" in spike_context


@pytest.mark.parametrize("action", list(NotificationAction))
def test_teams_card_opens_the_alert_and_matches_its_schema(action: NotificationAction) -> None:
    channel = _linked("teams")
    for note in (notification(action=action), _spike(action=action)):
        card = channel.render(note)["attachments"][0]["content"]  # type: ignore[attr-defined]
        validator = _schema(f"adaptive-card-{card['version']}.json", "")
        assert [e.message for e in validator.iter_errors(card)] == []
        assert card["actions"][0] == {"type": "Action.OpenUrl", "title": "Open in Earshot", "url": ALERT_URL}
    card = channel.render(_spike())["attachments"][0]["content"]  # type: ignore[attr-defined]
    assert {"type": "Action.OpenUrl", "title": "Mentions behind it", "url": DRILLDOWN_URL} in card["actions"]


def test_email_links_in_both_parts() -> None:
    for note, urls in ((notification(), [ALERT_URL]), (_spike(), [ALERT_URL, DRILLDOWN_URL])):
        raw = _email().render(note).as_bytes()
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        parts = {part.get_content_type(): part for part in parsed.iter_parts()}
        assert parts["text/plain"].defects == [] and parts["text/html"].defects == []
        assert f"Open in Earshot: {ALERT_URL}" in parts["text/plain"].get_content()
        document = html5lib.HTMLParser(strict=True).parse(parts["text/html"].get_content())
        hrefs = [a.get("href") for a in document.iter(f"{XHTML}a")]
        assert hrefs[0] == ALERT_URL and all(url in hrefs for url in urls)


def test_webhook_body_carries_the_alert_url() -> None:
    channel = _linked("webhook")
    assert isinstance(channel, WebhookChannel)
    body = json.loads(channel.render(notification()))
    assert (body["alert"]["url"], body["alert"]["drilldown_url"]) == (ALERT_URL, None)
    spike = json.loads(channel.render(_spike()))
    assert (spike["alert"]["url"], spike["alert"]["drilldown_url"]) == (ALERT_URL, DRILLDOWN_URL)


@pytest.mark.parametrize("action", list(NotificationAction))
def test_pagerduty_event_links_to_the_alert_and_matches_events_v2(action: NotificationAction) -> None:
    channel = _linked("pagerduty")
    check = _schema("pagerduty-events-v2.json", "alert_event")
    for note in (notification(action=action), _spike(action=action)):
        event = channel.render(note)  # type: ignore[attr-defined]
        assert [e.message for e in check.iter_errors(event)] == []
        if event["event_action"] == "trigger":
            assert event["client_url"] == ALERT_URL
            assert event["links"][0] == {"href": ALERT_URL, "text": "Open in Earshot"}
    spike = channel.render(_spike())  # type: ignore[attr-defined]
    assert {"href": DRILLDOWN_URL, "text": "Mentions behind it"} in spike["links"]
    digest = channel.render(notification(kind=AlertKind.DIGEST))  # type: ignore[attr-defined]
    assert [e.message for e in _schema("pagerduty-events-v2.json", "change_event").iter_errors(digest)] == []
    assert digest["links"] == [{"href": ALERT_URL, "text": "Open in Earshot"}]


@pytest.mark.parametrize("base_url", [None, "", "javascript:alert(1)//", "https://bad host/"])
def test_without_a_usable_base_url_no_earshot_link_is_sent(base_url: str | None) -> None:
    rendered = [
        json.dumps(_linked(kind, base_url).render(_spike()), default=str)  # type: ignore[attr-defined]
        for kind in ("slack", "teams", "pagerduty")
    ]
    rendered.append(_linked("webhook", base_url).render(_spike()).decode())  # type: ignore[attr-defined]
    rendered.append(_email(base_url).render(_spike()).as_string())
    for text in rendered:
        assert "Open in Earshot" not in text and "/alerts/42" not in text and "javascript" not in text


def test_the_composition_root_gives_every_channel_web_base_url() -> None:
    settings = load_settings(ROOT / "earshot.example.yaml", env={"EARSHOT_WEB__BASE_URL": BASE})
    built = build_channels(settings)
    assert built and {c.base_url for c in built.values()} == {BASE}
    jsonl = next(c for c in built.values() if c.kind == "jsonl")
    assert jsonl_render(notification(), jsonl.base_url)["alert_url"] == ALERT_URL
    unset = build_channels(load_settings(ROOT / "earshot.example.yaml", env={}))
    assert {c.base_url for c in unset.values()} == {None}
