"""Reply repository: drafts, approvals and the posting state machine. Functions never commit."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.reply_tables import ReplyRow


class ReplyState(enum.StrEnum):
    """Where a reply is, from draft to posted."""

    DRAFT = "draft"
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    POSTING = "posting"
    POSTED = "posted"
    FAILED = "failed"
    UNKNOWN = "unknown"  # interrupted and the source cannot tell: a person checks


@dataclass(frozen=True, slots=True)
class Reply:
    """A stored reply."""

    id: int
    alert_id: int
    mention_id: int | None
    team: str
    source: str
    source_kind: str
    target_id: str
    text: str
    template: str | None
    state: ReplyState
    idempotency_key: str
    attempts: int
    needs_check: bool
    error: str | None
    retry_after: datetime | None
    remote_id: str | None
    remote_url: str | None
    drafted_by: str
    approved_by: str | None
    approved_at: datetime | None
    posted_by: str | None
    posting_at: datetime | None
    posted_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class NewReply:
    """What a draft needs."""

    alert_id: int
    mention_id: int | None
    team: str
    source: str
    source_kind: str
    target_id: str
    text: str
    template: str | None
    state: ReplyState
    idempotency_key: str
    drafted_by: str


def _reply(row: ReplyRow) -> Reply:
    return Reply(
        id=row.id,
        alert_id=row.alert_id,
        mention_id=row.mention_id,
        team=row.team,
        source=row.source,
        source_kind=row.source_kind,
        target_id=row.target_id,
        text=row.text,
        template=row.template,
        state=ReplyState(row.state),
        idempotency_key=row.idempotency_key,
        attempts=row.attempts,
        needs_check=row.needs_check,
        error=row.error,
        retry_after=row.retry_after,
        remote_id=row.remote_id,
        remote_url=row.remote_url,
        drafted_by=row.drafted_by,
        approved_by=row.approved_by,
        approved_at=row.approved_at,
        posted_by=row.posted_by,
        posting_at=row.posting_at,
        posted_at=row.posted_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def create(session: Session, new: NewReply, *, now: datetime) -> Reply:
    """Store a new draft (or a draft awaiting approval)."""
    row = ReplyRow(
        alert_id=new.alert_id,
        mention_id=new.mention_id,
        team=new.team,
        source=new.source,
        source_kind=new.source_kind,
        target_id=new.target_id,
        text=new.text,
        template=new.template,
        state=str(new.state),
        idempotency_key=new.idempotency_key,
        attempts=0,
        needs_check=False,
        drafted_by=new.drafted_by,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    return _reply(row)


def get(session: Session, reply_id: int) -> Reply | None:
    """One reply, or None."""
    row = session.get(ReplyRow, reply_id, populate_existing=True)
    return _reply(row) if row is not None else None


def for_alert(session: Session, alert_id: int) -> list[Reply]:
    """An alert's replies, oldest first (the thread)."""
    rows = session.scalars(
        select(ReplyRow).where(ReplyRow.alert_id == alert_id).order_by(ReplyRow.created_at, ReplyRow.id)
    )
    return [_reply(row) for row in rows]


def transition(
    session: Session,
    reply_id: int,
    *,
    from_states: Iterable[ReplyState],
    to: ReplyState,
    now: datetime,
    **values: object,
) -> bool:
    """Move a reply to ``to`` only if it is in one of ``from_states``; False if another request won.

    One conditional UPDATE, so two concurrent sends cannot both claim a reply for posting.
    """
    allowed = [str(s) for s in from_states]
    result = session.execute(
        update(ReplyRow)
        .where(ReplyRow.id == reply_id, ReplyRow.state.in_(allowed))
        .values(state=str(to), updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def claim_for_posting(
    session: Session, reply: Reply, *, from_states: Iterable[ReplyState], now: datetime, by: str
) -> bool:
    """Mark the reply ``posting`` (attempts + 1); the caller commits before calling the source."""
    return transition(
        session,
        reply.id,
        from_states=from_states,
        to=ReplyState.POSTING,
        now=now,
        attempts=reply.attempts + 1,
        posting_at=now,
        posted_by=by,
        error=None,
        retry_after=None,
    )


def stale_posting(session: Session, *, before: datetime, limit: int = 100) -> list[Reply]:
    """Replies left ``posting`` since before ``before``: interrupted, to be reconciled."""
    rows = session.scalars(
        select(ReplyRow)
        .where(ReplyRow.state == str(ReplyState.POSTING), ReplyRow.posting_at < before)
        .order_by(ReplyRow.posting_at)
        .limit(limit)
    )
    return [_reply(row) for row in rows]


def team_of(session: Session, reply_id: int) -> tuple[bool, str | None]:
    """(exists, team) of a reply, for the web's team check on ``{reply_id}`` routes."""
    team = session.scalar(select(ReplyRow.team).where(ReplyRow.id == reply_id))
    return team is not None, team
