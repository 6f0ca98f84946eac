"""JSON shapes of the REST API, and conversions from storage rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, field_validator

from storage.models import (
    AlertEventRow,
    AlertRow,
    AuthorRow,
    ClassificationRow,
    DeliveryRow,
    MentionRow,
    SourceHealthRow,
)

# A source that failed this many runs in a row, or found nothing this many times, needs a look.
FAILING_AFTER = 1
QUIET_AFTER = 5


class AuthorOut(BaseModel):
    """Who published a mention."""

    handle: str
    display_name: str
    followers: int | None
    url: str | None


class EngagementOut(BaseModel):
    """Engagement counts at collection time."""

    likes: int
    shares: int
    replies: int
    views: int | None


class ClassificationOut(BaseModel):
    """The classifier's verdict on a mention."""

    sentiment: str
    sentiment_scores: dict[str, float]
    urgency: str
    urgency_score: float
    categories: list[str]
    category_scores: dict[str, float]
    language: str | None
    model_version: str
    signals: dict[str, float]
    reduced_confidence: bool
    classified_at: datetime


class MentionOut(BaseModel):
    """A stored mention with its classification, author, brands and near-duplicate cluster."""

    id: int
    source: str
    source_kind: str
    external_id: str
    url: str | None
    title: str | None
    text: str
    language: str | None
    published_at: datetime
    collected_at: datetime
    author: AuthorOut | None
    engagement: EngagementOut
    brands: list[str]
    queries: list[str]
    cluster_id: int | None
    classification: ClassificationOut | None


class MentionDetailOut(MentionOut):
    """A mention with the raw payload the source returned."""

    raw: dict[str, Any]


class MentionPage(BaseModel):
    """One page of mentions, newest first."""

    items: list[MentionOut]
    total: int
    limit: int
    offset: int


class AlertOut(BaseModel):
    """An alert: what happened, why it matched, who owns it, where it stands."""

    id: int
    kind: str
    title: str
    summary: str
    urgency: str
    status: str
    team: str
    route: str
    reason: str
    group_key: str
    count: int
    brand: str | None
    mention_id: int | None
    assignee: str | None
    created_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    details: dict[str, Any]


class EventOut(BaseModel):
    """One entry of an alert's audit trail."""

    at: datetime
    action: str
    actor: str
    note: str


class DeliveryOut(BaseModel):
    """One alert's delivery to one channel (an outbox row)."""

    id: int
    alert_id: int
    channel: str
    action: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime


class AlertDetailOut(AlertOut):
    """An alert with its route snapshot, audit trail, deliveries and mention."""

    route_snapshot: dict[str, Any]
    events: list[EventOut]
    deliveries: list[DeliveryOut]
    mention: MentionOut | None


class ActionIn(BaseModel):
    """Who acknowledges or resolves an alert, and why."""

    actor: str = Field(min_length=1, max_length=128)
    note: str = Field("", max_length=2000)

    @field_validator("actor")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("actor must not be blank")
        return value.strip()


class AssignIn(ActionIn):
    """Who gives an alert to whom; a note is kept in the audit trail."""

    assignee: str = Field(min_length=1, max_length=128)

    @field_validator("assignee")
    @classmethod
    def _assignee_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("assignee must not be blank")
        return value.strip()


class SourceOut(BaseModel):
    """A source's run statistics and a one-word verdict."""

    source: str
    kind: str
    status: str
    last_run_at: datetime | None
    last_success_at: datetime | None
    last_error_at: datetime | None
    last_error: str | None
    consecutive_failures: int
    consecutive_empty: int
    items_last_run: int
    total_runs: int
    total_failures: int
    total_items: int


def author_out(row: AuthorRow | None) -> AuthorOut | None:
    """The API view of an author row."""
    if row is None:
        return None
    return AuthorOut(handle=row.handle, display_name=row.display_name, followers=row.followers, url=row.url)


