"""Reply templates and approval: hostile text stays text, variables cannot inject, admins approve."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from alerting import replies as service
from alerting import reply_posting as posting
from alerting.replies import ReplyConflict, ReplyForbidden, ReplyInvalid
from alerting.replies_config import RepliesConfig, ReplyTemplate, render
from collectors.repliers.base import ReplyAccount
from earshot.settings import ConfigError, load_settings
from storage.replies import ReplyState
from tests.collectors.repliers.desk import ADMIN, NOW, OUTSIDER, RESPONDER, desk_for, seed_alert
from tests.collectors.repliers.fakes import FakeX, serving

HOSTILE_AUTHOR = "$brand ${case_id} {{7*7}} {author.__class__} \u202eevil\u202c\x00\nline2"


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    """Sessions on the parametrised test database."""
    return sessionmaker(engine, expire_on_commit=False)


@pytest.fixture
def fake() -> Iterator[tuple[FakeX, str]]:
    """A fake X and its base URL."""
    fake = FakeX()
    with serving(fake) as base:
        yield fake, base


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hi $author.__class__", "Hi dana.__class__"),  # no attribute access: the rest is text
        ("{{ config }} $$5 off for $author", "{{ config }} $5 off for dana"),  # no other template language
        ("${author}", "dana"),
        ("$author$brand$case_id", "danaAcme#7"),
    ],
)
def test_templates_only_substitute_known_names(text: str, expected: str) -> None:
    assert render(text, {"author": "dana", "brand": "Acme", "case_id": "#7"}) == expected


def test_hostile_variable_values_are_never_read_as_template_text() -> None:
    rendered = render("Hi @$author, sorry ($case_id)", {"author": HOSTILE_AUTHOR, "case_id": "#7"})
    # The value arrives literally: its "$brand" and "${case_id}" are not filled in, and it stays on one line.
    assert rendered == "Hi @$brand ${case_id} {{7*7}} {author.__class__} evil line2, sorry (#7)"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Hi $__class__", "unknown variable"),
        ("Hi $author.name and $secret", "unknown variable $secret"),
        ("50$ off", "a '$' that starts no variable"),
    ],
)
def test_unusable_templates_are_configuration_errors(text: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(problem)):
        ReplyTemplate(name="t", text=text)


def test_a_hostile_author_reaches_the_post_as_plain_text(
    sessions: sessionmaker[Session], fake: tuple[FakeX, str]
) -> None:
    x, base = fake
    desk = desk_for("x", x.account(base), template="Hi @$author, sorry! ($case_id)")
    # Storage already drops NUL and newlines from handles; the rest arrives as it was posted.
    alert_id = seed_alert(sessions, x.target(), handle=HOSTILE_AUTHOR.split("\x00")[0])
    reply = service.draft_reply(
        sessions, desk=desk, alert_id=alert_id, actor=RESPONDER, template="sorry", now=NOW
    )
    assert reply.template == "sorry"
    posting.send_reply(sessions, desk=desk, reply_id=reply.id, actor=RESPONDER, now=NOW)
    [sent] = x.posts()
    assert (
        sent.json["text"]
        == f"Hi @$brand ${{case_id}} {{{{7*7}}}} {{author.__class__}} evil, sorry! (#{alert_id})"
    )


def test_unknown_template_and_empty_text_are_refused(
    sessions: sessionmaker[Session], fake: tuple[FakeX, str]
) -> None:
    x, base = fake
    desk = desk_for("x", x.account(base))
    alert_id = seed_alert(sessions, x.target())
    with pytest.raises(ReplyInvalid, match="no reply template 'nope'"):
        service.draft_reply(sessions, desk=desk, alert_id=alert_id, actor=RESPONDER, template="nope", now=NOW)
    with pytest.raises(ReplyInvalid, match="empty"):
        service.draft_reply(
            sessions, desk=desk, alert_id=alert_id, actor=RESPONDER, text=" \x00\u202e ", now=NOW
        )


def test_approval_a_responder_drafts_and_an_admin_approves(
    sessions: sessionmaker[Session], fake: tuple[FakeX, str]
) -> None:
    x, base = fake
    desk = desk_for("x", x.account(base), approval=True)
    alert_id = seed_alert(sessions, x.target())
    reply = service.draft_reply(sessions, desk=desk, alert_id=alert_id, actor=RESPONDER, text=x.text, now=NOW)
    assert reply.state == ReplyState.PENDING_APPROVAL
    with pytest.raises(ReplyConflict, match="approval"):
        posting.send_reply(sessions, desk=desk, reply_id=reply.id, actor=RESPONDER, now=NOW)
    with pytest.raises(ReplyForbidden):
        service.approve_reply(sessions, reply_id=reply.id, actor=RESPONDER, now=NOW)
    assert not x.posts()
    approved = service.approve_reply(sessions, reply_id=reply.id, actor=ADMIN, now=NOW)
    assert approved.state == ReplyState.APPROVED and approved.approved_by == ADMIN.name
    with pytest.raises(ReplyConflict, match="not waiting for approval"):
        service.approve_reply(sessions, reply_id=reply.id, actor=ADMIN, now=NOW)
    posted = posting.send_reply(sessions, desk=desk, reply_id=reply.id, actor=RESPONDER, now=NOW)
    assert posted.state == ReplyState.POSTED and len(x.posts()) == 1


def test_other_teams_cannot_draft_or_send(sessions: sessionmaker[Session], fake: tuple[FakeX, str]) -> None:
    x, base = fake
    desk = desk_for("x", x.account(base))
    alert_id = seed_alert(sessions, x.target())
    with pytest.raises(ReplyForbidden):
        service.draft_reply(sessions, desk=desk, alert_id=alert_id, actor=OUTSIDER, text=x.text, now=NOW)
    reply = service.draft_reply(sessions, desk=desk, alert_id=alert_id, actor=RESPONDER, text=x.text, now=NOW)
    with pytest.raises(ReplyForbidden):
        posting.send_reply(sessions, desk=desk, reply_id=reply.id, actor=OUTSIDER, now=NOW)
    assert not x.posts()


def test_posts_without_an_api_offer_copy_and_open(sessions: sessionmaker[Session]) -> None:
    from collectors.repliers.base import ReplyTarget

    desk = desk_for("blog", ReplyAccount())
    alert_id = seed_alert(
        sessions, ReplyTarget("blog", "rss", "https://blog.example/p/1", "https://blog.example/p/1", "amy")
    )
    with sessions() as session:
        offer = service.composer(session, desk=desk, alert_id=alert_id, actor=RESPONDER)
    assert offer.mode == "copy" and offer.post_url == "https://blog.example/p/1"
    assert offer.templates == [
        {"name": "sorry", "text": f"Hi @amy, sorry about that! We're on it (#{alert_id})."}
    ]
    reply = service.draft_reply(
        sessions, desk=desk, alert_id=alert_id, actor=RESPONDER, template="sorry", now=NOW
    )
    with pytest.raises(ReplyConflict, match="copy the reply and open the post"):
        posting.send_reply(sessions, desk=desk, reply_id=reply.id, actor=RESPONDER, now=NOW)


def test_team_approval_overrides_the_default() -> None:
    config = RepliesConfig.model_validate(
        {"require_approval": True, "teams": {"social": {"require_approval": False}}}
    )
    assert config.approval_required("support") and not config.approval_required("social")


REPLIES_YAML = """
replies:
  accounts:
    x:
      credentials: {access_token: "${X_REPLY_TOKEN}"}
    mastodon:
      base_url: https://mastodon.example
      credentials: {access_token: "${MASTODON_REPLY_TOKEN}"}
  teams:
    support:
      require_approval: true
      templates:
        - name: sorry
          text: "Hi @$author, sorry! ($case_id)"
"""


def test_credentials_come_from_the_environment_per_source_and_account(tmp_path: Path) -> None:
    config = tmp_path / "earshot.yaml"
    config.write_text(REPLIES_YAML, encoding="utf-8")
    env = {"X_REPLY_TOKEN": "x-secret", "MASTODON_REPLY_TOKEN": "m-secret"}
    replies = load_settings(config, env=env).replies
    assert replies.accounts["x"].secret("access_token") == "x-secret"
    assert replies.accounts["mastodon"].secret("access_token") == "m-secret"
    assert "x-secret" not in repr(replies)  # secrets stay out of logs and error messages
    assert replies.approval_required("support")
    with pytest.raises(ConfigError, match="X_REPLY_TOKEN"):
        load_settings(config, env={"MASTODON_REPLY_TOKEN": "m"})


def test_braced_variables_are_read_as_environment_references(tmp_path: Path) -> None:
    config = tmp_path / "earshot.yaml"
    config.write_text(REPLIES_YAML.replace("$case_id", "${case_id}"), encoding="utf-8")
    with pytest.raises(ConfigError, match="case_id is not set"):
        load_settings(config, env={"X_REPLY_TOKEN": "x", "MASTODON_REPLY_TOKEN": "m"})
