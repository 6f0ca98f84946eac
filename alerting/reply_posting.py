"""The posting half of the reply service: send once, reconcile after a crash, let a person settle.

A reply is committed as ``posting`` before its source is called, and the remote id is recorded in
a second transaction. A crash in between leaves ``posting`` behind; that reply is reconciled (its
source is asked whether it exists) before anything is sent again, and one the source cannot vouch
for goes to ``unknown`` for a person to check. Drafting and approval live in ``alerting.replies``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import NoReturn

from sqlalchemy.orm import Session, sessionmaker

from alerting import lifecycle
from alerting.replies import (
    Actor,
    ReplyConflict,
    ReplyDesk,
    ReplyFailed,
    ReplyForbidden,
    alert_row,
    stored_reply,
)
from collectors.repliers.base import (
    LookupUnsupported,
    Replier,
    ReplyError,
    ReplyRateLimited,
    ReplyRejected,
    ReplyResult,
    ReplyTarget,
)
from collectors.repliers.registry import ReplyUnavailable
from storage import alerts as alert_store
from storage import replies as store
from storage.replies import Reply, ReplyState

S = ReplyState


def _sendable(desk: ReplyDesk, reply: Reply) -> list[ReplyState]:
    if desk.config.approval_required(reply.team):
        # A failed reply keeps its approval: its text has not changed.
        return [S.APPROVED, S.FAILED] if reply.approved_by else [S.APPROVED]
    return [S.DRAFT, S.APPROVED, S.FAILED]


def _target(session: Session, reply: Reply) -> ReplyTarget:
    mention = alert_row(session, reply.alert_id).mention
    if mention is None:
        return ReplyTarget(reply.source, reply.source_kind, reply.target_id)
    author = mention.author.handle if mention.author else None
    raw = dict(mention.raw or {})
    return ReplyTarget(reply.source, reply.source_kind, reply.target_id, mention.url, author, raw)


def _replier(desk: ReplyDesk, reply: Reply) -> Replier:
    try:
        return desk.pool.get(reply.source, reply.source_kind)
    except ReplyUnavailable as error:
        raise ReplyConflict(str(error)) from error


def _event(
    session: Session, reply: Reply, action: str, note: str, *, now: datetime, actor: str = "earshot"
) -> None:
    alert_store.add_event(
        session, reply.alert_id, action, now=now, actor=actor, note=f"reply #{reply.id}: {note}"
    )


def _record_posted(session: Session, reply: Reply, result: ReplyResult, *, by: str, now: datetime) -> None:
    """Mark posted with the remote id, audit it and record the response on the case: one transaction."""
    done = {"remote_id": result.remote_id, "remote_url": result.url, "posted_at": now, "posted_by": by}
    clear = {"error": None, "needs_check": False, "retry_after": None}
    moved = store.transition(
        session, reply.id, from_states=[S.POSTING, S.UNKNOWN, S.FAILED], to=S.POSTED, now=now, **done, **clear
    )
    if not moved:
        return  # another request recorded it first: one audit entry, one first response
    _event(
        session,
        reply,
        "replied",
        f"posted on {reply.source}: {result.url or result.remote_id}",
        now=now,
        actor=by,
    )
    # Same transaction: the case's first response (once) and, for a firing alert, its
    # acknowledgement, so escalation stops paging people about a customer already answered.
    lifecycle.record_response(session, alert_id=reply.alert_id, at=now, by=by, via="reply")


def send_reply(
    sessions: sessionmaker[Session], *, desk: ReplyDesk, reply_id: int, actor: Actor, now: datetime
) -> Reply:
    """Post a reply once: claim it as ``posting`` (committed), call the source, record the result.

    Sending a posted reply again returns it unchanged. ReplyFailed carries the source's refusal;
    the reply stays stored (failed, with the message) to be sent again.
    """
    with sessions() as session:
        reply = stored_reply(session, reply_id)
        if not actor.can_act(reply.team):
            raise ReplyForbidden("this alert belongs to a team you do not act for")
        if reply.state == S.POSTED:
            return reply
        if reply.state == S.UNKNOWN:
            where = f"reply #{reply_id} may already be on {reply.source}"
            raise ReplyConflict(f"{where}: check the post, then mark it posted or not posted")
        if reply.state == S.POSTING:
            started = reply.posting_at or reply.updated_at
            if started > now - timedelta(seconds=desk.config.posting_grace_seconds):
                raise ReplyConflict(f"reply #{reply_id} is being posted")
            return reconcile(sessions, desk=desk, reply_id=reply_id, now=now)
        allowed = _sendable(desk, reply)
        if reply.state == S.PENDING_APPROVAL:
            raise ReplyConflict(f"reply #{reply_id} needs an administrator's approval first")
        if reply.state not in allowed:
            raise ReplyConflict(f"reply #{reply_id} is {reply.state}")
        if reply.retry_after is not None and now < reply.retry_after:
            message = f"{reply.source} asked us to wait until {_clock(reply.retry_after)}"
            raise ReplyFailed(message, reason="rate_limited", reply=reply, retry_after=reply.retry_after)
        replier = _replier(desk, reply)
        target = _target(session, reply)
    if reply.needs_check:  # the last failure may have posted it: look before posting again
        found = _look(replier, reply, target)
        if found is not None:
            return _finish(sessions, reply, found, by=reply.posted_by or actor.name, now=now)
    with sessions() as session:
        if not store.claim_for_posting(session, reply, from_states=allowed, now=now, by=actor.name):
            raise ReplyConflict(f"reply #{reply_id} changed meanwhile (another request is sending it)")
        session.commit()  # the claim must be durable before the source hears of the reply
    try:
        result = replier.post(target, reply.text, idempotency_key=reply.idempotency_key)
    except ReplyError as error:
        _failed(sessions, reply, error, by=actor.name, now=now)
    return _finish(sessions, reply, result, by=actor.name, now=now)


def _clock(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%H:%M:%S UTC")


def _look(replier: Replier, reply: Reply, target: ReplyTarget) -> ReplyResult | None:
    """The reply if the source has it (None if not); a source that cannot tell needs a person."""
    since = reply.posting_at or reply.created_at
    try:
        return replier.find_posted(target, reply.text, idempotency_key=reply.idempotency_key, since=since)
    except LookupUnsupported as error:
        raise ReplyConflict(f"the last attempt may have posted reply #{reply.id} and {error}") from error
    except ReplyError as error:
        message = f"could not check whether reply #{reply.id} was already posted ({error}); try again later"
        raise ReplyFailed(message, reason="unavailable", reply=reply) from error


def _finish(
    sessions: sessionmaker[Session], reply: Reply, result: ReplyResult, *, by: str, now: datetime
) -> Reply:
    with sessions() as session:
        _record_posted(session, reply, result, by=by, now=now)
        session.commit()
        return stored_reply(session, reply.id)


def _failed(
    sessions: sessionmaker[Session], reply: Reply, error: ReplyError, *, by: str, now: datetime
) -> NoReturn:
    """Store the failure with the source's message (the draft is kept) and raise ReplyFailed."""
    limited = isinstance(error, ReplyRateLimited)
    retry_after = error.retry_after if isinstance(error, ReplyRateLimited) else None
    reason = "rate_limited" if limited else "rejected" if isinstance(error, ReplyRejected) else "unavailable"
    message = str(error)
    if limited:
        message += f"; try again after {_clock(retry_after)}" if retry_after else "; try again later"
    failure = {"error": message, "needs_check": error.maybe_posted, "retry_after": retry_after}
    with sessions() as session:
        store.transition(session, reply.id, from_states=[S.POSTING], to=S.FAILED, now=now, **failure)
        _event(session, reply, "reply failed", message, now=now, actor=by)
        session.commit()
        stored = stored_reply(session, reply.id)
    raise ReplyFailed(message, reason=reason, reply=stored, retry_after=retry_after) from error


