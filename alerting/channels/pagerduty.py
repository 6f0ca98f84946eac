"""PagerDuty through the Events API v2 (``POST /v2/enqueue``).

Notification actions map onto event actions: fire and escalate ``trigger`` (a repeat trigger
with the same ``dedup_key`` updates the open incident rather than opening another),
acknowledge ``acknowledge``, resolve ``resolve``. The ``dedup_key`` is the alert's group key
(hashed if longer than PagerDuty's 255 characters), or ``earshot-alert-<id>`` without one, so
every notification about an alert lands on the same PagerDuty alert.

A notification about a notification group carries the group's key (the outbox sees to it), so the
acknowledge, resolve and escalations of a grouped page reach the incident that was triggered.
Digests are informational: they go to the Change Events API (``POST /v2/change/enqueue``), which
records them on the service's timeline and never opens an incident.

PagerDuty shows summary and custom details as plain text; they are cleaned with
:func:`escape_plain`. The routing key travels in the body, never in the URL.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, ClassVar

from pydantic import Field, SecretStr, field_validator

from alerting.channels.base import ChannelOptions
from alerting.channels.render import escape_plain, fit
from alerting.channels.webhook import HttpChannel, HttpOptions, post_json
from domain import Alert, AlertKind, DeliveryResult, Notification, NotificationAction, Urgency

BASE_URL = "https://events.pagerduty.com"  # the EU service is https://events.eu.pagerduty.com
ENQUEUE_PATH = "/v2/enqueue"
CHANGE_PATH = "/v2/change/enqueue"
DEDUP_KEY_CHARS = 255
# Field limits from the Events API v2 reference: summary 1024, source/component/group/class 255.
SUMMARY_CHARS = 1024
SHORT_FIELD_CHARS = 255
# Custom details have no per-field limit, but the whole event must stay under 512 KB.
MENTION_CHARS = 10_000

_EVENT_ACTION = {
    NotificationAction.FIRE: "trigger",
    NotificationAction.ESCALATE: "trigger",
    NotificationAction.ACKNOWLEDGE: "acknowledge",
    NotificationAction.RESOLVE: "resolve",
}
_SEVERITY = {
    Urgency.CRITICAL: "critical",
    Urgency.HIGH: "error",
    Urgency.MEDIUM: "warning",
    Urgency.LOW: "info",
}


class PagerDutyOptions(HttpOptions):
    """Options for a PagerDuty Events API v2 integration."""

    routing_key: SecretStr = Field(description="The service integration's 32-character routing key.")
    base_url: str = Field(BASE_URL, description="Events API base URL; override for the EU or a local fake.")
    source: str = Field("earshot", max_length=SHORT_FIELD_CHARS, description="The event's 'source'.")
    client_url: str | None = Field(None, description="Link back to the Earshot dashboard.")

    @field_validator("routing_key")
    @classmethod
    def _present(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("routing key is empty; is its environment variable set?")
        return value

    @field_validator("base_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an absolute http(s) URL")
        return value.rstrip("/")


def dedup_key(alert: Alert) -> str:
    """The PagerDuty ``dedup_key`` for an alert: its group key, or one derived from its id."""
    key = alert.group_key or f"earshot-alert-{alert.id}"
    if len(key) > DEDUP_KEY_CHARS:
        key = "earshot-" + hashlib.sha256(key.encode()).hexdigest()
    return key


class PagerDutyChannel(HttpChannel[PagerDutyOptions]):
    """Triggers, acknowledges and resolves PagerDuty alerts."""

    kind: ClassVar[str] = "pagerduty"
    options_model: ClassVar[type[ChannelOptions]] = PagerDutyOptions
    # The summary is the message PagerDuty pages people with; it is capped at 1024 characters.
    max_message_chars: ClassVar[int] = SUMMARY_CHARS
    # Events API v2 accepts 120 events per minute per routing key.
    max_per_minute: ClassVar[int | None] = 120

    def render(self, notification: Notification) -> dict[str, Any]:
        """The exact JSON event PagerDuty receives (a change event for a digest)."""
        alert = notification.alert
        if alert.kind is AlertKind.DIGEST:
            return self.render_change(notification)
        event: dict[str, Any] = {
            "routing_key": self.options.routing_key.get_secret_value(),
            "event_action": _EVENT_ACTION[notification.action],
            "dedup_key": dedup_key(alert),
        }
        if event["event_action"] != "trigger":
            return event  # acknowledge and resolve take nothing but the key
        view = self.view(notification)
        short = SHORT_FIELD_CHARS
        payload: dict[str, Any] = {
            "summary": fit(f"{view.title} — {view.summary}", self.max_message_chars, escape_plain),
            "source": self.options.source,
            "severity": _SEVERITY[alert.urgency],
            "timestamp": alert.created_at.isoformat(),
            "group": fit(alert.team, short, escape_plain),
            "class": alert.kind.value,
            "custom_details": {
                label.lower(): fit(value, short * 4, escape_plain) for label, value in view.fields
            },
        }
        if alert.brand:
            payload["component"] = fit(alert.brand, short, escape_plain)
        if view.quote:
            payload["custom_details"]["mention"] = fit(view.quote, MENTION_CHARS, escape_plain)
        payload["custom_details"]["alert_id"] = alert.id
        event["payload"] = payload
        event["client"] = "Earshot"
        # "View in Earshot" on the incident opens the alert itself when web.base_url is set.
        client_url = view.alert_link or self.options.client_url
        if client_url:
            event["client_url"] = client_url
        links = view.links()
        if links:
            event["links"] = [{"href": url, "text": label} for label, url in links]
        return event

    def render_change(self, notification: Notification) -> dict[str, Any]:
        """A Change Events API event: shown on the service's timeline, never paged."""
        alert = notification.alert
        view = self.view(notification)
        payload: dict[str, Any] = {
            "summary": fit(view.title, self.max_message_chars, escape_plain),
            "source": self.options.source,
            "timestamp": alert.created_at.isoformat(),
            "custom_details": {
                "digest": fit(view.summary, MENTION_CHARS, escape_plain),
                "team": fit(alert.team, SHORT_FIELD_CHARS, escape_plain),
                "alert_id": alert.id,
            },
        }
        event: dict[str, Any] = {
            "routing_key": self.options.routing_key.get_secret_value(),
            "payload": payload,
        }
        if view.alert_link:
            event["links"] = [{"href": view.alert_link, "text": "Open in Earshot"}]
        elif self.options.client_url:
            event["links"] = [{"href": self.options.client_url, "text": "Earshot"}]
        return event

    def _send(self, notification: Notification) -> DeliveryResult:
        digest = notification.alert.kind is AlertKind.DIGEST
        if digest and notification.action is not NotificationAction.FIRE:
            # A change event has no incident to acknowledge or resolve.
            return DeliveryResult.delivered("not sent: a digest is a change event, with nothing to close")
        body = json.dumps(self.render(notification), ensure_ascii=False).encode()
        secret = self.options.routing_key.get_secret_value()
        url = self.options.base_url + (CHANGE_PATH if digest else ENQUEUE_PATH)
        return post_json(self.client, url, body, secrets=(secret,))
