"""The Channel seam: one class per destination kind, limits enforced here."""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from typing import ClassVar, Generic, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, SecretStr

from alerting.channels.render import AlertView, alert_view
from domain import DeliveryResult, Notification


class ChannelOptions(BaseModel):
    """Base for every channel's options; unknown keys are a configuration error."""

    # Rejected values may be secrets (a mistyped webhook URL); keep them out of error messages.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


OptionsT = TypeVar("OptionsT", bound=ChannelOptions)


def cut_to_fit(text: str, limit: int, marker: str = "…") -> str:
    """Shorten ``text`` to at most ``limit`` characters, marking the cut."""
    if limit <= 0 or len(text) <= limit:
        return text
    return text[: max(0, limit - len(marker))] + marker


def mask(secret: str) -> str:
    """Mask a secret for logs: a URL keeps only its scheme and host, anything else is all stars."""
    parts = urlsplit(secret)
    if parts.scheme and parts.hostname:
        return f"{parts.scheme}://{parts.hostname}/****"
    return "****"


class Channel(ABC, Generic[OptionsT]):
    """A destination for alerts.

    Subclasses declare ``kind``, ``options_model`` and their limits as class
    attributes; the base enforces the rate limit before calling ``_send`` so no
    channel can forget it. Subclasses render and cut their own payload, since
    only they know their format's escaping rules.
    """

    kind: ClassVar[str]
    options_model: ClassVar[type[ChannelOptions]]
    # Longest message body the destination accepts, in characters.
    max_message_chars: ClassVar[int] = 4000
    # Most messages per minute this process sends to one channel; None is unlimited.
    max_per_minute: ClassVar[int | None] = None

    def __init__(self, *, name: str, options: OptionsT, base_url: str | None = None) -> None:
        self.name = name
        self.options = options
        # The dashboard's public address (web.base_url); messages then link back to the alert.
        self.base_url = base_url
        self._sent_at: deque[float] = deque()
        self._lock = threading.Lock()

    def send(self, notification: Notification) -> DeliveryResult:
        """Deliver one notification, or say when to retry; never raises for delivery failures."""
        wait = self._rate_limit_wait()
        if wait is not None:
            return DeliveryResult.retry(f"channel rate limit of {self.max_per_minute}/min", wait)
        try:
            return self._send(notification)
        except Exception as exc:  # a bug in one channel must not stop the outbox
            return DeliveryResult.retry(f"{type(exc).__name__}: {exc}")

    def view(self, notification: Notification) -> AlertView:
        """The common view of ``notification``, linking back to Earshot when ``base_url`` is set."""
        return alert_view(notification, base_url=self.base_url)

    @abstractmethod
    def _send(self, notification: Notification) -> DeliveryResult:
        """Render and send; return a structured result."""

    def describe(self, privacy: bool = True) -> str:
        """A one-line description; secrets masked unless ``privacy`` is False."""
        parts = []
        for key, value in self.options:
            if isinstance(value, SecretStr):
                shown = mask(value.get_secret_value()) if privacy else value.get_secret_value()
            else:
                shown = str(value)
            parts.append(f"{key}={shown}")
        return f"{self.kind}:{self.name}" + (f" ({', '.join(parts)})" if parts else "")

    def close(self) -> None:
        """Release connections; called on shutdown."""

    def _rate_limit_wait(self) -> float | None:
        if self.max_per_minute is None:
            return None
        now = time.monotonic()
        with self._lock:
            while self._sent_at and now - self._sent_at[0] >= 60.0:
                self._sent_at.popleft()
            if len(self._sent_at) >= self.max_per_minute:
                return 60.0 - (now - self._sent_at[0])
            self._sent_at.append(now)
        return None