def reconcile(sessions: sessionmaker[Session], *, desk: ReplyDesk, reply_id: int, now: datetime) -> Reply:
    """Settle a reply left ``posting``, never posting: posted if the source has it, else failed
    (where the source proves it absent) or ``unknown`` for a person to check."""
    with sessions() as session:
        reply = stored_reply(session, reply_id)
        if reply.state != S.POSTING:
            return reply
        replier = _replier(desk, reply)
        target = _target(session, reply)
    since = reply.posting_at or reply.created_at
    try:
        found = replier.find_posted(target, reply.text, idempotency_key=reply.idempotency_key, since=since)
    except LookupUnsupported as error:
        return _settle(
            sessions, reply, S.UNKNOWN, f"interrupted while posting and {error}: check the post", now
        )
    except ReplyError as error:
        with sessions() as session:  # the source is unreachable: stay 'posting' and look again later
            note = {"error": f"check failed: {error}"}
            store.transition(
                session, reply.id, from_states=[S.POSTING], to=S.POSTING, now=reply.updated_at, **note
            )
            session.commit()
            return stored_reply(session, reply.id)
    if found is not None:
        return _finish(sessions, reply, found, by=reply.posted_by or reply.drafted_by, now=now)
    if replier.lookup_is_authoritative:
        return _settle(sessions, reply, S.FAILED, "interrupted before it was posted; send it again", now)
    where = target.url or reply.target_id
    message = (
        f"interrupted while posting; not among the account's recent replies: check {where}, then mark it"
    )
    return _settle(sessions, reply, S.UNKNOWN, message, now)


