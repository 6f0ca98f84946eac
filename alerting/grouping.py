"""Notification groups with Alertmanager's timing: group_wait, group_interval, repeat_interval.

A route's alerts are split into groups by the ``group_by`` labels. The first alert of a new group
is held for ``group_wait`` so others can join it; later alerts are held until ``group_interval``
after the group's last notification. Holding is just a future ``next_attempt_at`` on the outbox
rows: every row of a group becomes due at the same moment and the outbox worker sends them to
each channel as one notification. A group still firing and unchanged is notified again after
``repeat_interval`` by the timers job.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from alerting.config import GroupingConfig, TeamConfig
from alerting.windows import Schedule, decide
from domain import AlertStatus, Urgency
from storage import alert_groups as group_repo
from storage import alerts as alert_repo
from storage.alerting_tables import AlertGroupMemberRow, AlertGroupRow
from storage.models import AlertRow, DeliveryRow


def is_active(grouping: GroupingConfig) -> bool:
    """True when a route groups at all (otherwise each alert is its own notification at once)."""
    return bool(
        grouping.group_by
        or grouping.group_wait > 0
        or grouping.group_interval > 0
        or grouping.repeat_interval is not None
    )


def _first(value: Any) -> str:
    if isinstance(value, tuple | list):
        return str(value[0]) if value else "-"
    return "-" if value is None else str(value)


def group_labels(group_by: Iterable[str], labels: Mapping[str, Any]) -> dict[str, str]:
    """The values of the ``group_by`` labels for one alert (``category`` is its first category)."""
    source = {**labels, "category": labels.get("categories")}
    return {name: _first(source.get(name)) for name in group_by}


def group_key(route: str, values: Mapping[str, str]) -> str:
    """A stable key for a route's group; long ones are hashed to fit the column."""
    key = route + "".join(f"|{k}={v}" for k, v in values.items())
    if len(key) > 500:
        key = f"{route[:200]}|sha256={hashlib.sha256(key.encode()).hexdigest()}"
    return key


def join_group(
    session: Session, *, route: str, grouping: GroupingConfig, labels: Mapping[str, Any], now: datetime
) -> tuple[AlertGroupRow, datetime]:
    """Find or start the alert's group; return it and when the alert's notification is due."""
    values = group_labels(grouping.group_by, labels)
    key = group_key(route, values)
    # Locked so a concurrent flush cannot read the group between our read and our write.
    row = group_repo.lock_group(session, key=key)
    if row is None:
        row = AlertGroupRow(
            group_key=key, route_name=route, labels=values, repeats=0, started_at=now, updated_at=now
        )
        session.add(row)
        _restart(row, grouping, now)
        session.flush()
    elif not group_repo.has_open_members(session, group_id=row.id):
        _restart(row, grouping, now)  # every alert of the old group is resolved: a new group
    elif row.next_flush_at is None:
        # Notified before: the next notification waits for group_interval after the last one.
        last = row.last_flushed_at or row.started_at
        row.next_flush_at = max(now, last + timedelta(seconds=row.group_interval))
    row.updated_at = now
    assert row.next_flush_at is not None
    return row, max(now, row.next_flush_at)


def _restart(row: AlertGroupRow, grouping: GroupingConfig, now: datetime) -> None:
    # Timings are snapshotted per group, so editing the config does not reshuffle a waiting group.
    row.group_wait = grouping.group_wait
    row.group_interval = grouping.group_interval
    row.repeat_interval = grouping.repeat_interval
    row.started_at = now
    row.last_flushed_at = None
    row.next_repeat_at = None
    row.next_flush_at = now + timedelta(seconds=grouping.group_wait)


def add_member(session: Session, *, group_id: int, alert_id: int) -> None:
    """Record that ``alert_id`` is notified as part of group ``group_id``."""
    session.add(AlertGroupMemberRow(alert_id=alert_id, group_id=group_id))


def groups_of(session: Session, alert_ids: Iterable[int]) -> dict[int, AlertGroupRow]:
    """The group of each of ``alert_ids`` that has one."""
    return group_repo.groups_of(session, alert_ids=alert_ids)


def group_of(session: Session, alert_id: int) -> AlertGroupRow | None:
    """The notification group ``alert_id`` belongs to, if its route groups."""
    return groups_of(session, [alert_id]).get(alert_id)


def current_members(
    session: Session, group: AlertGroupRow, *, statuses: Iterable[AlertStatus] | None = None
) -> list[AlertRow]:
    """The group's alerts since it last (re)started, oldest first, optionally by status.

    Alerts of an earlier round of the same group (all resolved before it restarted) keep their
    member rows but belong to an incident that is over, so they are left out.
    """
    return group_repo.members_since(session, group_id=group.id, since=group.started_at, statuses=statuses)


def claim_flush(session: Session, group_id: int) -> bool:
    """Lock a group for flushing; False when another worker is flushing it right now.

    ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL: the lock lasts until the caller's
    transaction ends, so one worker claims every due row of the group and sends them as one
    notification. SQLite ignores it (it serialises writers anyway) and always says True.
    """
    return group_repo.try_lock_group(session, group_id=group_id)


def due_flush(session: Session, group_id: int, *, channel: str, now: datetime) -> list[DeliveryRow]:
    """Every first notification of the group's alerts due to ``channel`` now, oldest first."""
    return group_repo.due_first_notifications(session, group_id=group_id, channel=channel, now=now)


def record_flush(session: Session, group_id: int, *, now: datetime) -> None:
    """A group's notification went out: start group_interval and repeat_interval from now."""
    row = session.get(AlertGroupRow, group_id)
    if row is None:
        return
    row.last_flushed_at = now
    if row.next_flush_at is not None and row.next_flush_at <= now:
        row.next_flush_at = None
    if row.repeat_interval is not None:
        row.next_repeat_at = now + timedelta(seconds=row.repeat_interval)
    row.updated_at = now


def repeat_due(session: Session, *, teams: Mapping[str, TeamConfig], now: datetime) -> int:
    """Notify again every group that is still firing and unchanged after its repeat_interval."""
    groups = group_repo.lock_repeat_due(session, now=now)
    repeated = 0
    for group in groups:
        group.next_repeat_at = None  # the flush of this repeat schedules the next one
        firing = group_repo.firing_members(session, group_id=group.id)
        if not firing or group_repo.has_pending_fire(session, group_id=group.id):
            continue  # resolved, or a notification is about to go out anyway
        group.repeats += 1
        for alert in firing:
            _repeat_alert(session, alert, group.repeats, teams.get(alert.team), now)
        repeated += 1
    return repeated


def _repeat_alert(
    session: Session, alert: AlertRow, repeat: int, team: TeamConfig | None, now: datetime
) -> None:
    channels = alert_repo.fired_channels(session, alert_id=alert.id)
    not_before = now
    if team is not None:
        schedule = Schedule(team.timezone, team.quiet_hours, team.business_hours)
        # A repeat goes to the channels that heard the alert; off hours only delay it.
        not_before = decide(schedule, team.off_hours, Urgency(alert.urgency), now).not_before
    for channel in channels:
        alert_repo.enqueue(
            session,
            alert_id=alert.id,
            channel=channel,
            action="fire",
            now=now,
            not_before=not_before,
            key_suffix=f"repeat{repeat}",
        )
    alert_repo.add_event(session, alert.id, "repeated", now=now, note=f"still firing; repeat #{repeat}")
