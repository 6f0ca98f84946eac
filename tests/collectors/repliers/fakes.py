"""Fake X, Reddit, Bluesky and Mastodon APIs on 127.0.0.1 for the repliers, built from captured payloads.

Each fake records every request as the SDK sent it, answers with the captured payload of the
real API, keeps what was "published" so the lookup after a crash can find it, and can be told
to fail the next posts (429, 5xx) or to lose what it published.
"""

from __future__ import annotations

import base64
import copy
import html
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from collectors.repliers.base import ReplyAccount, ReplyTarget

FIXTURES = Path(__file__).parent / "fixtures"
SESSION = json.loads((Path(__file__).parents[1] / "fixtures" / "bluesky" / "create_session.json").read_text())


def load(kind: str, name: str) -> Any:
    """A captured payload from ``fixtures/<kind>/<name>``."""
    return json.loads((FIXTURES / kind / name).read_text("utf-8"))


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers or {}, content_type="application/json")


@dataclass
class Recorded:
    """One request as it reached the fake."""

    method: str
    path: str
    args: dict[str, str]
    headers: dict[str, str]
    form: dict[str, str]
    json: Any


@dataclass
class Fake:
    """Base of the fakes: request log, published replies, queued failures."""

    kind: ClassVar[str]
    text: ClassVar[str]
    requests: list[Recorded] = field(default_factory=list)
    published: list[dict[str, Any]] = field(default_factory=list)
    failures: list[Response] = field(default_factory=list)
    # Failures answered after the reply was published (a 5xx or a lost answer that hides a post).
    after_publish: list[Response] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, request: Request) -> Response:
        """Record the request, then answer it."""
        body = request.get_data(as_text=True)
        payload = json.loads(body) if body and "json" in (request.content_type or "") else None
        form = {k: v[-1] for k, v in parse_qs(body).items()} if "form" in (request.content_type or "") else {}
        with self.lock:
            self.requests.append(
                Recorded(
                    request.method, request.path, dict(request.args), dict(request.headers), form, payload
                )
            )
            answer = self.answer(request, payload, form)
            if answer.status_code < 300 and self.is_post(request.path) and self.after_publish:
                return self.after_publish.pop(0)
            return answer

    def answer(self, request: Request, payload: Any, form: dict[str, str]) -> Response:
        """The fake API's answer (subclasses)."""
        raise NotImplementedError

    def account(self, base_url: str) -> ReplyAccount:
        """The reply account pointed at this fake (subclasses)."""
        raise NotImplementedError

    def target(self) -> ReplyTarget:
        """The post being answered (subclasses)."""
        raise NotImplementedError

    def posts(self) -> list[Recorded]:
        """The requests that would publish a reply."""
        return [r for r in self.requests if r.method == "POST" and self.is_post(r.path)]

    def is_post(self, path: str) -> bool:
        """True for the path that publishes."""
        raise NotImplementedError

    def failure(self) -> Response | None:
        """The next queued failure, if any."""
        return self.failures.pop(0) if self.failures else None

    def rate_limit(self) -> Response:
        """A 429 as this source sends it."""
        return _json({"error": "rate limited"}, 429, {"Retry-After": "120"})


class FakeX(Fake):
    """api.x.com: POST /2/tweets, GET /2/users/me, GET /2/users/:id/tweets."""

    kind = "twitter"
    text = "@dana_ops Sorry about that! We're on it (#12)."
    token = "x-user-token"

    def account(self, base_url: str) -> ReplyAccount:
        """The reply account pointed at this fake."""
        return ReplyAccount.model_validate(
            {"base_url": base_url, "credentials": {"access_token": self.token}}
        )

    def target(self) -> ReplyTarget:
        """The tweet being answered."""
        return ReplyTarget(
            "x",
            "twitter",
            "1897600000000000000",
            "https://x.com/dana_ops/status/1897600000000000000",
            "dana_ops",
        )

    def is_post(self, path: str) -> bool:
        """POST /2/tweets publishes."""
        return path == "/2/tweets"

    def rate_limit(self) -> Response:
        """X's 429 with its reset header (epoch seconds)."""
        return _json(load("twitter", "rate_limited.json"), 429, {"x-rate-limit-reset": "4102444800"})

    def answer(self, request: Request, payload: Any, form: dict[str, str]) -> Response:
        """Create a tweet, say who we are, or list our tweets."""
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return _json({"title": "Unauthorized", "status": 401}, 401)
        if request.path == "/2/tweets" and request.method == "POST":
            failed = self.failure()
            if failed is not None:
                return failed
            created = load("twitter", "create_tweet.json")
            created["data"]["text"] = payload["text"]
            self.published.append(
                {
                    **created["data"],
                    "referenced_tweets": [
                        {"type": "replied_to", "id": payload.get("reply", {}).get("in_reply_to_tweet_id")}
                    ],
                }
            )
            return _json(created, 201)
        if request.path == "/2/users/me":
            return _json(load("twitter", "users_me.json"))
        if re.fullmatch(r"/2/users/\d+/tweets", request.path):
            page = load("twitter", "user_tweets.json")
            page["data"] = [*self.published, page["data"][1]]
            return _json(page)
        return _json({"title": "Not Found", "status": 404}, 404)


