"""Every replier against a fake of its source on 127.0.0.1: exact request shapes, 429, 5xx, lookups."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from atproto_client import models
from atproto_client.models.utils import get_or_create
from werkzeug import Response

from alerting.replies import new_idempotency_key
from collectors.repliers.base import (
    Replier,
    ReplyRateLimited,
    ReplyRejected,
    ReplyResult,
    ReplyTransient,
    same_text,
    tid,
)
from collectors.repliers.bluesky import record_key, strong_refs
from collectors.repliers.registry import Repliers, ReplyUnavailable, repliers
from tests.collectors.repliers.fakes import FAKES, FIXTURES, SESSION, Fake, copy_target, serving

KINDS = sorted(FAKES)
KEY = "3ljn7abcdefg2"  # a TID, as the reply service makes them
SINCE = datetime.now(UTC) - timedelta(minutes=1)


@pytest.fixture(params=KINDS)
def fake(request: pytest.FixtureRequest) -> Fake:
    """A fresh fake of one source."""
    return FAKES[request.param]()


@pytest.fixture
def replier(fake: Fake) -> Iterator[Replier]:
    """The replier for ``fake``'s kind, pointed at it."""
    with serving(fake) as base:
        cls = repliers.get(fake.kind)
        built = cls(account=fake.account(base), timeout_seconds=5.0, user_agent="earshot-test")
        yield built
        built.close()


def test_post_sends_the_exact_request_and_returns_the_remote_id(fake: Fake, replier: Replier) -> None:
    result = replier.post(fake.target(), fake.text, idempotency_key=KEY)
    [sent] = fake.posts()
    if fake.kind == "twitter":
        assert sent.json == {"text": fake.text, "reply": {"in_reply_to_tweet_id": "1897600000000000000"}}
        assert sent.headers["Content-Type"] == "application/json"
        assert result == ReplyResult("1897653920112345678", "https://x.com/i/web/status/1897653920112345678")
    elif fake.kind == "reddit":
        assert sent.form == {"api_type": "json", "text": fake.text, "thing_id": "t1_mgq1x7a"}
        assert result.remote_id == "t1_mh0reply1"
        assert (
            result.url
            == "https://www.reddit.com/r/sysadmin/comments/1j4xk2q/acme_cloud_down_again/mh0reply1/"
        )
    elif fake.kind == "bluesky":
        target = fake.target()
        ref = {"$type": "com.atproto.repo.strongRef", "uri": target.raw["uri"], "cid": target.raw["cid"]}
        assert sent.json["repo"] == SESSION["did"] and sent.json["collection"] == "app.bsky.feed.post"
        assert sent.json["rkey"] == KEY
        record = sent.json["record"]
        assert record["$type"] == "app.bsky.feed.post" and record["text"] == fake.text
        assert record["reply"] == {"$type": "app.bsky.feed.post#replyRef", "root": ref, "parent": ref}
        # The SDK's strict lexicon model accepts what was sent.
        get_or_create(record, models.AppBskyFeedPost.Record, strict_string_format=True)
        assert result.remote_id == f"at://{SESSION['did']}/app.bsky.feed.post/{KEY}"
        assert result.url == f"https://bsky.app/profile/{SESSION['did']}/post/{KEY}"
    else:
        fields = sent.json if isinstance(sent.json, dict) else sent.form
        assert fields["status"] == fake.text
        assert (
            str(fields["in_reply_to_id"]) == "113955200000000001"
        )  # the id on our instance, not the origin's
        assert sent.headers["Idempotency-Key"] == KEY
        search = [r for r in fake.requests if r.path == "/api/v2/search"]
        assert search and search[0].args["q"] == fake.target().external_id
        assert search[0].args["resolve"] in {"true", "True", "1"}
        assert result == ReplyResult("113955300000000007", "https://mastodon.social/@acme/113955300000000007")


