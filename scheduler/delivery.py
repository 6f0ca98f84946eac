"""The outbox worker: deliver due notifications, retry with backoff, dead-letter the hopeless.

Each delivery is leased (attempts+1, next attempt pushed out by the lease) and
committed BEFORE the channel is called. If the process dies after sending but
before marking it delivered, the lease expires and the notification is sent
once more, with the same idempotency key so the receiver can drop the repeat.

Rows held for later (quiet hours, group_wait, group_interval) simply have a future
``next_attempt_at``; rows of one notification group that come due together are sent to each
channel as one notification.
"""

from __future__ import annotations

import hashlib
import logging
import random
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from alerting import grouping
from alerting.text import combine
from domain import Alert, AlertStatus, DeliveryOutcome, DeliveryResult, Notification, NotificationAction
from scheduler.components import Components
from scheduler.pools import DaemonPool
from storage import alerts as alert_repo
from storage.alerting_tables import AlertGroupRow
from storage.models import AlertRow, DeliveryRow
from storage.scale_tables import take_send_slot

log = logging.getLogger(__name__)
# How alerting.channels.base words a send refused by the channel's own rate limit.
LOCAL_RATE_LIMIT = "channel rate limit of "


@dataclass
class DeliveryReport:
    """What one pass over the outbox did."""

    delivered: int = 0
    retried: int = 0
    dead: int = 0
    skipped: int = 0
    # Messages sent; fewer than delivered + retried + dead when grouped alerts share one.
    notifications: int = 0
    # Fire notifications dropped because the alert was acknowledged or resolved before they went out.
    cancelled: int = 0

    def add(self, other: DeliveryReport) -> None:
        """Add another pass's (or batch's) counts to these."""
        for name in ("delivered", "retried", "dead", "skipped", "notifications", "cancelled"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def backoff_seconds(
    attempt: int, *, base: float, cap: float, retry_after: float | None, rng: random.Random
) -> float:
    """Exponential backoff with full jitter, never sooner than the receiver's Retry-After."""
    delay = min(cap, base * (2 ** max(0, attempt - 1)))
    delay = rng.uniform(delay / 2, delay)
    return max(delay, retry_after or 0.0)


def deliver_due(
    components: Components, *, limit: int = 100, rng: random.Random | None = None
) -> DeliveryReport:
    """Send every due notification once; return counts.

    Due rows of one notification group, channel and action go out as one notification.
    """
    rng = rng or random.Random()
    report = DeliveryReport()
    now = components.clock()
    with components.sessions() as session:
        due = alert_repo.due_deliveries(session, now=now, limit=limit)
        groups = grouping.groups_of(session, [d.alert_id for d in due])
    batches = _batches(due, groups)
    workers = min(components.deliver_concurrency, len(batches))
    if workers > 1:
        # Each send waits on the receiver and two commits; a few at once keep a burst's last
        # alert from queueing behind all the others. Daemon threads: a hung receiver cannot pin exit.
        pool = DaemonPool("send", workers)
        try:
            futures = [pool.submit(_deliver_one, components, batch, group, rng) for batch, group in batches]
            parts = [future.result() for future in futures]
        finally:
            pool.shutdown(wait=False)
    else:
        parts = [_deliver_one(components, batch, group, rng) for batch, group in batches]
    for part in parts:
        report.add(part)
    components.counters.add(delivered=report.delivered, retried=report.retried, dead=report.dead)
    return report


def _batches(
    due: list[DeliveryRow], groups: dict[int, AlertGroupRow]
) -> list[tuple[list[DeliveryRow], AlertGroupRow | None]]:
    batches: dict[tuple[object, ...], tuple[list[DeliveryRow], AlertGroupRow | None]] = {}
    for delivery in due:
        group = groups.get(delivery.alert_id)
        # Only first notifications and repeats are batched; an escalation, ack or resolve is
        # already enqueued once per group, and still needs the group to address its incident.
        if group is not None and delivery.action == "fire":
            key: tuple[object, ...] = ("group", group.id, delivery.channel)
        else:
            key = ("single", delivery.id)
        batches.setdefault(key, ([], group))[0].append(delivery)
    return list(batches.values())


def _deliver_one(
    components: Components, batch: list[DeliveryRow], group: AlertGroupRow | None, rng: random.Random
) -> DeliveryReport:
    report = DeliveryReport()
    _deliver_batch(components, batch, group, report, rng)
    return report


def _deliver_batch(
    components: Components,
    batch: list[DeliveryRow],
    group: AlertGroupRow | None,
    report: DeliveryReport,
    rng: random.Random,
) -> None:
    config = components.alerting
    now = components.clock()
    lease = timedelta(seconds=config.lease_seconds)
    action = NotificationAction(batch[0].action)
    with components.sessions() as session, session.begin():
        if group is not None and action is NotificationAction.FIRE:
            # One worker flushes a group at a time, and takes every row of it that is due now
            # (another worker may have read only some of them), so the group is one message.
            if not grouping.claim_flush(session, group.id):
                report.skipped += len(batch)
                return
            batch = grouping.due_flush(session, group.id, channel=batch[0].channel, now=now) or batch
        claimed = [d for d in batch if alert_repo.claim(session, d, now=now, lease=lease)]
        report.skipped += len(batch) - len(claimed)  # another worker took them
        rows = {d.id: session.get_one(AlertRow, d.alert_id) for d in claimed}
        if action is NotificationAction.FIRE:
            # Acknowledged or resolved while held (group_wait, quiet hours) or between retries:
            # someone already has it, so announcing it now would page for nothing.
            for d in [d for d in claimed if rows[d.id].status != str(AlertStatus.FIRING)]:
                why = f"not sent: the alert was {rows[d.id].status} before it went out"
                alert_repo.cancel(session, d.id, now=now, why=why)
                report.cancelled += 1
            claimed = [d for d in claimed if rows[d.id].status == str(AlertStatus.FIRING)]
        if not claimed:
            return
        alert = _message_alert(session, [rows[d.id] for d in claimed], group, action)
        if group is not None and action is NotificationAction.FIRE:
            grouping.record_flush(session, group.id, now=now)
    first = claimed[0]
    channel = components.channels.get(first.channel)
    wait = _shared_limit_wait(components, first.channel, channel.max_per_minute if channel else None)
    if channel is None:
        result = DeliveryResult.failed(f"no channel named {first.channel!r} is configured")
    elif wait is not None:
        result = DeliveryResult.retry(f"{LOCAL_RATE_LIMIT}{channel.max_per_minute}/min", wait)
    else:
        key = first.idempotency_key if len(claimed) == 1 else batch_key(claimed)
        notification = Notification(alert=alert, action=action, idempotency_key=key)
        result = channel.send(notification)
    report.notifications += 1
    _record(components, claimed, result, report, rng)


def _shared_limit_wait(components: Components, channel: str, limit: int | None) -> float | None:
    # The channel's own limiter counts this process only; N workers would send N times the limit.
    if limit is None:
        return None
    with components.sessions() as session, session.begin():
        return take_send_slot(session, channel, limit=limit, now=components.clock())


def _message_alert(
    session: Session, rows: list[AlertRow], group: AlertGroupRow | None, action: NotificationAction
) -> Alert:
    """What the notification is about: one alert, or its group with the group's key.

    Every notification about a group carries the group's key, so a receiver that deduplicates on
    it (PagerDuty's dedup_key) acknowledges, resolves and escalates the incident it triggered.
    """
    own = alert_repo.to_domain(rows[0])
    if group is None:
        return own
    if action is NotificationAction.FIRE:
        members = rows
    else:
        wanted = [AlertStatus.FIRING] if action is NotificationAction.ESCALATE else None
        members = grouping.current_members(session, group, statuses=wanted) or rows
    if len(members) == 1:
        return replace(alert_repo.to_domain(members[0]), group_key=group.group_key)
    combined = combine([alert_repo.to_domain(m) for m in members], group)
    # The group's state is the one this notification announces, whatever its first alert says.
    return replace(combined, status=own.status) if action is not NotificationAction.FIRE else combined


def batch_key(deliveries: list[DeliveryRow]) -> str:
    """One idempotency key for a grouped notification: the same rows give the same key on a resend."""
    keys = "\n".join(sorted(d.idempotency_key for d in deliveries))
    return "earshot-batch-" + hashlib.sha256(keys.encode()).hexdigest()[:32]


def _record(
    components: Components,
    deliveries: list[DeliveryRow],
    result: DeliveryResult,
    report: DeliveryReport,
    rng: random.Random,
) -> None:
    config = components.alerting
    now: datetime = components.clock()
    # attempts as claimed: the lease added one to what we read.
    attempts = max(d.attempts for d in deliveries) + 1
    # One delay for the whole batch, so its rows stay together on the retry.
    delay = backoff_seconds(
        attempts,
        base=config.backoff_seconds,
        cap=config.backoff_max_seconds,
        retry_after=result.retry_after_seconds,
        rng=rng,
    )
    # Our own per-channel rate limit is not the receiver failing: waiting for it must not use up
    # attempts, or a burst bigger than max_attempts minutes of the limit would be dead-lettered.
    local_limit = result.outcome is DeliveryOutcome.RETRY and result.reason.startswith(LOCAL_RATE_LIMIT)
    with components.sessions() as session, session.begin():
        for delivery in deliveries:
            tries = delivery.attempts + 1
            if result.ok:
                alert_repo.mark_delivered(session, delivery, now=now, note=result.reason)
                report.delivered += 1
            elif not local_limit and (
                result.outcome is DeliveryOutcome.FAILED or tries >= config.max_attempts
            ):
                failed = result.outcome is DeliveryOutcome.FAILED
                error = result.reason if failed else f"gave up after {tries}: {result.reason}"
                alert_repo.mark_dead(session, delivery.id, now=now, error=error)
                report.dead += 1
                log.error("delivery %d to %s dead-lettered: %s", delivery.id, delivery.channel, error)
            else:
                at = now + timedelta(seconds=delay)
                alert_repo.mark_retry(
                    session, delivery.id, now=now, error=result.reason, at=at, counts=not local_limit
                )
                report.retried += 1
                log.log(
                    logging.INFO if local_limit else logging.WARNING,
                    "delivery %d to %s failed (attempt %d), retrying in %.0fs: %s",
                    delivery.id,
                    delivery.channel,
                    tries,
                    delay,
                    result.reason,
                )


def drain(
    components: Components, *, max_passes: int = 50, rng: random.Random | None = None
) -> DeliveryReport:
    """Deliver until nothing is due (or ``max_passes`` passes of 100), summing the reports."""
    total = DeliveryReport()
    for _ in range(max_passes):
        report = deliver_due(components, rng=rng)
        total.delivered += report.delivered
        total.retried += report.retried
        total.dead += report.dead
        total.skipped += report.skipped
        total.notifications += report.notifications
        total.cancelled += report.cancelled
        if report.delivered + report.retried + report.dead + report.skipped + report.cancelled == 0:
            break
    return total
