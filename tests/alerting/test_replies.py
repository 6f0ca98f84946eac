"""The reply service on SQLite and PostgreSQL, against fake X, Reddit, Bluesky and Mastodon servers.

Posting must happen at most once whatever fails: the source, the network or our own process
between the source's answer and the commit that records it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug import Response

from alerting import replies as service
from alerting import reply_posting as posting
from alerting.replies import ReplyConflict, ReplyDesk, ReplyFailed
from collectors.repliers.base import Replier, ReplyTransient
from domain import AlertStatus
from storage import cases
from storage import replies as store
from storage.models import AlertEventRow, AlertRow
from storage.replies import Reply, ReplyState
from tests.collectors.repliers.desk import ADMIN, NOW, RESPONDER, desk_for, seed_alert
from tests.collectors.repliers.fakes import FAKES, Fake, serving

LATER = NOW + timedelta(minutes=5)  # past the 60 s posting grace


@dataclass
class World:
    """A fake source, a desk posting to it, the database and an alert on the fake's post."""

    fake: Fake
    desk: ReplyDesk
    sessions: sessionmaker[Session]
    alert_id: int


@pytest.fixture(params=sorted(FAKES))
def world(request: pytest.FixtureRequest, engine: Engine) -> Iterator[World]:
    """Everything a reply test needs, for one source kind."""
    fake = FAKES[request.param]()
    sessions = sessionmaker(engine, expire_on_commit=False)
    with serving(fake) as base:
        target = fake.target()
        desk = desk_for(target.source, fake.account(base), template="$author: we're on it ($case_id).")
        alert_id = seed_alert(sessions, target)
        yield World(fake, desk, sessions, alert_id)
        desk.pool.close()


def draft(w: World, text: str | None = None) -> int:
    """A responder's draft of the fake's reply text."""
    reply = service.draft_reply(
        w.sessions, desk=w.desk, alert_id=w.alert_id, actor=RESPONDER, text=text or w.fake.text, now=NOW
    )
    return reply.id


def send(w: World, reply_id: int, now: datetime = NOW) -> Reply:
    """Send as the responder."""
    return posting.send_reply(w.sessions, desk=w.desk, reply_id=reply_id, actor=RESPONDER, now=now)


def actions(w: World) -> list[str]:
    """The alert's audit trail."""
    with w.sessions() as session:
        rows = session.scalars(
            select(AlertEventRow).where(AlertEventRow.alert_id == w.alert_id).order_by(AlertEventRow.id)
        )
        return [row.action for row in rows]


class Crash(BaseException):
    """The process dies here (not an Exception: nothing may catch it on the way out)."""


def test_a_sent_reply_is_posted_once_with_its_remote_id(world: World) -> None:
    reply_id = draft(world)
    posted = send(world, reply_id)
    assert posted.state == ReplyState.POSTED
    with world.sessions() as session:
        stored = store.get(session, reply_id)
    assert stored is not None and stored.remote_id and stored.remote_id == posted.remote_id
    assert posted.posted_by == RESPONDER.name and posted.attempts == 1
    again = send(world, reply_id, LATER)  # a double click or a client retry
    assert again.remote_id == posted.remote_id
    assert len(world.fake.posts()) == 1
    assert "replied" in actions(world)
    with world.sessions() as session:
        [shown] = service.thread(session, alert_id=world.alert_id)
    assert shown.id == reply_id and shown.remote_url == posted.remote_url