def _settle(
    sessions: sessionmaker[Session], reply: Reply, state: ReplyState, message: str, now: datetime
) -> Reply:
    with sessions() as session:
        store.transition(
            session, reply.id, from_states=[S.POSTING], to=state, now=now, error=message, needs_check=False
        )
        _event(session, reply, f"reply {state}", message, now=now)
        session.commit()
        return stored_reply(session, reply.id)


def reconcile_stale(sessions: sessionmaker[Session], *, desk: ReplyDesk, now: datetime) -> list[Reply]:
    """Reconcile every reply left ``posting`` longer than the grace period (a scheduler job)."""
    before = now - timedelta(seconds=desk.config.posting_grace_seconds)
    with sessions() as session:
        stale = store.stale_posting(session, before=before)
    settled = []
    for reply in stale:
        try:
            settled.append(reconcile(sessions, desk=desk, reply_id=reply.id, now=now))
        except ReplyConflict:
            continue  # its source has no reply account any more; it stays 'posting' for a person
    return settled


def mark_checked(
    sessions: sessionmaker[Session],
    *,
    reply_id: int,
    actor: Actor,
    posted: bool,
    now: datetime,
    remote_url: str | None = None,
) -> Reply:
    """A person settles an ``unknown`` reply: it is on the source (posted) or not (failed, sendable)."""
    with sessions() as session:
        reply = stored_reply(session, reply_id)
        if not actor.can_act(reply.team):
            raise ReplyForbidden("this alert belongs to a team you do not act for")
        if reply.state != S.UNKNOWN:
            raise ReplyConflict(f"reply #{reply_id} is {reply.state}, not waiting for a check")
        if posted:
            _record_posted(session, reply, ReplyResult(remote_url or "", remote_url), by=actor.name, now=now)
        else:
            checked = {"error": "checked: not posted", "needs_check": False}
            store.transition(session, reply_id, from_states=[S.UNKNOWN], to=S.FAILED, now=now, **checked)
            _event(session, reply, "reply checked", "not posted", now=now, actor=actor.name)
        session.commit()
        return stored_reply(session, reply_id)