def classification_out(row: ClassificationRow | None) -> ClassificationOut | None:
    """The API view of a classification row."""
    if row is None:
        return None
    return ClassificationOut(
        sentiment=row.sentiment,
        sentiment_scores=dict(row.sentiment_scores or {}),
        urgency=row.urgency,
        urgency_score=row.urgency_score,
        categories=[str(c) for c in row.categories or []],
        category_scores=dict(row.category_scores or {}),
        language=row.language,
        model_version=row.model_version,
        signals=dict(row.signals or {}),
        reduced_confidence=row.reduced_confidence,
        classified_at=row.classified_at,
    )


def _mention_fields(row: MentionRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "source": row.source,
        "source_kind": row.source_kind,
        "external_id": row.external_id,
        "url": row.url,
        "title": row.title,
        "text": row.text,
        "language": row.language,
        "published_at": row.published_at,
        "collected_at": row.collected_at,
        "author": author_out(row.author),
        "engagement": EngagementOut(likes=row.likes, shares=row.shares, replies=row.replies, views=row.views),
        "brands": sorted(b.brand for b in row.brands),
        "queries": [str(q) for q in row.queries or []],
        "cluster_id": row.cluster_id,
        "classification": classification_out(row.classification),
    }


def mention_out(row: MentionRow) -> MentionOut:
    """The API view of a mention row."""
    return MentionOut(**_mention_fields(row))


def mention_detail_out(row: MentionRow) -> MentionDetailOut:
    """The API view of a mention row, with its raw payload."""
    return MentionDetailOut(**_mention_fields(row), raw=dict(row.raw or {}))


def _alert_fields(row: AlertRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "title": row.title,
        "summary": row.summary,
        "urgency": row.urgency,
        "status": row.status,
        "team": row.team,
        "route": row.route_name,
        "reason": row.reason,
        "group_key": row.group_key,
        "count": row.count,
        "brand": row.brand,
        "mention_id": row.mention_id,
        "assignee": row.assignee,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "acknowledged_at": row.acknowledged_at,
        "acknowledged_by": row.acknowledged_by,
        "resolved_at": row.resolved_at,
        "resolved_by": row.resolved_by,
        "details": dict(row.details or {}),
    }


def alert_out(row: AlertRow) -> AlertOut:
    """The API view of an alert row."""
    return AlertOut(**_alert_fields(row))


def event_out(row: AlertEventRow) -> EventOut:
    """The API view of an audit-trail row."""
    return EventOut(at=row.at, action=row.action, actor=row.actor, note=row.note)


def delivery_out(row: DeliveryRow) -> DeliveryOut:
    """The API view of an outbox row."""
    return DeliveryOut(
        id=row.id,
        alert_id=row.alert_id,
        channel=row.channel,
        action=row.action,
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        delivered_at=row.delivered_at,
        created_at=row.created_at,
    )


def alert_detail_out(
    row: AlertRow, events: list[AlertEventRow], deliveries: list[DeliveryRow]
) -> AlertDetailOut:
    """The API view of an alert with everything that happened to it."""
    return AlertDetailOut(
        **_alert_fields(row),
        route_snapshot=dict(row.route_snapshot or {}),
        events=[event_out(e) for e in events],
        deliveries=[delivery_out(d) for d in deliveries],
        mention=mention_out(row.mention) if row.mention is not None else None,
    )


def health_status(row: SourceHealthRow) -> str:
    """'failing', 'pending' before the first run, 'degraded' (some parts fail), 'quiet', or 'ok'."""
    if row.consecutive_failures >= FAILING_AFTER:
        return "failing"
    if row.last_run_at is None:
        return "pending"
    from storage.sources import failing_parts

    if failing_parts(row):
        return "degraded"  # some feeds or searches fail while others work
    if row.consecutive_empty >= QUIET_AFTER:
        return "quiet"
    return "ok"


def source_out(row: SourceHealthRow) -> SourceOut:
    """The API view of a source-health row."""
    return SourceOut(
        source=row.source,
        kind=row.kind,
        status=health_status(row),
        last_run_at=row.last_run_at,
        last_success_at=row.last_success_at,
        last_error_at=row.last_error_at,
        last_error=row.last_error,
        consecutive_failures=row.consecutive_failures,
        consecutive_empty=row.consecutive_empty,
        items_last_run=row.items_last_run,
        total_runs=row.total_runs,
        total_failures=row.total_failures,
        total_items=row.total_items,
    )
