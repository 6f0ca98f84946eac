"""The outbox worker: deliver due notifications, retry with backoff, dead-letter the hopeless.

Each delivery is leased (attempts+1, next attempt pushed out by the lease) and
committed BEFORE the channel is called. If the process dies after sending but
before marking it delivered, the lease expires and the notification is sent
once more, with the same idempotency key so the receiver can drop the repeat.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain import DeliveryOutcome, DeliveryResult, Notification, NotificationAction
from scheduler.components import Components
from storage import alerts as alert_repo
from storage.models import AlertRow, DeliveryRow

log = logging.getLogger(__name__)


@dataclass
class DeliveryReport:
    """What one pass over the outbox did."""

    delivered: int = 0
    retried: int = 0
    dead: int = 0
    skipped: int = 0


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
    """Send every due notification once; return counts."""
    rng = rng or random.Random()
    report = DeliveryReport()
    now = components.clock()
    with components.sessions() as session:
        due = alert_repo.due_deliveries(session, now=now, limit=limit)
    for delivery in due:
        _deliver_one(components, delivery, report, rng)
    components.counters.add(delivered=report.delivered, retried=report.retried, dead=report.dead)
    return report


def _deliver_one(
    components: Components, delivery: DeliveryRow, report: DeliveryReport, rng: random.Random
) -> None:
    config = components.alerting
    now = components.clock()
    with components.sessions() as session, session.begin():
        if not alert_repo.claim(session, delivery, now=now, lease=timedelta(seconds=config.lease_seconds)):
            report.skipped += 1  # another worker took it
            return
        alert = alert_repo.to_domain(session.get_one(AlertRow, delivery.alert_id))
        attempts = delivery.attempts + 1
    channel = components.channels.get(delivery.channel)
    if channel is None:
        result = DeliveryResult.failed(f"no channel named {delivery.channel!r} is configured")
    else:
        notification = Notification(
            alert=alert, action=NotificationAction(delivery.action), idempotency_key=delivery.idempotency_key
        )
        result = channel.send(notification)
    _record(components, delivery, attempts, result, report, rng)


def _record(
    components: Components,
    delivery: DeliveryRow,
    attempts: int,
    result: DeliveryResult,
    report: DeliveryReport,
    rng: random.Random,
) -> None:
    config = components.alerting
    now: datetime = components.clock()
    with components.sessions() as session, session.begin():
        if result.ok:
            alert_repo.mark_delivered(session, delivery.id, now=now, note=result.reason)
            report.delivered += 1
            return
        if result.outcome is DeliveryOutcome.FAILED or attempts >= config.max_attempts:
            why = result.reason if result.outcome is DeliveryOutcome.FAILED else f"gave up after {attempts}: "
            error = why if result.outcome is DeliveryOutcome.FAILED else why + result.reason
            alert_repo.mark_dead(session, delivery.id, now=now, error=error)
            report.dead += 1
            log.error("delivery %d to %s dead-lettered: %s", delivery.id, delivery.channel, error)
            return
        delay = backoff_seconds(
            attempts,
            base=config.backoff_seconds,
            cap=config.backoff_max_seconds,
            retry_after=result.retry_after_seconds,
            rng=rng,
        )
        alert_repo.mark_retry(
            session, delivery.id, now=now, error=result.reason, at=now + timedelta(seconds=delay)
        )
        report.retried += 1
        log.warning(
            "delivery %d to %s failed (attempt %d), retrying in %.0fs: %s",
            delivery.id,
            delivery.channel,
            attempts,
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
        if report.delivered + report.retried + report.dead + report.skipped == 0:
            break
    return total
