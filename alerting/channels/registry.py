"""The channel registry: kind name -> Channel class."""

from __future__ import annotations

from alerting.channels.base import Channel
from domain.plugins import Registry

# Built-ins use the same 'module:Class' specs a plugin's entry point would.
BUILTIN_CHANNELS = {
    "log": "alerting.channels.log:LogChannel",
    "jsonl": "alerting.channels.jsonl:JsonLinesChannel",
    "slack": "alerting.channels.slack:SlackChannel",
    "teams": "alerting.channels.teams:TeamsChannel",
    "email": "alerting.channels.email:EmailChannel",
    "webhook": "alerting.channels.webhook:WebhookChannel",
    "pagerduty": "alerting.channels.pagerduty:PagerDutyChannel",
    "apprise": "alerting.channels.apprise:AppriseChannel",
}

channels: Registry[type[Channel]] = Registry(  # type: ignore[type-arg]
    "channel", "earshot.channels", BUILTIN_CHANNELS
)
