"""Any destination Apprise understands (Discord, Telegram, Matrix, ntfy, …) from one Apprise URL.

The body is Earshot's plain-text rendering (or markdown, when the target renders it), escaped with
:func:`escape_plain` / :func:`escape_markdown`; broadcast words such as ``@everyone`` are
neutralised because Discord, Mattermost and Rocket.Chat honour them in plain text too. Apprise
reports only success or failure, so the HTTP status is recovered from its warning log
("error=NNN") to tell permanent 4xx failures from ones worth retrying.
"""

from __future__ import annotations

import re
from typing import ClassVar, Literal

import apprise as apprise_lib
from pydantic import ConfigDict, Field, SecretStr, field_validator

from alerting.channels.base import Channel, ChannelOptions
from alerting.channels.render import escape_markdown, escape_plain, fit
from domain import DeliveryResult, Notification, NotificationAction, Urgency

TITLE_CHARS = 250  # Apprise's default title limit; plugins with a smaller one cut further
_STATUS = re.compile(r"error=(\d{3})")
_TRANSIENT_4XX = {408, 425, 429}
_REASON_CHARS = 500


class AppriseOptions(ChannelOptions):
    """Options for the Apprise channel."""

    # Validation errors must not quote the rejected value: it may be a password or secret URL.
    model_config = ConfigDict(hide_input_in_errors=True)

    url: SecretStr = Field(description="An Apprise URL such as discord://id/token; usually a credential.")
    body_format: Literal["text", "markdown"] = "text"
    timeout: float = Field(10.0, gt=0, le=120, description="Seconds for connecting and for reading.")

    @field_validator("url")
    @classmethod
    def _known(cls, value: SecretStr) -> SecretStr:
        if apprise_lib.Apprise.instantiate(value.get_secret_value(), suppress_exceptions=True) is None:
            raise ValueError("Apprise does not recognise this URL (unknown scheme or malformed)")
        return value


def _notify_type(notification: Notification) -> apprise_lib.NotifyType:
    if notification.action is NotificationAction.RESOLVE:
        return apprise_lib.NotifyType.SUCCESS
    if notification.action is NotificationAction.ACKNOWLEDGE:
        return apprise_lib.NotifyType.INFO
    urgency = notification.alert.urgency
    if urgency.at_least(Urgency.HIGH):
        return apprise_lib.NotifyType.FAILURE
    return apprise_lib.NotifyType.WARNING if urgency is Urgency.MEDIUM else apprise_lib.NotifyType.INFO


class AppriseChannel(Channel[AppriseOptions]):
    """Sends through one Apprise URL."""

    kind: ClassVar[str] = "apprise"
    options_model: ClassVar[type[ChannelOptions]] = AppriseOptions
    # Apprise's default body limit; each plugin also cuts to its own service's limit.
    max_message_chars: ClassVar[int] = 32_768
    # Limits belong to the target service, and Apprise plugins pace themselves per service.
    max_per_minute: ClassVar[int | None] = None

    _apprise: apprise_lib.Apprise | None = None

    def render(self, notification: Notification) -> tuple[str, str]:
        """The (title, body) handed to Apprise."""
        escape = escape_markdown if self.options.body_format == "markdown" else escape_plain
        view = self.view(notification)
        title = fit(view.title, TITLE_CHARS, escape)
        # Apprise shows the title itself, so the body starts at the summary.
        room = self.max_message_chars - len(view.as_text(escape, quote_limit=1, title=False))
        return title, view.as_text(escape, quote_limit=max(1, room), title=False)

    def _send(self, notification: Notification) -> DeliveryResult:
        title, body = self.render(notification)
        result = self._client().notify(
            body=body,
            title=title,
            notify_type=_notify_type(notification),
            body_format=self.options.body_format,
        )
        with result:
            if result:
                return DeliveryResult.delivered("accepted by Apprise")
            log = " | ".join(entry.message for entry in result.logs())
            timed_out = result.status == apprise_lib.AppriseResultStatus.TIMEOUT
        return _classify(log, timed_out, self.options.url.get_secret_value())

    def _client(self) -> apprise_lib.Apprise:
        if self._apprise is None:
            plugin = apprise_lib.Apprise.instantiate(self.options.url.get_secret_value())
            if plugin is None:  # validated with the options, so only a changed Apprise gets here
                raise ValueError("Apprise no longer recognises this URL")
            # Apprise's own defaults are 4 s; the channel's timeout option governs both phases.
            plugin.socket_connect_timeout = self.options.timeout
            plugin.socket_read_timeout = self.options.timeout
            self._apprise = apprise_lib.Apprise()
            self._apprise.add(plugin)
        return self._apprise

    def close(self) -> None:
        """Drop the Apprise instance."""
        self._apprise = None


def _classify(log: str, timed_out: bool, url: str) -> DeliveryResult:
    reason = (log.replace(url, "<redacted>") or "Apprise reported failure without detail")[:_REASON_CHARS]
    if timed_out:
        return DeliveryResult.retry(f"timed out: {reason}")
    codes = [int(code) for code in _STATUS.findall(log)]
    code = codes[-1] if codes else None
    # No status means the request never got an answer (connection refused, reset, read timeout).
    if code is None or code in _TRANSIENT_4XX or code >= 500:
        return DeliveryResult.retry(reason, status_code=code)
    return DeliveryResult.failed(reason, status_code=code)