class FakeReddit(Fake):
    """www/oauth.reddit.com: token, POST /api/comment, GET /api/v1/me, GET /user/:name/comments."""

    kind = "reddit"
    text = "Sorry about that! We're on it (#12)."
    access = json.loads((Path(__file__).parents[1] / "fixtures" / "reddit" / "access_token.json").read_text())

    def account(self, base_url: str) -> ReplyAccount:
        """A script app's reply account pointed at this fake."""
        credentials = {
            "client_id": "cid",
            "client_secret": "csecret",
            "username": "AcmeSupport",
            "password": "pw",
        }
        return ReplyAccount.model_validate({"base_url": base_url, "credentials": credentials})

    def target(self) -> ReplyTarget:
        """The comment being answered."""
        return ReplyTarget("reddit", "reddit", "t1_mgq1x7a", None, "ops_oracle")

    def is_post(self, path: str) -> bool:
        """POST /api/comment publishes (praw adds a trailing slash)."""
        return path.rstrip("/") == "/api/comment"

    def rate_limit(self) -> Response:
        """Reddit's RATELIMIT answer: HTTP 200 with the error in the JSON body."""
        return _json(load("reddit", "ratelimit.json"))

    def answer(self, request: Request, payload: Any, form: dict[str, str]) -> Response:
        """Grant a token, post a comment, say who we are, or list our comments."""
        path = request.path.rstrip("/")
        if path == "/api/v1/access_token":
            if request.headers.get("Authorization") != "Basic " + base64.b64encode(b"cid:csecret").decode():
                return _json({"error": 401}, 401)
            return _json(self.access)
        if request.headers.get("Authorization") != f"bearer {self.access['access_token']}":
            return _json({"message": "Unauthorized", "error": 401}, 401)
        if path == "/api/comment":
            failed = self.failure()
            if failed is not None:
                return failed
            created = load("reddit", "comment.json")
            thing = created["json"]["data"]["things"][0]
            now = time.time()
            thing["data"].update(
                body=form.get("text"), parent_id=form.get("thing_id"), created=now, created_utc=now
            )
            self.published.append(thing)
            return _json(created)
        if path == "/api/v1/me":
            return _json(load("reddit", "me.json"))
        if path == "/user/AcmeSupport/comments":
            listing = load("reddit", "user_comments.json")
            listing["data"]["children"] = list(reversed(self.published))
            return _json(listing)
        return _json({"message": "Not Found", "error": 404}, 404)


class FakeBluesky(Fake):
    """A PDS: createSession, com.atproto.repo.createRecord and getRecord."""

    kind = "bluesky"
    text = "@mira.bsky.social Sorry about that! We're on it (#12)."

    def account(self, base_url: str) -> ReplyAccount:
        """An app-password reply account pointed at this fake."""
        credentials = {"identifier": SESSION["handle"], "app_password": "app-pass-1234"}
        return ReplyAccount.model_validate({"base_url": base_url, "credentials": credentials})

    def target(self) -> ReplyTarget:
        """The post being answered, with its stored post view."""
        post = load("bluesky", "target_post.json")
        return ReplyTarget("bluesky", "bluesky", post["uri"], None, post["author"]["handle"], post)

    def is_post(self, path: str) -> bool:
        """createRecord publishes."""
        return path == "/xrpc/com.atproto.repo.createRecord"

    def rate_limit(self) -> Response:
        """The PDS's 429 with its ratelimit-reset header."""
        body = {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}
        return _json(body, 429, {"ratelimit-reset": "4102444800", "ratelimit-remaining": "0"})

    def answer(self, request: Request, payload: Any, form: dict[str, str]) -> Response:
        """Sign in, create a post record under its rkey, or read one back."""
        xrpc = request.path.removeprefix("/xrpc/")
        if xrpc == "com.atproto.server.createSession":
            return _json(SESSION)
        if request.headers.get("Authorization") != f"Bearer {SESSION['accessJwt']}":
            return _json({"error": "AuthenticationRequired", "message": "no session"}, 401)
        if xrpc == "com.atproto.repo.createRecord":
            failed = self.failure()
            if failed is not None:
                return failed
            if any(p["rkey"] == payload.get("rkey") for p in self.published):
                return _json({"error": "InvalidRequest", "message": "Record already exists"}, 400)
            created = load("bluesky", "create_record.json")
            created["uri"] = created["uri"].replace("RKEY", payload["rkey"])
            self.published.append(
                {
                    "rkey": payload["rkey"],
                    "uri": created["uri"],
                    "cid": created["cid"],
                    "value": payload["record"],
                }
            )
            return _json(created)
        if xrpc == "com.atproto.repo.getRecord":
            for record in self.published:
                if record["rkey"] == request.args.get("rkey"):
                    return _json({k: record[k] for k in ("uri", "cid", "value")})
            return _json({"error": "RecordNotFound", "message": "Could not locate record"}, 400)
        return _json({"error": "MethodNotImplemented", "message": xrpc}, 501)


