"""The JSON-lines channel: one JSON object per notification appended to a file."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, ClassVar

from alerting.channels.base import Channel, ChannelOptions
from alerting.channels.render import alert_link
from domain import DeliveryResult, Notification


class JsonLinesOptions(ChannelOptions):
    """Options for the JSON-lines channel."""

    path: Path = Path("data/alerts.jsonl")


class JsonLinesChannel(Channel[JsonLinesOptions]):
    """Appends notifications to a file that other tools can tail."""

    kind: ClassVar[str] = "jsonl"
    options_model: ClassVar[type[ChannelOptions]] = JsonLinesOptions
    max_message_chars: ClassVar[int] = 100_000
    _write_lock = threading.Lock()

    def _send(self, notification: Notification) -> DeliveryResult:
        line = json.dumps(render(notification, self.base_url), ensure_ascii=False, sort_keys=True) + "\n"
        path = self.options.path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with self._write_lock, path.open("a", encoding="utf-8") as handle:
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            return DeliveryResult.retry(f"cannot write {path}: {exc.strerror}")
        return DeliveryResult.delivered()


def render(notification: Notification, base_url: str | None = None) -> dict[str, Any]:
    """The JSON object written for one notification; ``alert_url`` needs ``web.base_url``."""
    alert = notification.alert
    return {
        "idempotency_key": notification.idempotency_key,
        "action": str(notification.action),
        "alert_id": alert.id,
        "alert_url": alert_link(base_url, alert),
        "kind": str(alert.kind),
        "title": alert.title,
        "summary": alert.summary,
        "urgency": str(alert.urgency),
        "status": str(alert.status),
        "team": alert.team,
        "route": alert.route,
        "reason": alert.reason,
        "brand": alert.brand,
        "source": alert.source,
        "author": alert.author,
        "url": alert.mention_url,
        "text": alert.mention_text,
        "categories": list(alert.categories),
        "sentiment": alert.sentiment,
        "count": alert.count,
        "created_at": alert.created_at.isoformat(),
        # A grouped notification names every alert it covers.
        "group": alert.details.get("group"),
    }
