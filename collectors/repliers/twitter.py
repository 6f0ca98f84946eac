"""Replies on X through tweepy's v2 Client: ``create_tweet(text=..., in_reply_to_tweet_id=...)``.

Credentials: an OAuth 2.0 user access token (``access_token`` with the tweet.write scope) or
OAuth 1.0a user context (``consumer_key``, ``consumer_secret``, ``access_token``,
``access_token_secret``). App-only bearer tokens cannot post.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import requests
import tweepy

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
    weighted_length,
)
from collectors.twitter import API_HOST, _Redirect

SITE = "https://x.com"
_OAUTH1 = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")


class TwitterReplier(Replier):
    """Posts a reply tweet to the tweet that mentioned the brand."""

    kind: ClassVar[str] = "twitter"
    max_chars: ClassVar[int] = 280
    credential_sets: ClassVar[tuple[tuple[str, ...], ...]] = (("access_token",), _OAUTH1)

    def __init__(
        self, *, account: ReplyAccount, timeout_seconds: float = 20.0, user_agent: str = "earshot"
    ) -> None:
        super().__init__(account=account, timeout_seconds=timeout_seconds, user_agent=user_agent)
        secret = account.secret
        # OAuth 1.0a signs each request; without its four keys the access token is an OAuth 2.0 bearer.
        self._user_auth = all(secret(name) for name in _OAUTH1)
        self._client = tweepy.Client(
            bearer_token=None if self._user_auth else secret("access_token"),
            consumer_key=secret("consumer_key") or None,
            consumer_secret=secret("consumer_secret") or None,
            access_token=secret("access_token") or None,
            access_token_secret=secret("access_token_secret") or None,
            return_type=dict,
            wait_on_rate_limit=False,
        )
        self._client.user_agent = user_agent
        self._client.session.mount(API_HOST, _Redirect(account.base_url or API_HOST, timeout_seconds))

    @classmethod
    def count(cls, text: str) -> int:
        """X's weighted length (links count 23, CJK and emoji 2)."""
        return weighted_length(text)

    def post(self, target: ReplyTarget, text: str, *, idempotency_key: str) -> ReplyResult:
        """POST /2/tweets with ``reply.in_reply_to_tweet_id``."""
        body = self._call(
            lambda: self._client.create_tweet(
                text=text, in_reply_to_tweet_id=target.external_id, user_auth=self._user_auth
            )
        )
        data = body.get("data") if isinstance(body, Mapping) else None
        if not isinstance(data, Mapping) or not data.get("id"):
            raise ReplyTransient("X accepted the reply but its answer has no tweet id")
        return ReplyResult(remote_id=str(data["id"]), url=f"{SITE}/i/web/status/{data['id']}")

    def find_posted(
        self, target: ReplyTarget, text: str, *, idempotency_key: str, since: datetime
    ) -> ReplyResult | None:
        """Our own tweets since ``since`` that reply to the target with the same text."""
        me = self._call(lambda: self._client.get_me(user_auth=self._user_auth))
        user_id = str((me.get("data") or {}).get("id") or "") if isinstance(me, Mapping) else ""
        if not user_id:
            raise ReplyTransient("X did not say which account the token belongs to")
        start = (since - timedelta(minutes=2)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = self._call(
            lambda: self._client.get_users_tweets(
                user_id,
                start_time=start,
                max_results=100,
                tweet_fields=["referenced_tweets", "created_at"],
                user_auth=self._user_auth,
            )
        )
        for tweet in (body.get("data") if isinstance(body, Mapping) else None) or []:
            refs = tweet.get("referenced_tweets") or []
            replied = any(
                r.get("type") == "replied_to" and str(r.get("id")) == target.external_id for r in refs
            )
            if replied and same_text(str(tweet.get("text") or ""), text):
                return ReplyResult(remote_id=str(tweet["id"]), url=f"{SITE}/i/web/status/{tweet['id']}")
        return None

    def _call(self, call: Any) -> Any:
        try:
            return call()
        except tweepy.TooManyRequests as error:
            until = reset_time(error.response.headers, datetime.now(UTC))
            raise ReplyRateLimited("X rate limit reached", retry_after=until) from error
        except tweepy.TwitterServerError as error:
            raise ReplyTransient(f"X answered HTTP {error.response.status_code}") from error
        except (tweepy.Unauthorized, tweepy.Forbidden) as error:
            raise ReplyRejected(
                f"X refused the reply (HTTP {error.response.status_code}): {_why(error)}"
            ) from error
        except tweepy.HTTPException as error:
            raise ReplyRejected(
                f"X refused the reply (HTTP {error.response.status_code}): {_why(error)}"
            ) from error
        except ValueError as error:  # requests' JSONDecodeError, before RequestException (its other base)
            raise ReplyTransient(f"X answered with invalid JSON: {error}") from error
        except requests.RequestException as error:
            raise transport_error("X", error) from error

    def close(self) -> None:
        """Close the HTTP session."""
        self._client.session.close()


def _why(error: tweepy.HTTPException) -> str:
    return "; ".join(error.api_messages) or str(error.response.reason or "")
