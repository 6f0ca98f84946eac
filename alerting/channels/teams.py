"""Microsoft Teams through a Workflows (Power Automate) webhook posting an Adaptive Card.

The "Send webhook alerts to a channel" workflow expects the Bot Framework message envelope:
``{"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
"content": <AdaptiveCard>}]}``. TextBlocks render a markdown subset, so every untrusted string
goes through :func:`escape_teams`, which escapes only what would turn into markup and separates
lines with a blank line (Teams folds a single newline into a space); the only link in the card
is ours (``Action.OpenUrl`` with a URL that passed :func:`safe_url`).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from pydantic import Field, SecretStr, field_validator

from alerting.channels.base import ChannelOptions
from alerting.channels.render import AlertView, escape_teams, fit
from alerting.channels.webhook import HttpChannel, HttpOptions, check_http_url, post_json
from domain import DeliveryResult, Notification, NotificationAction, Urgency

# The title's ``style: heading`` is an Adaptive Cards 1.5 property; Teams renders 1.5 on desktop,
# web and mobile, and a card must declare the version of everything it uses.
CARD_VERSION = "1.5"
TITLE_CHARS = 200
SUMMARY_CHARS = 2000
FACT_CHARS = 500


class TeamsOptions(HttpOptions):
    """Options for a Teams Workflows webhook."""

    webhook_url: SecretStr = Field(description="The workflow's HTTP trigger URL; its sig= is a credential.")

    _check_url = field_validator("webhook_url")(check_http_url)


def _encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode()


def _json_bytes(text: str) -> int:
    # Bytes ``text`` adds to the encoded card: JSON escapes, then UTF-8, without the two quotes.
    return len(json.dumps(text, ensure_ascii=False).encode()) - 2


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
        view = self.view(notification)
        if not view.quote:
            return self._payload(view, notification, "")
        # The quote is the only unbounded part: measure the card around a one-character quote, then
        # cut the quote to the bytes left, counted as they will be sent (UTF-8 inside a JSON string).
        frame = len(_encode(self._payload(view, notification, "x"))) - 1
        quote = fit(view.quote, self.max_message_chars - frame, escape_teams, measure=_json_bytes)
        return self._payload(view, notification, quote)

    def _payload(self, view: AlertView, notification: Notification, quote: str) -> dict[str, Any]:
        body: list[dict[str, Any]] = [
            {
                "type": "TextBlock",
                "text": fit(view.title, TITLE_CHARS, escape_teams),
                "size": "Medium",
                "weight": "Bolder",
                "style": "heading",
                "color": _colour(notification),
                "wrap": True,
            },
            {"type": "TextBlock", "text": fit(view.summary, SUMMARY_CHARS, escape_teams), "wrap": True},
            {
                "type": "FactSet",
                "facts": [
                    {"title": label, "value": fit(value, FACT_CHARS, escape_teams)}
                    for label, value in view.fields
                ],
            },
        ]
        if quote:
            body.append(
                {
                    "type": "Container",
                    "style": "emphasis",
                    "items": [
                        {
                            "type": "TextBlock",
                            "text": quote,
                            "wrap": True,
                        }
                    ],
                }
            )
        body.append(
            {
                "type": "TextBlock",
                "text": escape_teams(view.footer),
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
        links = view.links()
        if links:
            card["actions"] = [{"type": "Action.OpenUrl", "title": label, "url": url} for label, url in links]
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