class FakeMastodon(Fake):
    """An instance: /api/v2/search, POST /api/v1/statuses, verify_credentials, account statuses."""

    kind = "mastodon"
    text = "@ana@fosstodon.org Sorry about that! We're on it (#12)."
    token = "masto-token"

    def account(self, base_url: str) -> ReplyAccount:
        """A token reply account on this fake instance."""
        return ReplyAccount.model_validate(
            {"base_url": base_url, "credentials": {"access_token": self.token}}
        )

    def target(self) -> ReplyTarget:
        """The status being answered (addressed by its URI, as the collector stores it)."""
        status = load("mastodon", "search_target.json")["statuses"][0]
        return ReplyTarget("mastodon", "mastodon", status["uri"], status["url"], "ana@fosstodon.org", status)

    def is_post(self, path: str) -> bool:
        """POST /api/v1/statuses publishes."""
        return path == "/api/v1/statuses"

    def rate_limit(self) -> Response:
        """Mastodon's 429 with X-RateLimit-Reset (ISO time)."""
        headers = {
            "X-RateLimit-Limit": "300",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": "2100-01-01T00:00:00.000Z",
        }
        return _json({"error": "Too many requests"}, 429, headers)

    def answer(self, request: Request, payload: Any, form: dict[str, str]) -> Response:
        """Resolve a URI, post a status (honouring Idempotency-Key), or list our statuses."""
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return _json({"error": "The access token is invalid"}, 401)
        if request.path == "/api/v2/search":
            found = load("mastodon", "search_target.json")
            if request.args.get("q") != found["statuses"][0]["uri"]:
                found["statuses"] = []
            return _json(found)
        if request.path == "/api/v1/statuses" and request.method == "POST":
            failed = self.failure()
            if failed is not None:
                return failed
            fields = payload if isinstance(payload, dict) else form
            status = load("mastodon", "status.json")
            # Rendered as Mastodon does: entities escaped, @user@host linked and shown as @user.
            text = html.escape(str(fields.get("status", "")))
            linked = re.sub(
                r"@(\w+)@([\w.-]+)",
                r'<span class="h-card"><a href="https://\2/@\1" class="u-url mention">'
                r"@<span>\1</span></a></span>",
                text,
            )
            status["content"] = f"<p>{linked}</p>"
            status["in_reply_to_id"] = fields.get("in_reply_to_id")
            self.published.append(status)
            return _json(status)
        if request.path == "/api/v1/accounts/verify_credentials":
            return _json(load("mastodon", "verify_credentials.json"))
        if request.path == "/api/v1/accounts/109400000000000777/statuses":
            return _json(list(reversed(self.published)))
        return _json({"error": "Record not found"}, 404)


FAKES: dict[str, type[Fake]] = {
    "twitter": FakeX,
    "reddit": FakeReddit,
    "bluesky": FakeBluesky,
    "mastodon": FakeMastodon,
}


@contextmanager
def serving(fake: Fake) -> Iterator[str]:
    """Serve ``fake`` on 127.0.0.1; yields its base URL."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.expect_request(re.compile(".*")).respond_with_handler(fake.handle)
    server.start()
    try:
        yield server.url_for("").rstrip("/")
    finally:
        server.clear()
        if server.is_running():
            server.stop()


def copy_target(target: ReplyTarget) -> ReplyTarget:
    """A deep copy of a target (tests edit its raw payload)."""
    return ReplyTarget(
        target.source,
        target.source_kind,
        target.external_id,
        target.url,
        target.author,
        copy.deepcopy(dict(target.raw)),
    )
