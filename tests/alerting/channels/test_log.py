"""The log channel: one line per notification; mention text cannot forge extra log lines."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from alerting.channels.log import LogChannel, LogOptions
from domain import Notification, NotificationAction
from tests.alerting.channels.helpers import REFERENCE_ALERT


@pytest.mark.parametrize("action", list(NotificationAction))
def test_one_line_per_notification(caplog: pytest.LogCaptureFixture, action: NotificationAction) -> None:
    channel = LogChannel(name="log", options=LogOptions())
    alert = replace(REFERENCE_ALERT, mention_text="line one\nFAKE 2026 ERROR injected line")
    with caplog.at_level(logging.INFO, logger="earshot.alerts"):
        result = channel.send(Notification(alert=alert, action=action, idempotency_key="k"))
    assert result.ok
    (record,) = caplog.records
    message = record.getMessage()
    assert "\n" not in message
    assert f"[{action}] alert #42 Acme Cloud urgency=high team=support route=outages" in message
    assert "'line one\\nFAKE 2026 ERROR injected line'" in message
    assert record.levelno == logging.WARNING


def test_long_text_is_cut_to_the_class_limit(caplog: pytest.LogCaptureFixture) -> None:
    channel = LogChannel(name="log", options=LogOptions(level="ERROR"))
    with caplog.at_level(logging.INFO, logger="earshot.alerts"):
        channel.send(Notification(alert=replace(REFERENCE_ALERT, mention_text="x" * 100_000)))
    assert "x" * LogChannel.max_message_chars not in caplog.text
    assert "x" * (LogChannel.max_message_chars - 1) + "…" in caplog.text
    assert caplog.records[0].levelno == logging.ERROR


def test_describe() -> None:
    assert LogChannel(name="audit", options=LogOptions()).describe() == "log:audit (level=WARNING)"
