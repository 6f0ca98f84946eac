"""The reply service: draft -> (approve) -> post where the customer spoke, never twice.

This module drafts (from a team template or the responder's words), checks the source's length
limit, and handles approval; ``alerting.reply_posting`` posts, exactly once, and reconciles.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from alerting.replies_config import RepliesConfig, clean_text, render
from collectors.repliers.base import tid
from collectors.repliers.registry import Repliers, ReplyUnavailable
from storage import alerts as alert_store
from storage import replies as store
from storage.models import AlertRow
from storage.replies import NewReply, Reply, ReplyState

S = ReplyState


class Actor(Protocol):
    """Who acts: the signed-in user (``web.auth.User`` fits)."""

    @property
    def name(self) -> str: ...  # noqa: D102

    @property
    def role(self) -> str: ...  # noqa: D102

    def can_act(self, team: str | None) -> bool: ...  # noqa: D102


class ReplyNotFound(LookupError):
    """No such alert or reply."""


class ReplyForbidden(PermissionError):
    """The actor may not do this (another team's alert, or approval by a non-admin)."""


class ReplyConflict(Exception):
    """Not allowed in the reply's state, or replies are unavailable for its source."""


class ReplyInvalid(ValueError):
    """The text is empty or longer than the source allows."""


class ReplyFailed(Exception):
    """The source refused or failed the reply; the draft is kept with this message."""

    def __init__(
        self, message: str, *, reason: str, reply: Reply, retry_after: datetime | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason  # "rate_limited", "rejected" or "unavailable"
        self.reply = reply
        self.retry_after = retry_after


@dataclass
class ReplyDesk:
    """What the service needs besides a database: the reply settings and the repliers."""

    config: RepliesConfig = field(default_factory=RepliesConfig)
    repliers: Repliers | None = None

    def __post_init__(self) -> None:
        if self.repliers is None:
            self.repliers = Repliers(self.config.accounts, timeout_seconds=self.config.timeout_seconds)

    @property
    def pool(self) -> Repliers:
        """The repliers (always set after construction)."""
        assert self.repliers is not None
        return self.repliers


@dataclass(frozen=True)
class Composer:
    """What the composer offers for one alert."""

    mode: str  # "post" (through the API), "copy" (copy and open the post) or "none" (no post)
    team: str
    source: str | None
    source_kind: str | None
    post_url: str | None
    max_chars: int | None
    require_approval: bool
    templates: list[dict[str, str]]
    unavailable: str | None = None


def new_idempotency_key() -> str:
    """A fresh idempotency key: a TID (time-sortable, and usable as a Bluesky record key)."""
    return tid(time.time_ns() // 1000, secrets.randbits(10))


def alert_row(session: Session, alert_id: int) -> AlertRow:
    """The alert, or ReplyNotFound."""
    row = session.get(AlertRow, alert_id)
    if row is None:
        raise ReplyNotFound(f"alert #{alert_id} does not exist")
    return row


def stored_reply(session: Session, reply_id: int) -> Reply:
    """The reply, or ReplyNotFound."""
    reply = store.get(session, reply_id)
    if reply is None:
        raise ReplyNotFound(f"reply #{reply_id} does not exist")
    return reply


def variables(row: AlertRow, actor: Actor | None = None) -> dict[str, str]:
    """The template variables for an alert: author, brand, case id, team, agent, source."""
    mention = row.mention
    author = mention.author if mention is not None else None
    brands = [b.brand for b in mention.brands] if mention is not None else []
    return {
        "author": author.handle if author else "",
        "author_name": (author.display_name or author.handle) if author else "",
        "brand": row.brand or (brands[0] if brands else ""),
        "case_id": f"#{row.id}",
        "team": row.team,
        "agent": actor.name if actor else "",
        "source": mention.source if mention is not None else "",
    }


def composer(session: Session, *, desk: ReplyDesk, alert_id: int, actor: Actor | None = None) -> Composer:
    """What the composer offers for an alert: posting mode, limit, approval and rendered templates."""
    row = alert_row(session, alert_id)
    mention = row.mention
    approval = desk.config.approval_required(row.team)
    if mention is None:
        return Composer(
            "none", row.team, None, None, None, None, approval, [], "this alert has no post to answer"
        )
    values = variables(row, actor)
    templates = [
        {"name": t.name, "text": render(t.text, values)}
        for t in desk.config.templates_for(row.team, mention.source_kind)
    ]
    cls = desk.pool.replier_class(mention.source, mention.source_kind)
    unavailable = None
    if cls is not None:
        try:
            desk.pool.get(mention.source, mention.source_kind)
        except ReplyUnavailable as error:
            unavailable = str(error)
    mode = "post" if cls is not None else "copy"
    return Composer(
        mode,
        row.team,
        mention.source,
        mention.source_kind,
        mention.url,
        cls.max_chars if cls else None,
        approval,
        templates,
        unavailable,
    )


def thread(session: Session, *, alert_id: int) -> list[Reply]:
    """An alert's replies, oldest first."""
    alert_row(session, alert_id)
    return store.for_alert(session, alert_id)


def draft_reply(
    sessions: sessionmaker[Session],
    *,
    desk: ReplyDesk,
    alert_id: int,
    actor: Actor,
    now: datetime,
    text: str | None = None,
    template: str | None = None,
) -> Reply:
    """Store a draft from ``text`` or a team template; admins' drafts count as approved."""
    with sessions() as session:
        row = alert_row(session, alert_id)
        if not actor.can_act(row.team):
            raise ReplyForbidden("this alert belongs to a team you do not act for")
        mention = row.mention
        if mention is None:
            raise ReplyConflict("this alert has no post to answer")
        used_template = template if text is None else None
        if text is None:
            chosen = [
                t for t in desk.config.templates_for(row.team, mention.source_kind) if t.name == template
            ]
            if not chosen:
                raise ReplyInvalid(f"team {row.team!r} has no reply template {template!r} for this source")
            text = render(chosen[0].text, variables(row, actor))
        text = clean_text(text)
        _check_length(desk, mention.source, mention.source_kind, text)
        approval = desk.config.approval_required(row.team)
        admin = actor.role == "admin"
        state = S.APPROVED if approval and admin else S.PENDING_APPROVAL if approval else S.DRAFT
        reply = store.create(
            session,
            NewReply(
                alert_id=row.id,
                mention_id=mention.id,
                team=row.team,
                source=mention.source,
                source_kind=mention.source_kind,
                target_id=mention.external_id,
                text=text,
                template=used_template,
                state=state,
                idempotency_key=new_idempotency_key(),
                drafted_by=actor.name,
            ),
            now=now,
        )
        if state == S.APPROVED:
            store.transition(
                session,
                reply.id,
                from_states=[state],
                to=state,
                now=now,
                approved_by=actor.name,
                approved_at=now,
            )
        alert_store.add_event(
            session, row.id, "reply drafted", now=now, actor=actor.name, note=f"reply #{reply.id}"
        )
        session.commit()
        return stored_reply(session, reply.id)


def _check_length(desk: ReplyDesk, source: str, source_kind: str, text: str) -> None:
    if not text:
        raise ReplyInvalid("the reply is empty")
    cls = desk.pool.replier_class(source, source_kind)
    if cls is not None and cls.count(text) > cls.max_chars:
        raise ReplyInvalid(f"the reply is {cls.count(text)} characters; {source_kind} allows {cls.max_chars}")


def approve_reply(sessions: sessionmaker[Session], *, reply_id: int, actor: Actor, now: datetime) -> Reply:
    """An admin approves a reply awaiting approval."""
    if actor.role != "admin":
        raise ReplyForbidden("only an administrator approves replies")
    with sessions() as session:
        reply = stored_reply(session, reply_id)
        if not store.transition(
            session,
            reply_id,
            from_states=[S.PENDING_APPROVAL],
            to=S.APPROVED,
            now=now,
            approved_by=actor.name,
            approved_at=now,
        ):
            raise ReplyConflict(f"reply #{reply_id} is {reply.state}, not waiting for approval")
        alert_store.add_event(
            session, reply.alert_id, "reply approved", now=now, actor=actor.name, note=f"reply #{reply_id}"
        )
        session.commit()
        return stored_reply(session, reply_id)


def desk_from(config: RepliesConfig, *, user_agent: str = "earshot") -> ReplyDesk:
    """A ReplyDesk for the configured accounts (the composition root calls this)."""
    pool = Repliers(config.accounts, timeout_seconds=config.timeout_seconds, user_agent=user_agent)
    return ReplyDesk(config=config, repliers=pool)
