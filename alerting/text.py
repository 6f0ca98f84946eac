"""How alerts read: a title a person can triage from, a short summary, and grouped notifications."""

from __future__ import annotations

from collections.abc import Sequence

from domain import Alert, Classification, Mention
from storage.alerting_tables import AlertGroupRow

_CATEGORY_WORDS = {
    "outage": "outage report",
    "security": "security concern",
    "safety": "safety concern",
    "legal": "legal threat",
    "billing": "billing complaint",
    "delivery": "delivery complaint",
    "customer_service": "customer service complaint",
}


def handle(name: str | None) -> str:
    """An author handle as people write it: ``@dana``, but ``u/dana`` and ``@dana`` stay as they are."""
    if not name:
        return "someone"
    return name if name.startswith("@") or "/" in name else f"@{name}"


def alert_text(mention: Mention, classification: Classification) -> tuple[str, str]:
    """(title, summary) for a mention alert."""
    brand = mention.brands[0] if mention.brands else "unknown brand"
    what = next(
        (_CATEGORY_WORDS[c] for c in classification.categories if c in _CATEGORY_WORDS),
        f"{classification.sentiment} mention",
    )
    title = (
        f"{classification.urgency.upper()}: {what} about {brand} on {mention.source_kind or mention.source}"
    )
    followers = mention.author.followers
    reach = f" ({followers:,} followers)" if followers else ""
    body = mention.full_text.strip().replace("\n", " ")
    if len(body) > 280:
        body = body[:279] + "…"
    return title, f"{handle(mention.author.handle)}{reach}: {body}"


_MAX_LISTED = 10


def combine(alerts: Sequence[Alert], group: AlertGroupRow) -> Alert:
    """One alert standing for a group's notification: the most urgent first, the rest listed."""
    ordered = sorted(alerts, key=lambda a: (-a.urgency.rank, a.id))
    lead = ordered[0]
    labels = ", ".join(f"{k}={v}" for k, v in group.labels.items())
    title = f"{len(alerts)} alerts" + (f" ({labels})" if labels else "") + f": {lead.title}"
    lines = [f"- {a.title}: {a.summary}" for a in ordered[:_MAX_LISTED]]
    if len(ordered) > _MAX_LISTED:
        lines.append(f"… and {len(ordered) - _MAX_LISTED} more")
    brands = {a.brand for a in alerts}
    return Alert(
        id=min(a.id for a in alerts),
        kind=lead.kind,
        title=title,
        summary="\n".join(lines),
        urgency=lead.urgency,
        status=lead.status,
        team=lead.team,
        route=lead.route,
        reason=lead.reason,
        group_key=group.group_key,
        created_at=min(a.created_at for a in alerts),
        brand=brands.pop() if len(brands) == 1 else None,
        mention_url=lead.mention_url,
        categories=tuple(dict.fromkeys(c for a in ordered for c in a.categories)),
        sentiment=lead.sentiment,
        count=sum(a.count for a in alerts),
        details={
            "group": {
                "key": group.group_key,
                "labels": dict(group.labels),
                "alerts": [
                    {
                        "id": a.id,
                        "title": a.title,
                        "urgency": str(a.urgency),
                        "url": a.mention_url,
                        "count": a.count,
                    }
                    for a in ordered
                ],
            }
        },
    )
