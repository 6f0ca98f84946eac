"""The JSON-lines channel: one parseable object per notification, appended durably."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from alerting.channels.jsonl import JsonLinesChannel, JsonLinesOptions
from domain import Notification, NotificationAction
from tests.alerting.channels.helpers import REFERENCE_ALERT, hostile_strings


def test_appends_one_object_per_notification(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "alerts.jsonl"
    channel = JsonLinesChannel(name="file", options=JsonLinesOptions(path=path))
    hostile = hostile_strings()[:5]
    for i, text in enumerate(hostile):
        result = channel.send(
            Notification(
                alert=replace(REFERENCE_ALERT, id=i, mention_text=text),
                action=NotificationAction.FIRE,
                idempotency_key=f"earshot-{i}-file-fire",
            )
        )
        assert result.ok
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(hostile)
    objects = [json.loads(line) for line in lines]
    assert [o["text"] for o in objects] == hostile  # stored verbatim, JSON-escaped
    assert objects[0]["idempotency_key"] == "earshot-0-file-fire"
    assert objects[0]["urgency"] == "high" and objects[0]["categories"] == ["outage", "support"]
    assert objects[0]["created_at"] == "2024-05-01T12:30:00+00:00"


def test_unwritable_path_is_a_retry_not_a_crash(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    channel = JsonLinesChannel(name="file", options=JsonLinesOptions(path=blocker / "alerts.jsonl"))
    result = channel.send(Notification(alert=REFERENCE_ALERT))
    assert not result.ok and result.outcome == "retry"
    assert "cannot write" in result.reason
