"""PagerDuty Events API v2: trigger/acknowledge/resolve bodies, dedup keys, field limits."""

from __future__ import annotations

import json
import re

import pytest
from pytest_httpserver import HTTPServer

from alerting.channels.pagerduty import (
    MENTION_CHARS,
    SUMMARY_CHARS,
    PagerDutyChannel,
    PagerDutyOptions,
    dedup_key,
)
from domain import DeliveryOutcome, NotificationAction, Urgency
from tests.alerting.channels.helpers import (
    HTTP_PATHS,
    PAGERDUTY_KEY,
    check_fixture,
    make_http_channel,
    notification,
)

ACCEPTED = {"status": "success", "message": "Event processed", "dedup_key": "acme-cloud:outage"}


def pagerduty(port: int = 9) -> PagerDutyChannel:
    channel = make_http_channel("pagerduty", port)
    assert isinstance(channel, PagerDutyChannel)
    return channel


@pytest.mark.parametrize(
    ("action", "fixture"),
    [
        (NotificationAction.FIRE, "pagerduty_trigger.json"),
        (NotificationAction.ACKNOWLEDGE, "pagerduty_acknowledge.json"),
        (NotificationAction.RESOLVE, "pagerduty_resolve.json"),
    ],
)
def test_posts_the_reference_event(receiver: HTTPServer, action: NotificationAction, fixture: str) -> None:
    receiver.expect_request(HTTP_PATHS["pagerduty"], method="POST").respond_with_json(ACCEPTED, status=202)
    result = pagerduty(receiver.port).send(notification(action=action))
    assert result.ok and result.status_code == 202
    request = receiver.log[0][0]
    assert request.path == "/v2/enqueue" and PAGERDUTY_KEY not in request.url  # key only in the body
    check_fixture(fixture, json.loads(request.get_data()))


def test_escalation_re_triggers_the_same_pagerduty_alert() -> None:
    fire = pagerduty().render(notification(action=NotificationAction.FIRE))
    escalate = pagerduty().render(notification(action=NotificationAction.ESCALATE))
    assert escalate["event_action"] == "trigger" and escalate["dedup_key"] == fire["dedup_key"]
    assert escalate["payload"]["summary"].startswith("[HIGH] Escalated: ")


@pytest.mark.parametrize(
    ("group_key", "expected"),
    [
        ("acme-cloud:outage", "acme-cloud:outage"),
        ("", "earshot-alert-42"),
        ("g" * 255, "g" * 255),
    ],
)
def test_dedup_key(group_key: str, expected: str) -> None:
    alert = notification(group_key=group_key).alert
    assert dedup_key(alert) == expected


def test_an_overlong_group_key_is_hashed_stably() -> None:
    key = dedup_key(notification(group_key="g" * 300).alert)
    assert len(key) <= 255 and re.fullmatch(r"earshot-[0-9a-f]{64}", key)
    assert key == dedup_key(notification(group_key="g" * 300).alert)
    assert key != dedup_key(notification(group_key="g" * 301).alert)


@pytest.mark.parametrize(
    ("urgency", "severity"),
    [
        (Urgency.CRITICAL, "critical"),
        (Urgency.HIGH, "error"),
        (Urgency.MEDIUM, "warning"),
        (Urgency.LOW, "info"),
    ],
)
def test_severity_follows_urgency(urgency: Urgency, severity: str) -> None:
    assert pagerduty().render(notification(urgency=urgency))["payload"]["severity"] == severity


def test_a_100k_mention_respects_field_limits(receiver: HTTPServer) -> None:
    receiver.expect_request(HTTP_PATHS["pagerduty"], method="POST").respond_with_json(ACCEPTED, status=202)
    huge = "x" * 100_000
    result = pagerduty(receiver.port).send(
        notification(mention_text=huge, title="T" * 2000, team="t" * 400, brand="b" * 400)
    )
    assert result.ok
    body = receiver.log[0][0].get_data()
    assert len(body) < 512 * 1024
    payload = json.loads(body)["payload"]
    assert len(payload["summary"]) == SUMMARY_CHARS and payload["summary"].endswith("…")
    assert len(payload["group"]) <= 255 and len(payload["component"]) <= 255
    assert len(payload["custom_details"]["mention"]) == MENTION_CHARS


def test_hostile_text_is_plain_and_quiet(hostile: list[str]) -> None:
    channel = pagerduty()
    for text in hostile:
        event = channel.render(notification(mention_text=text, title=text))
        flat = json.dumps(event, ensure_ascii=False)
        assert not re.search(r"@(channel|here|everyone)\b", flat, re.IGNORECASE)
        assert "\u202e" not in flat and "\x1b" not in flat


def test_an_invalid_event_fails_with_pagerdutys_explanation(receiver: HTTPServer) -> None:
    error = {
        "status": "invalid event",
        "message": "Event object is invalid",
        "errors": ["'payload.severity' is invalid"],
    }
    receiver.expect_request(HTTP_PATHS["pagerduty"], method="POST").respond_with_json(error, status=400)
    result = pagerduty(receiver.port).send(notification())
    assert result.outcome is DeliveryOutcome.FAILED
    assert "Event object is invalid" in result.reason and "payload.severity" in result.reason


@pytest.mark.parametrize(
    "bad", [{"routing_key": "  "}, {"routing_key": "k" * 32, "base_url": "events.pagerduty.com"}]
)
def test_bad_options_are_rejected(bad: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        PagerDutyOptions(**bad)


def test_base_url_defaults_to_the_us_service() -> None:
    assert PagerDutyOptions(routing_key="k" * 32).base_url == "https://events.pagerduty.com"
