"""Raising alerts for classified mentions: route, fold near-duplicates, store with the outbox rows.

Keyword-only functions that take a session and never commit; the pipeline owns the transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerting.config import AlertingConfig
from alerting.routing import Router
from alerting.text import alert_text
from domain import AlertKind, AlertStatus, Classification, Mention
from storage import alerts as alert_repo
from storage.models import AlertRow


def raise_alerts(
    session: Session,
    *,
    router: Router,
    config: AlertingConfig,
    mention_id: int,
    mention: Mention,
    classification: Classification,
    cluster_id: int,
    now: datetime,
) -> tuple[int, int]:
    """Raise alerts for a stored mention that needs a response; return (created, folded)."""
    if not classification.urgency.at_least(config.min_urgency):
        return 0, 0
    if "spam" in classification.categories:
        return 0, 0
    created = folded = 0
    brand = mention.brands[0] if mention.brands else None
    for decision in router.decide(mention, classification):
        group_key = f"{decision.route}|{brand}|story-{cluster_id}"
        open_alert = session.scalars(
            select(AlertRow)
            .where(AlertRow.group_key == group_key, AlertRow.status != str(AlertStatus.RESOLVED))
            .limit(1)
        ).first()
        if open_alert is not None:
            # The same story again (a retweet, a syndicated copy): count it, do not page again.
            open_alert.count += 1
            open_alert.updated_at = now
            alert_repo.add_event(session, open_alert.id, "folded", now=now, note=f"mention #{mention_id}")
            folded += 1
            continue
        title, summary = alert_text(mention, classification)
        alert_repo.create_alert(
            session,
            alert_repo.NewAlert(
                kind=AlertKind.MENTION,
                title=title,
                summary=summary,
                urgency=classification.urgency,
                team=decision.team,
                route_name=decision.route,
                route_snapshot=decision.snapshot,
                reason=decision.reason,
                group_key=group_key,
                channels=decision.channels,
                mention_id=mention_id,
                brand=brand,
                details={"signals": dict(classification.signals), "cluster_id": cluster_id},
            ),
            now=now,
        )
        created += 1
    return created, folded
