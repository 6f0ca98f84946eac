"""Replies on Reddit through praw: ``reddit.comment(id).reply(body)`` or ``submission.reply(body)``.

Credentials: a 'script' app's ``client_id`` and ``client_secret`` with the replying account's
``username`` and ``password``, or a 'web' app's id and secret with a ``refresh_token``
(scopes: submit, identity, history).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any, ClassVar

import praw
import praw.exceptions
import prawcore
import requests
from prawcore.sessions import FiniteRetryStrategy

from collectors.http import reset_time
from collectors.repliers._requests import transport_error
from collectors.repliers.base import (
    Replier,
    ReplyAccount,
    ReplyRateLimited,
    ReplyRejected,
    ReplyResult,
    ReplyTarget,
    ReplyTransient,
    same_text,
)

OAUTH_URL = "https://oauth.reddit.com"
REDDIT_URL = "https://www.reddit.com"


class _NoRetry(FiniteRetryStrategy):
    """prawcore retries 5xx and read timeouts by default; for a POST that can publish twice."""

    def should_retry_on_failure(self) -> bool:
        """Never retry: the reply service decides, after checking what was published."""
        return False


class RedditReplier(Replier):
    """Posts a comment in reply to the submission (t3_) or comment (t1_) that mentioned the brand."""

    kind: ClassVar[str] = "reddit"
    max_chars: ClassVar[int] = 10000
    credential_sets: ClassVar[tuple[tuple[str, ...], ...]] = (
        ("client_id", "client_secret", "username", "password"),
        ("client_id", "client_secret", "refresh_token"),
    )

    def __init__(
        self, *, account: ReplyAccount, timeout_seconds: float = 20.0, user_agent: str = "earshot"
    ) -> None:
        super().__init__(account=account, timeout_seconds=timeout_seconds, user_agent=user_agent)
        self._session = requests.Session()  # ours, so close() can release it
        self._reddit: praw.Reddit | None = None

    def _client(self) -> praw.Reddit:
        if self._reddit is None:
            secret = self.account.secret
            base = (self.account.base_url or OAUTH_URL).rstrip("/")
            login: dict[str, Any] = {"refresh_token": secret("refresh_token")}
            if not secret("refresh_token"):
                login = {"username": secret("username"), "password": secret("password")}
            self._reddit = praw.Reddit(
                client_id=secret("client_id"),
                client_secret=secret("client_secret"),
                user_agent=self.user_agent,
                oauth_url=base,
                # Tests and proxies serve the token endpoint beside the API.
                reddit_url=REDDIT_URL if base == OAUTH_URL else base,
                timeout=math.ceil(self.timeout_seconds),  # praw takes whole seconds
                ratelimit_seconds=0,  # a RATELIMIT answer is reported, never slept on in a request
                check_for_updates=False,
                check_for_async=False,
                requestor_kwargs={"session": self._session},
                **login,
            )
            # praw builds its prawcore sessions eagerly; the retry strategy is only settable there.
            cores: list[Any] = [self._reddit._core, self._reddit._authorized_core]
            for core in cores:
                if core is not None:
                    core._retry_strategy_class = _NoRetry
        return self._reddit

    def post(self, target: ReplyTarget, text: str, *, idempotency_key: str) -> ReplyResult:
        """POST /api/comment with ``thing_id`` (the target's fullname) and ``text``."""
        reddit = self._client()
        fullname = target.external_id
        thing_id = fullname.split("_", 1)[-1]
        thing: Any = reddit.comment(thing_id) if fullname.startswith("t1_") else reddit.submission(thing_id)
        comment = self._call(lambda: thing.reply(text))
        if comment is None or not getattr(comment, "id", None):
            # Reddit posts into quarantined subreddits without returning the comment.
            raise ReplyTransient("Reddit accepted the reply but did not return it")
        return ReplyResult(remote_id=f"t1_{comment.id}", url=_permalink(comment))

    def find_posted(
        self, target: ReplyTarget, text: str, *, idempotency_key: str, since: datetime
    ) -> ReplyResult | None:
        """Our newest comments whose parent is the target and whose body is the reply."""
        reddit = self._client()

        def newest() -> list[Any]:
            me = reddit.user.me()
            if me is None:
                raise ReplyRejected(
                    "Reddit: the account is read-only; set username/password or refresh_token"
                )
            return list(me.comments.new(limit=100))

        for comment in self._call(newest):
            if getattr(comment, "created_utc", 0) < since.timestamp() - 120:
                break
            if comment.parent_id == target.external_id and same_text(str(comment.body), text):
                return ReplyResult(remote_id=f"t1_{comment.id}", url=_permalink(comment))
        return None

    def _call(self, call: Any) -> Any:
        try:
            return call()
        except praw.exceptions.RedditAPIException as error:
            if any(item.error_type == "RATELIMIT" for item in error.items):
                raise ReplyRateLimited(f"Reddit rate limit: {error.items[0].message}") from error
            raise ReplyRejected(f"Reddit refused the reply: {error}") from error
        except prawcore.TooManyRequests as error:
            until = reset_time(error.response.headers, datetime.now(UTC))
            raise ReplyRateLimited("Reddit rate limit reached", retry_after=until) from error
        except prawcore.ServerError as error:
            raise ReplyTransient(f"Reddit answered HTTP {error.response.status_code}") from error
        except prawcore.ResponseException as error:
            raise ReplyRejected(f"Reddit refused the reply (HTTP {error.response.status_code})") from error
        except prawcore.OAuthException as error:
            raise ReplyRejected(f"Reddit refused the credentials: {error}") from error
        except prawcore.RequestException as error:
            original = error.original_exception
            if isinstance(original, requests.RequestException):
                raise transport_error("Reddit", original) from error
            raise ReplyTransient(f"Reddit unreachable: {type(original).__name__}") from error

    def close(self) -> None:
        """Close the HTTP session."""
        self._session.close()


def _permalink(comment: Any) -> str | None:
    link = getattr(comment, "permalink", None)
    return f"{REDDIT_URL}{link}" if isinstance(link, str) and link.startswith("/") else None
