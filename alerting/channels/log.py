"""The log channel: alerts written to Earshot's own log. Always available, no setup."""

from __future__ import annotations

import logging
from typing import ClassVar

from alerting.channels.base import Channel, ChannelOptions, cut_to_fit
from domain import DeliveryResult, Notification

log = logging.getLogger("earshot.alerts")


class LogOptions(ChannelOptions):
    """Options for the log channel."""

    level: str = "WARNING"


class LogChannel(Channel[LogOptions]):
    """Writes one log line per notification."""

    kind: ClassVar[str] = "log"
    options_model: ClassVar[type[ChannelOptions]] = LogOptions
    max_message_chars: ClassVar[int] = 1000

    def _send(self, notification: Notification) -> DeliveryResult:
        alert = notification.alert
        # repr() keeps newlines and control characters in mention text from forging log lines.
        text = cut_to_fit(alert.mention_text or alert.summary, self.max_message_chars)
        level = logging.getLevelName(self.options.level.upper())
        log.log(
            level if isinstance(level, int) else logging.WARNING,
            "[%s] alert #%d %s urgency=%s team=%s route=%s: %s %r",
            notification.action,
            alert.id,
            alert.brand or "-",
            alert.urgency,
            alert.team,
            alert.route,
            alert.title,
            text,
        )
        return DeliveryResult.delivered()