def test_a_429_is_rate_limited_and_nothing_is_published(fake: Fake, replier: Replier) -> None:
    fake.failures.append(fake.rate_limit())
    with pytest.raises(ReplyRateLimited) as caught:
        replier.post(fake.target(), fake.text, idempotency_key=KEY)
    assert "rate limit" in str(caught.value).lower()
    assert not caught.value.maybe_posted
    assert len(fake.posts()) == 1 and not fake.published  # one try, no silent retry
    if fake.kind in {"twitter", "bluesky"}:
        assert caught.value.retry_after == datetime(2100, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_5xx_is_transient_and_may_have_posted(fake: Fake, replier: Replier, status: int) -> None:
    fake.failures.append(Response("upstream trouble", status=status))
    with pytest.raises(ReplyTransient) as caught:
        replier.post(fake.target(), fake.text, idempotency_key=KEY)
    assert str(status) in str(caught.value) or "server error" in str(caught.value)
    assert caught.value.maybe_posted
    assert len(fake.posts()) == 1  # no retry of a POST that may have landed


def test_a_refusal_is_rejected_with_the_reason(fake: Fake, replier: Replier) -> None:
    body = {
        "error": "InvalidRequest",
        "message": "post is locked",
        "title": "Forbidden",
        "detail": "post is locked",
    }
    fake.failures.append(
        Response(__import__("json").dumps(body), status=403, content_type="application/json")
    )
    with pytest.raises(ReplyRejected) as caught:
        replier.post(fake.target(), fake.text, idempotency_key=KEY)
    assert "403" in str(caught.value)


def test_lookup_finds_the_published_reply_and_only_it(fake: Fake, replier: Replier) -> None:
    assert replier.find_posted(fake.target(), fake.text, idempotency_key=KEY, since=SINCE) is None
    posted = replier.post(fake.target(), fake.text, idempotency_key=KEY)
    found = replier.find_posted(fake.target(), fake.text, idempotency_key=KEY, since=SINCE)
    assert found is not None and found.remote_id == posted.remote_id
    assert len(fake.posts()) == 1  # looking never posts


def test_unreachable_source_sent_nothing() -> None:
    fake = FAKES["twitter"]()
    cls = repliers.get("twitter")
    replier = cls(account=fake.account("http://127.0.0.1:9"), timeout_seconds=2.0)
    with pytest.raises(ReplyTransient) as caught:
        replier.post(fake.target(), fake.text, idempotency_key=KEY)
    assert not caught.value.maybe_posted  # the connection was refused: safe to retry


def test_bluesky_reply_to_a_reply_keeps_the_thread_root() -> None:
    target = copy_target(FAKES["bluesky"]().target())
    root = {"uri": "at://did:plc:root/app.bsky.feed.post/3aaaaaaaaaaa2", "cid": "bafyreiroot"}
    target.raw["record"]["reply"] = {"root": root, "parent": {"uri": "at://x/y/z", "cid": "bafyreiparent"}}
    got_root, parent = strong_refs(target)
    assert got_root == root
    assert parent == {"uri": target.raw["uri"], "cid": target.raw["cid"]}


def test_bluesky_record_key_is_a_stable_tid() -> None:
    assert record_key(KEY) == KEY
    derived = record_key("not-a-tid")
    assert derived == record_key("not-a-tid") and derived != record_key("other")
    assert len(derived) == 13
    fresh = [new_idempotency_key() for _ in range(50)]
    assert len(set(fresh)) == 50 and all(record_key(key) == key for key in fresh)  # TIDs, used as is
    assert tid(0, 0) == "2222222222222" and tid(1, 0) < tid(2, 0)  # base32-sortable, time first


def test_missing_account_or_credentials_say_what_to_set() -> None:
    pool = Repliers({})
    with pytest.raises(ReplyUnavailable, match=r"replies\.accounts\.x"):
        pool.get("x", "twitter")
    with pytest.raises(ReplyUnavailable, match="copy the reply and open the post"):
        pool.get("blog", "rss")
    pool = Repliers(
        {"x": FAKES["twitter"]().account("http://127.0.0.1:9").model_copy(update={"credentials": {}})}
    )
    with pytest.raises(ReplyUnavailable, match="access_token"):
        pool.get("x", "twitter")


@pytest.mark.parametrize(
    ("kind", "text", "length"),
    [
        ("twitter", "a" * 10 + " https://example.com/" + "x" * 100, 10 + 1 + 23),
        ("twitter", "日本", 4),
        ("bluesky", "e\u0301" * 3, 3),
    ],
)
def test_lengths_are_counted_as_the_source_counts(kind: str, text: str, length: int) -> None:
    assert repliers.get(kind).count(text) == length


@pytest.mark.parametrize("kind", repliers.kinds())
def test_every_replier_kind_has_a_fake_and_captured_fixtures(kind: str) -> None:
    assert kind in FAKES, f"tests/collectors/repliers/fakes.py has no fake {kind} API"
    fixtures = [p for p in (FIXTURES / kind).glob("*.json") if p.stat().st_size > 0]
    assert fixtures, f"tests/collectors/repliers/fixtures/{kind}/ has no captured payload"
    cls = repliers.get(kind)
    assert issubclass(cls, Replier) and cls.kind == kind and cls.max_chars > 0 and cls.credential_sets


@pytest.mark.parametrize(
    ("stored", "sent", "same"),
    [
        ("@ana Sorry! See https://t.co/abc", "@ana@fosstodon.org Sorry!  See https://status.example/1", True),
        ("Sorry about that", "sorry about that ", True),
        ("Sorry about that", "Sorry about this", False),
        ("@bob Sorry!", "@ana Sorry!", False),
    ],
)
def test_replies_read_back_are_recognised_despite_the_sources_rewriting(
    stored: str, sent: str, same: bool
) -> None:
    assert same_text(stored, sent) is same
