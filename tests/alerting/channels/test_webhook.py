"""Generic JSON webhook: exact body, HMAC signature checked the way a receiver would, cutting."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from alerting.channels.webhook import (
    WebhookChannel,
    WebhookOptions,
    retry_after_seconds,
    sign,
    verify_signature,
)
from domain import NotificationAction
from tests.alerting.channels.helpers import (
    HTTP_PATHS,
    WEBHOOK_AUTH,
    WEBHOOK_SECRET,
    check_fixture,
    make_http_channel,
    notification,
)


def webhook(port: int = 9) -> WebhookChannel:
    channel = make_http_channel("webhook", port)
    assert isinstance(channel, WebhookChannel)
    return channel


def receiver_verifies(request: Request) -> Response:
    """What a receiver does: recompute the HMAC over timestamp.body with its own copy of the key."""
    timestamp = request.headers.get("X-Earshot-Timestamp", "")
    body = request.get_data()
    expected = (
        "sha256="
        + hmac.new(WEBHOOK_SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    )
    fresh = timestamp.isdigit() and abs(time.time() - int(timestamp)) < 300
    if fresh and hmac.compare_digest(expected, request.headers.get("X-Earshot-Signature", "")):
        return Response("accepted", status=202)
    return Response("bad signature", status=401)


def test_posts_the_reference_body_signed(receiver: HTTPServer) -> None:
    receiver.expect_request(HTTP_PATHS["webhook"], method="POST").respond_with_handler(receiver_verifies)
    result = webhook(receiver.port).send(notification(key="delivery-42-1"))
    assert result.ok and result.status_code == 202, result.reason
    request = receiver.log[0][0]
    assert request.headers["Idempotency-Key"] == "delivery-42-1"
    assert request.headers["Authorization"] == WEBHOOK_AUTH
    assert request.headers["Content-Type"] == "application/json"
    check_fixture("webhook.json", json.loads(request.get_data()))


def test_a_receiver_rejects_a_body_signed_with_another_key(receiver: HTTPServer) -> None:
    receiver.expect_request(HTTP_PATHS["webhook"], method="POST").respond_with_handler(receiver_verifies)
    url = webhook(receiver.port).options.url
    channel = WebhookChannel(name="wrong", options=WebhookOptions(url=url, secret="another-secret-of-16+"))
    result = channel.send(notification())
    assert result.status_code == 401  # our signature really depends on the key


def test_retries_of_one_delivery_carry_the_same_idempotency_key(receiver: HTTPServer) -> None:
    receiver.expect_request(HTTP_PATHS["webhook"], method="POST").respond_with_data("", status=503)
    channel = webhook(receiver.port)
    for _ in range(2):
        channel.send(notification(key="delivery-7-3"))
    keys = [request.headers["Idempotency-Key"] for request, _ in receiver.log]
    bodies = {request.get_data() for request, _ in receiver.log}
    assert keys == ["delivery-7-3", "delivery-7-3"] and len(bodies) == 1


def test_hostile_text_arrives_byte_for_byte(receiver: HTTPServer, hostile: list[str]) -> None:
    receiver.expect_request(HTTP_PATHS["webhook"], method="POST").respond_with_data("ok")
    channel = webhook(receiver.port)
    for text in hostile[:4]:
        assert channel.send(notification(mention_text=text, author=text)).ok
    for (request, _), text in zip(receiver.log, hostile[:4], strict=True):
        alert = json.loads(request.get_data())["alert"]
        # JSON is the escaping; rendering it safely is the receiver's business, so nothing is lost
        assert alert["mention_text"] == text and alert["author"] == text


def test_a_100k_mention_is_cut_and_flagged(receiver: HTTPServer) -> None:
    receiver.expect_request(HTTP_PATHS["webhook"], method="POST").respond_with_handler(receiver_verifies)
    huge = ('"quoted" \\ \n' * 10_000)[:100_000]  # JSON escaping lengthens every one of these
    result = webhook(receiver.port).send(notification(mention_text=huge, details={"big": "x" * 10_000}))
    assert result.ok, result.reason
    body = receiver.log[0][0].get_data()
    assert len(body.decode()) <= WebhookChannel.max_message_chars
    assert len(body.decode()) > WebhookChannel.max_message_chars - 10  # tight, not dropped
    document = json.loads(body)
    assert document["truncated"] is True and document["alert"]["details"] == {}
    assert document["alert"]["mention_text"].endswith("…")
    assert huge.startswith(document["alert"]["mention_text"][:-1])


def test_odd_detail_values_do_not_break_delivery() -> None:
    body = webhook().render(notification(details={"seen": dt.datetime(2024, 1, 1, tzinfo=dt.UTC)}))
    assert json.loads(body)["alert"]["details"] == {"seen": "2024-01-01 00:00:00+00:00"}


def test_actions_are_named_in_the_body() -> None:
    body = json.loads(webhook().render(notification(action=NotificationAction.RESOLVE)))
    assert body["action"] == "resolve"


def test_verify_signature_helper() -> None:
    body = b'{"a":1}'
    now = 1_700_000_000
    good = sign(WEBHOOK_SECRET, str(now), body)
    assert good.startswith("sha256=") and len(good) == 7 + 64
    assert verify_signature(WEBHOOK_SECRET, str(now), body, good, now=now + 10)
    assert not verify_signature(WEBHOOK_SECRET, str(now), body + b" ", good, now=now)  # tampered body
    assert not verify_signature("x" * 20, str(now), body, good, now=now)  # other key
    assert not verify_signature(WEBHOOK_SECRET, str(now), body, good, now=now + 301)  # replayed later
    assert not verify_signature(WEBHOOK_SECRET, str(now + 1), body, good, now=now)  # timestamp swapped
    assert not verify_signature(WEBHOOK_SECRET, "soon", body, good, now=now)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("-5", 0.0),
        ("1.5", 1.5),
        ("Wed, 01 May 2024 12:31:00 GMT", 60.0),
        ("Wed, 01 May 2024 12:29:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_parsing(value: str | None, expected: float | None) -> None:
    now = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC)
    assert retry_after_seconds(value, now=now) == expected


@pytest.mark.parametrize(
    "options",
    [
        {"url": "ftp://example.com/x", "secret": "0123456789abcdef"},
        {"url": "https://example.com/x", "secret": "short"},
        {"url": "https://example.com/x"},
    ],
)
def test_bad_options_are_rejected(options: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        WebhookOptions(**options)