def test_a_crash_after_the_source_accepted_never_posts_twice(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    reply_id = draft(world)

    def crash(*args: object, **kwargs: object) -> None:
        raise Crash

    with monkeypatch.context() as patch:
        patch.setattr(posting, "_finish", crash)
        with pytest.raises(Crash):
            send(world, reply_id)
    with world.sessions() as session:
        stuck = store.get(session, reply_id)
    assert stuck is not None and stuck.state == ReplyState.POSTING
    with pytest.raises(ReplyConflict, match="being posted"):
        send(world, reply_id, NOW + timedelta(seconds=5))  # within the grace: another worker may be at it
    settled = send(world, reply_id, LATER)
    assert settled.state == ReplyState.POSTED
    assert settled.remote_id and settled.posted_by == RESPONDER.name
    assert actions(world).count("replied") == 1
    assert len(world.fake.posts()) == 1, "the reply was posted twice"


def test_a_crash_before_the_source_heard_is_left_for_a_person_unless_provably_absent(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    reply_id = draft(world)

    def crash(self: Replier, *args: object, **kwargs: object) -> None:
        raise Crash

    with monkeypatch.context() as patch:
        patch.setattr(type(world.desk.pool.get(world.fake.target().source, world.fake.kind)), "post", crash)
        with pytest.raises(Crash):
            send(world, reply_id)
    settled = posting.reconcile_stale(world.sessions, desk=world.desk, now=LATER)
    assert [r.id for r in settled] == [reply_id]
    assert not world.fake.posts()
    if world.fake.kind == "bluesky":  # getRecord on the reply's own key proves it is absent
        assert settled[0].state == ReplyState.FAILED
    else:
        assert settled[0].state == ReplyState.UNKNOWN
        assert "check" in (settled[0].error or "")
        with pytest.raises(ReplyConflict, match="mark it posted or not posted"):
            send(world, reply_id, LATER)
        checked = posting.mark_checked(
            world.sessions, reply_id=reply_id, actor=RESPONDER, posted=False, now=LATER
        )
        assert checked.state == ReplyState.FAILED
    assert send(world, reply_id, LATER).state == ReplyState.POSTED
    assert len(world.fake.posts()) == 1


def test_a_rate_limit_keeps_the_draft_and_says_when(world: World) -> None:
    reply_id = draft(world)
    world.fake.failures.append(world.fake.rate_limit())
    with pytest.raises(ReplyFailed) as caught:
        send(world, reply_id)
    assert caught.value.reason == "rate_limited"
    assert "rate limit" in str(caught.value).lower()
    kept = caught.value.reply
    assert kept.state == ReplyState.FAILED and kept.text == world.fake.text and not kept.needs_check
    if kept.retry_after is not None:  # the source said until when: we do not even ask before then
        assert "2100" in str(kept.retry_after.year) and "00:00:00 UTC" in str(caught.value)
        with pytest.raises(ReplyFailed, match="wait until"):
            send(world, reply_id, LATER)
        assert len(world.fake.posts()) == 1
        return
    assert send(world, reply_id, LATER).state == ReplyState.POSTED
    assert len(world.fake.posts()) == 2 and len(world.fake.published) == 1


def test_a_5xx_keeps_the_draft_and_the_retry_looks_before_posting(world: World) -> None:
    reply_id = draft(world)
    world.fake.failures.append(Response("bad gateway", status=502))
    with pytest.raises(ReplyFailed) as caught:
        send(world, reply_id)
    assert caught.value.reason == "unavailable" and caught.value.reply.needs_check
    assert "502" in str(caught.value) or "server error" in str(caught.value)
    assert send(world, reply_id, LATER).state == ReplyState.POSTED
    assert len(world.fake.published) == 1


def test_a_5xx_after_the_source_published_is_found_not_reposted(world: World) -> None:
    reply_id = draft(world)
    world.fake.after_publish.append(Response("gateway timeout", status=504))
    with pytest.raises(ReplyFailed):
        send(world, reply_id)
    assert len(world.fake.published) == 1
    assert send(world, reply_id, LATER).state == ReplyState.POSTED
    assert len(world.fake.posts()) == 1, "the retry posted a reply the source already had"


def test_posting_acknowledges_the_alert_and_records_the_first_response_once(world: World) -> None:
    send(world, draft(world))
    with world.sessions() as session:
        alert = session.get(AlertRow, world.alert_id)
        case = cases.cases_of(session, [world.alert_id])[world.alert_id]
        assert alert is not None and alert.status == AlertStatus.ACKNOWLEDGED
        assert (case.first_response_at, case.first_response_by) == (NOW, RESPONDER.name)
        assert case.first_response_via == "reply" and case.status == cases.WAITING
    # A second reply, later, is audited but leaves the first response where it was.
    second = service.draft_reply(
        world.sessions, desk=world.desk, alert_id=world.alert_id, actor=ADMIN, text="Fixed now", now=LATER
    )
    posting.send_reply(world.sessions, desk=world.desk, reply_id=second.id, actor=ADMIN, now=LATER)
    with world.sessions() as session:
        case = cases.cases_of(session, [world.alert_id])[world.alert_id]
        assert (case.first_response_at, case.first_response_by) == (NOW, RESPONDER.name)
    trail = actions(world)
    assert trail.count("replied") == 2 and trail.count("first_response") == 1
    assert trail.count("acknowledged") == 1


def test_admins_drafts_need_no_second_approval(world: World) -> None:
    world.desk.config.teams["support"].require_approval = True
    reply = service.draft_reply(
        world.sessions, desk=world.desk, alert_id=world.alert_id, actor=ADMIN, text=world.fake.text, now=NOW
    )
    assert reply.state == ReplyState.APPROVED and reply.approved_by == ADMIN.name
    assert (
        posting.send_reply(world.sessions, desk=world.desk, reply_id=reply.id, actor=ADMIN, now=NOW).state
        == ReplyState.POSTED
    )


def test_the_reply_must_fit_the_source(world: World) -> None:
    limit = world.desk.pool.replier_class(world.fake.target().source, world.fake.kind)
    assert limit is not None
    with pytest.raises(service.ReplyInvalid, match=f"allows {limit.max_chars}"):
        draft(world, "x" * (limit.max_chars + 1))
    assert not world.fake.requests


def test_two_sends_racing_claim_the_reply_once(world: World) -> None:
    reply_id = draft(world)
    with world.sessions() as first, world.sessions() as second:
        reply = store.get(first, reply_id)
        assert reply is not None
        won = store.claim_for_posting(first, reply, from_states=[ReplyState.DRAFT], now=NOW, by="a")
        first.commit()
        lost = store.claim_for_posting(second, reply, from_states=[ReplyState.DRAFT], now=NOW, by="b")
        second.commit()
    assert (won, lost) == (True, False)
    with pytest.raises(ReplyConflict, match="being posted"):
        send(world, reply_id)
    assert not world.fake.posts()


def test_an_unreachable_source_during_the_check_keeps_the_reply_posting(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    reply_id = draft(world)
    replier_type = type(world.desk.pool.get(world.fake.target().source, world.fake.kind))

    def crash(self: Replier, *args: object, **kwargs: object) -> None:
        raise Crash

    def unreachable(self: Replier, *args: object, **kwargs: object) -> None:
        raise ReplyTransient("source unreachable: ConnectError")

    with monkeypatch.context() as patch:
        patch.setattr(replier_type, "post", crash)
        with pytest.raises(Crash):
            send(world, reply_id)
        patch.setattr(replier_type, "find_posted", unreachable)
        [still] = posting.reconcile_stale(world.sessions, desk=world.desk, now=LATER)
    assert still.state == ReplyState.POSTING and "check failed" in (still.error or "")
    assert not world.fake.posts()
    [settled] = posting.reconcile_stale(world.sessions, desk=world.desk, now=LATER)  # the source is back
    assert settled.state in {ReplyState.UNKNOWN, ReplyState.FAILED}
    assert not world.fake.posts()
