"""Builders for reply-service tests and the reply bench: a stored alert on a fake's post, and actors."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from alerting.replies import ReplyDesk, desk_from
from alerting.replies_config import RepliesConfig
from collectors.repliers.base import ReplyTarget
from domain import AlertKind, Author, Mention, Urgency
from storage.alerts import NewAlert, create_alert
from storage.mentions import store_mentions
from web.auth import User

NOW = datetime(2025, 3, 6, 12, 0, tzinfo=UTC)
ADMIN = User(id=1, name="ada", role="admin", teams=())
RESPONDER = User(id=2, name="rui", role="responder", teams=("support",))
OUTSIDER = User(id=3, name="olga", role="responder", teams=("billing",))
TEMPLATE = "Hi @$author, sorry about that! We're on it ($case_id)."


def seed_alert(
    sessions: sessionmaker[Session], target: ReplyTarget, *, team: str = "support", handle: str | None = None
) -> int:
    """Store a mention of ``target`` and a firing alert on it; return the alert id."""
    mention = Mention(
        source=target.source,
        source_kind=target.source_kind,
        external_id=target.external_id,
        text="Acme Cloud is down again",
        author=Author(handle=handle or target.author or "someone", display_name="Dana"),
        published_at=NOW,
        collected_at=NOW,
        url=target.url,
        brands=("Acme",),
        raw=dict(target.raw),
    )
    with sessions.begin() as session:
        [stored] = store_mentions(session, [mention], [None], now=NOW)
        row = create_alert(
            session,
            NewAlert(
                kind=AlertKind.MENTION,
                title="Outage complaint",
                summary="Outage complaint",
                urgency=Urgency.HIGH,
                team=team,
                route_name="outages",
                route_snapshot={"name": "outages"},
                reason="outage",
                group_key=f"Acme:{target.external_id}",
                channels=(),
                mention_id=stored.id,
                brand="Acme",
            ),
            now=NOW,
        )
        return row.id


def desk_for(source: str, account: object, *, approval: bool = False, template: str = TEMPLATE) -> ReplyDesk:
    """A reply desk with one account (for ``source``) and the support team's template."""
    config = RepliesConfig.model_validate(
        {
            "accounts": {source: account},
            "teams": {
                "support": {"require_approval": approval, "templates": [{"name": "sorry", "text": template}]}
            },
            "timeout_seconds": 5,
            "posting_grace_seconds": 60,
        }
    )
    return desk_from(config, user_agent="earshot-test")
