"""Microsoft Teams through a Workflows (Power Automate) webhook posting an Adaptive Card.

The "Send webhook alerts to a channel" workflow expects the Bot Framework message envelope:
``{"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
"content": <AdaptiveCard>}]}``. TextBlocks render a markdown subset, so every untrusted string
goes through :func:`escape_markdown`; the only link in the card is ours (``Action.OpenUrl``
with a URL that passed :func:`safe_url`).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from pydantic import Field, SecretStr, field_validator

from alerting.channels.base import ChannelOptions
from alerting.channels.render import AlertView, alert_view, escape_markdown, fit
from alerting.channels.webhook import HttpChannel, HttpOptions, check_http_url, post_json
from domain import DeliveryResult, Notification, NotificationAction, Urgency

CARD_VERSION = "1.4"  # the newest version the Workflows "post card" action renders everywhere
TITLE_CHARS = 200
SUMMARY_CHARS = 2000
FACT_CHARS = 500


class TeamsOptions(HttpOptions):
    """Options for a Teams Workflows webhook."""

    webhook_url: SecretStr = Field(description="The workflow's HTTP trigger URL; its sig= is a credential.")

    _check_url = field_validator("webhook_url")(check_http_url)


def _encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode()


class TeamsChannel(HttpChannel[TeamsOptions]):
    """Posts an Adaptive Card to a Teams channel through a Workflows webhook."""

    kind: ClassVar[str] = "teams"
    options_model: ClassVar[type[ChannelOptions]] = TeamsOptions
    # Teams rejects messages over about 28 KB, counted on the whole encoded payload (in bytes).
    max_message_chars: ClassVar[int] = 28_000
    # Microsoft publishes no fixed figure for Workflows triggers; the connector limits it replaced
    # allowed bursts of 4/s but throttled sustained posting with 429, so stay well under that.
    max_per_minute: ClassVar[int | None] = 30

    def render(self, notification: Notification) -> dict[str, Any]:
        """The exact JSON document the workflow receives, at most ``max_message_chars`` bytes."""
        view = alert_view(notification)
        payload = self._payload(view, notification, self.max_message_chars)
        if len(_encode(payload)) <= self.max_message_chars:
            return payload
        # The quote is the only unbounded part. Bytes are not characters (UTF-8, JSON escapes), so
        # binary-search the longest quote whose encoded card fits; an empty quote always does.
        lo, hi = 0, self.max_message_chars
        best = self._payload(view, notification, 0)
        while lo <= hi:
            mid = (lo + hi) // 2
            candidate = self._payload(view, notification, mid)
            if len(_encode(candidate)) <= self.max_message_chars:
                best, lo = candidate, mid + 1
            else:
                hi = mid - 1
        return best

    def _payload(self, view: AlertView, notification: Notification, quote_chars: int) -> dict[str, Any]:
        body: list[dict[str, Any]] = [
            {
                "type": "TextBlock",
                "text": fit(view.title, TITLE_CHARS, escape_markdown),
                "size": "Medium",
                "weight": "Bolder",
                "style": "heading",
                "color": _colour(notification),
                "wrap": True,
            },
            {"type": "TextBlock", "text": fit(view.summary, SUMMARY_CHARS, escape_markdown), "wrap": True},
            {
                "type": "FactSet",
                "facts": [
                    {"title": label, "value": fit(value, FACT_CHARS, escape_markdown)}
                    for label, value in view.fields
                ],
            },
        ]
        if view.quote and quote_chars > 0:
            body.append(
                {
                    "type": "Container",
                    "style": "emphasis",
                    "items": [
                        {
                            "type": "TextBlock",
                            "text": fit(view.quote, quote_chars, escape_markdown),
                            "wrap": True,
                        }
                    ],
                }
            )
        body.append(
            {
                "type": "TextBlock",
                "text": escape_markdown(view.footer),
                "size": "Small",
                "isSubtle": True,
                "wrap": True,
            }
        )
        card: dict[str, Any] = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": CARD_VERSION,
            "msteams": {"width": "Full"},
            "body": body,
        }
        if view.link:
            card["actions"] = [{"type": "Action.OpenUrl", "title": "View mention", "url": view.link}]
        return {
            "type": "message",
            "attachments": [
                {
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "contentUrl": None,
                    "content": card,
                }
            ],
        }

    def _send(self, notification: Notification) -> DeliveryResult:
        body = _encode(self.render(notification))
        return post_json(self.client, self.options.webhook_url.get_secret_value(), body)


def _colour(notification: Notification) -> str:
    if notification.action is NotificationAction.RESOLVE:
        return "Good"
    if notification.action is NotificationAction.ACKNOWLEDGE:
        return "Default"
    return "Attention" if notification.alert.urgency.at_least(Urgency.HIGH) else "Warning"
