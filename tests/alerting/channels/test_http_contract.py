"""One table, every HTTP channel: how each answer from a receiver becomes a DeliveryResult."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any, ClassVar

import pytest
from pytest_httpserver import HTTPServer

from alerting.channels.registry import channels
from domain import DeliveryOutcome
from tests.alerting.channels.helpers import (
    HTTP_PATHS,
    SECRETS,
    SilentPeer,
    closed_port,
    make_http_channel,
    notification,
)

HTTP_KINDS = ["slack", "teams", "webhook", "pagerduty", "apprise"]
# Apprise hides response headers, so only the others can honour Retry-After.
READS_RETRY_AFTER = {"slack", "teams", "webhook", "pagerduty"}
SHORT_TIMEOUT = 0.3


def expect(
    receiver: HTTPServer, kind: str, status: int, body: str = "", headers: dict[str, str] | None = None
) -> None:
    receiver.expect_request(HTTP_PATHS[kind], method="POST").respond_with_data(
        body, status=status, headers=headers or {}
    )


@pytest.mark.parametrize("kind", HTTP_KINDS)
@pytest.mark.parametrize("status", [200, 202, 204])
def test_2xx_is_delivered(receiver: HTTPServer, kind: str, status: int) -> None:
    expect(receiver, kind, status, "ok")
    result = make_http_channel(kind, receiver.port).send(notification())
    assert result.outcome is DeliveryOutcome.DELIVERED, result.reason
    assert len(receiver.log) == 1


@pytest.mark.parametrize("kind", HTTP_KINDS)
def test_429_retries_after_the_servers_delay_in_seconds(receiver: HTTPServer, kind: str) -> None:
    expect(receiver, kind, 429, "rate_limited", {"Retry-After": "17"})
    result = make_http_channel(kind, receiver.port).send(notification())
    assert result.outcome is DeliveryOutcome.RETRY
    if kind in READS_RETRY_AFTER:
        assert result.retry_after_seconds == 17.0
        assert result.status_code == 429
    else:
        assert "429" in result.reason


@pytest.mark.parametrize("kind", sorted(READS_RETRY_AFTER))
def test_429_retries_after_an_http_date(receiver: HTTPServer, kind: str) -> None:
    when = datetime.now(UTC) + timedelta(seconds=90)
    expect(receiver, kind, 429, "slow down", {"Retry-After": format_datetime(when, usegmt=True)})
    result = make_http_channel(kind, receiver.port).send(notification())
    assert result.outcome is DeliveryOutcome.RETRY
    assert result.retry_after_seconds is not None and 85 <= result.retry_after_seconds <= 90


@pytest.mark.parametrize("kind", HTTP_KINDS)
@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_retries(receiver: HTTPServer, kind: str, status: int) -> None:
    expect(receiver, kind, status, "upstream trouble")
    result = make_http_channel(kind, receiver.port).send(notification())
    assert result.outcome is DeliveryOutcome.RETRY
    assert str(status) in result.reason


@pytest.mark.parametrize("kind", HTTP_KINDS)
@pytest.mark.parametrize(
    ("status", "body"), [(400, "invalid_payload"), (403, "action_prohibited"), (404, "no_service")]
)
def test_other_4xx_fails_permanently_with_the_reason(
    receiver: HTTPServer, kind: str, status: int, body: str
) -> None:
    expect(receiver, kind, status, body)
    result = make_http_channel(kind, receiver.port).send(notification())
    assert result.outcome is DeliveryOutcome.FAILED
    assert str(status) in result.reason
    if kind in READS_RETRY_AFTER:  # Apprise logs the status, not the body
        assert body in result.reason
        assert result.status_code == status


@pytest.mark.parametrize("kind", sorted(READS_RETRY_AFTER))
def test_a_redirect_is_a_configuration_error_and_not_followed(receiver: HTTPServer, kind: str) -> None:
    expect(receiver, kind, 302, "", {"Location": receiver.url_for("/elsewhere")})
    result = make_http_channel(kind, receiver.port).send(notification())
    assert result.outcome is DeliveryOutcome.FAILED and "redirect" in result.reason
    assert len(receiver.log) == 1  # the signed body was not replayed to the new location


@pytest.mark.parametrize("kind", HTTP_KINDS)
def test_a_receiver_that_never_answers_times_out_and_retries(silent_peer: SilentPeer, kind: str) -> None:
    channel = make_http_channel(kind, silent_peer.port, timeout=SHORT_TIMEOUT)
    started = time.monotonic()
    result = channel.send(notification())
    assert result.outcome is DeliveryOutcome.RETRY
    assert time.monotonic() - started < 5 * SHORT_TIMEOUT + 1


@pytest.mark.parametrize("kind", HTTP_KINDS)
def test_connection_refused_retries(kind: str) -> None:
    result = make_http_channel(kind, closed_port(), timeout=SHORT_TIMEOUT).send(notification())
    assert result.outcome is DeliveryOutcome.RETRY
    assert result.reason


@pytest.mark.parametrize("kind", HTTP_KINDS)
def test_failure_reasons_never_quote_secrets(receiver: HTTPServer, kind: str) -> None:
    expect(receiver, kind, 400, "bad request for " + " ".join(SECRETS[kind]))
    result = make_http_channel(kind, receiver.port).send(notification())
    assert result.outcome is DeliveryOutcome.FAILED
    for secret in SECRETS[kind]:
        assert secret not in result.reason


@pytest.mark.parametrize("kind", HTTP_KINDS)
def test_the_base_enforces_the_class_rate_limit(receiver: HTTPServer, kind: str) -> None:
    real = channels.get(kind)

    class TwoPerMinute(real):  # type: ignore[misc, valid-type]
        max_per_minute: ClassVar[int | None] = 2

    expect(receiver, kind, 200, "ok")
    channel = make_http_channel(kind, receiver.port, cls=TwoPerMinute)
    results = [channel.send(notification(key=f"k{i}")) for i in range(3)]
    assert [r.outcome for r in results] == [DeliveryOutcome.DELIVERED] * 2 + [DeliveryOutcome.RETRY]
    assert results[2].retry_after_seconds is not None and 0 < results[2].retry_after_seconds <= 60
    assert len(receiver.log) == 2  # the third never left the process


@pytest.mark.parametrize("kind", HTTP_KINDS)
def test_describe_masks_every_secret(kind: str) -> None:
    channel = make_http_channel(kind, 9)
    private = channel.describe(privacy=True)
    assert private.startswith(f"{kind}:{kind}-test")
    for secret in SECRETS[kind]:
        assert secret not in private
    revealed = channel.describe(privacy=False)
    assert any(secret in revealed for secret in SECRETS[kind])


LIMITS: dict[str, dict[str, Any]] = {
    "slack": {"max_message_chars": 40_000, "max_per_minute": 60},
    "teams": {"max_message_chars": 28_000, "max_per_minute": 30},
    "webhook": {"max_message_chars": 64_000, "max_per_minute": None},
    "pagerduty": {"max_message_chars": 1024, "max_per_minute": 120},
    "apprise": {"max_message_chars": 32_768, "max_per_minute": None},
    "email": {"max_message_chars": 50_000, "max_per_minute": None},
}


@pytest.mark.parametrize("kind", sorted(LIMITS))
def test_limits_are_class_attributes_matching_the_service(kind: str) -> None:
    cls = channels.get(kind)
    assert cls.kind == kind
    for name, value in LIMITS[kind].items():
        assert name in vars(cls), f"{kind} must declare {name} itself"
        assert getattr(cls, name) == value
