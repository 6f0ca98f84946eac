"""Builders for stored mentions and alerts used by the web and trends tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from domain import AlertKind, Author, Classification, Engagement, Mention, Sentiment, Urgency
from storage.alerts import NewAlert, create_alert
from storage.mentions import store_mentions

NOW = datetime(2024, 5, 10, 12, 30, tzinfo=UTC)


def mention(
    external_id: str,
    *,
    at: datetime = NOW,
    brands: Sequence[str] = ("Acme",),
    source: str = "demo",
    text: str | None = None,
    title: str | None = None,
    url: str | None = "https://social.example/post",
    handle: str = "@dana",
    display_name: str = "Dana",
    followers: int | None = 1200,
    author_url: str | None = None,
    likes: int = 0,
    shares: int = 0,
) -> Mention:
    """A mention with sensible defaults; every argument that a test cares about is explicit."""
    return Mention(
        source=source,
        source_kind=source,
        external_id=external_id,
        text=text if text is not None else f"mention {external_id} about {', '.join(brands)}",
        title=title,
        url=url,
        author=Author(handle=handle, display_name=display_name, followers=followers, url=author_url),
        published_at=at,
        collected_at=at,
        engagement=Engagement(likes=likes, shares=shares),
        brands=tuple(brands),
    )


def classification(
    sentiment: str = "neutral", urgency: str = "low", categories: Sequence[str] = ()
) -> Classification:
    """A classification with the given labels."""
    return Classification(
        sentiment=Sentiment(sentiment),
        sentiment_scores={sentiment: 0.9},
        urgency=Urgency(urgency),
        urgency_score={"low": 0.1, "medium": 0.4, "high": 0.7, "critical": 0.95}[urgency],
        categories=tuple(categories),
        language="en",
        model_version="test-1",
    )


def store(
    sessions: sessionmaker[Session], items: Sequence[tuple[Mention, Classification | None]]
) -> list[int]:
    """Store mentions (with optional classifications) in one transaction; return their ids in order."""
    with sessions.begin() as session:
        stored = store_mentions(session, [m for m, _ in items], [c for _, c in items], now=NOW)
    ids = {s.mention.key: s.id for s in stored}
    return [ids[m.key] for m, _ in items]


def alert(
    session: Session,
    *,
    title: str = "Outage complaint",
    urgency: str = "high",
    team: str = "support",
    brand: str | None = "Acme",
    mention_id: int | None = None,
    channels: Sequence[str] = ("slack-support",),
    reason: str = "category outage with urgency high",
) -> int:
    """Create a firing alert in ``session``; return its id."""
    row = create_alert(
        session,
        NewAlert(
            kind=AlertKind.MENTION,
            title=title,
            summary=f"{title} (summary)",
            urgency=Urgency(urgency),
            team=team,
            route_name="outages",
            route_snapshot={"name": "outages", "match": {"categories": ["outage"]}},
            reason=reason,
            group_key=f"{brand}:{title}",
            channels=tuple(channels),
            mention_id=mention_id,
            brand=brand,
        ),
        now=NOW,
    )
    return row.id
