"""Slack incoming webhooks: one Block Kit message per notification.

Untrusted text goes through :func:`escape_slack` (``& < >`` escaped, so ``<!channel>``,
``<@U…>`` and ``<url|label>`` cannot be forged; broadcast words and formatting markers
neutralised) or, in the header, into a ``plain_text`` object that Slack never parses.
Link unfurling is off so a mention cannot make Slack fetch and preview an arbitrary page.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from pydantic import Field, SecretStr, field_validator

from alerting.channels.base import ChannelOptions
from alerting.channels.render import AlertView, escape_plain, escape_slack, fit
from alerting.channels.webhook import HttpChannel, HttpOptions, check_http_url, post_json
from domain import DeliveryResult, Notification

# Block Kit limits (Slack reference: header text 150, section text 3000, field text 2000, 10 fields).
HEADER_CHARS = 150
SECTION_CHARS = 3000
FIELD_CHARS = 2000
MAX_FIELDS = 10
CONTEXT_CHARS = 3000
CONTEXT_ELEMENTS = 10


class SlackOptions(HttpOptions):
    """Options for a Slack incoming webhook."""

    webhook_url: SecretStr = Field(description="https://hooks.slack.com/services/T…/B…/… (a credential).")

    _check_url = field_validator("webhook_url")(check_http_url)


def _quote_lines(text: str) -> str:
    # Our own ">" marks the quote; the mention's own ">" arrives escaped as &gt; mid-line.
    return "\n".join("> " + line for line in text.split("\n"))


def _quote(text: str) -> str:
    return _quote_lines(escape_slack(text))


class SlackChannel(HttpChannel[SlackOptions]):
    """Posts a Block Kit message to a Slack incoming webhook."""

    kind: ClassVar[str] = "slack"
    options_model: ClassVar[type[ChannelOptions]] = SlackOptions
    # Slack truncates message text beyond 40,000 characters.
    max_message_chars: ClassVar[int] = 40_000
    # Incoming webhooks allow about one message per second, with short bursts.
    max_per_minute: ClassVar[int | None] = 60

    def render(self, notification: Notification) -> dict[str, Any]:
        """The exact JSON document Slack receives."""
        view = self.view(notification)
        blocks: list[dict[str, Any]] = [
            {
                "type": "header",
                "text": {
                    "type": "plain_text",
                    "text": fit(view.title, HEADER_CHARS, escape_plain),
                    "emoji": False,
                },
            },
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": fit(view.summary, SECTION_CHARS, escape_slack)},
            },
            {"type": "section", "fields": self._fields(view)},
        ]
        if view.quote:
            blocks.append(
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": fit(view.quote, SECTION_CHARS, _quote)},
                }
            )
        blocks.append({"type": "context", "elements": self._context(view)})
        fallback = fit(f"{view.title}: {view.summary}", SECTION_CHARS, escape_slack)
        return {"text": fallback, "blocks": blocks, "unfurl_links": False, "unfurl_media": False}

    @staticmethod
    def _fields(view: AlertView) -> list[dict[str, str]]:
        fields = []
        for label, value in view.fields[:MAX_FIELDS]:
            head = f"*{label}*\n"
            fields.append(
                {"type": "mrkdwn", "text": head + fit(value, FIELD_CHARS - len(head), escape_slack)}
            )
        return fields

    @staticmethod
    def _context(view: AlertView) -> list[dict[str, str]]:
        # safe_url percent-encoded "|" and ">"; "&" in a query must still be written as &amp;.
        elements = [
            {"type": "mrkdwn", "text": f"<{url.replace('&', '&amp;')}|{label}>"}
            for label, url in view.links()
        ]
        # Fields beyond the ten a section can hold still matter (the routing reason); show them small.
        room = CONTEXT_ELEMENTS - 1 - len(elements)  # the footer takes the last element
        for label, value in view.fields[MAX_FIELDS : MAX_FIELDS + room]:
            head = f"*{label}:* "
            text = head + fit(value, CONTEXT_CHARS - len(head), escape_slack)
            elements.append({"type": "mrkdwn", "text": text})
        elements.append({"type": "mrkdwn", "text": fit(view.footer, CONTEXT_CHARS, escape_slack)})
        return elements

    def _send(self, notification: Notification) -> DeliveryResult:
        body = json.dumps(self.render(notification), ensure_ascii=False).encode()
        url = self.options.webhook_url.get_secret_value()
        return post_json(self.client, url, body)
