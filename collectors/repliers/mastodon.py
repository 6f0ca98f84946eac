"""Replies on Mastodon through Mastodon.py: ``status_post(status, in_reply_to_id=...)``.

The post is addressed by its URI; the account's instance resolves it to its own status id
first (``/api/v2/search?resolve=true``), since ids differ between instances. Each post carries
an ``Idempotency-Key`` header, so the instance itself drops a repeat within the hour.
Credentials: a user ``access_token`` with the write:statuses and read:accounts scopes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import requests
from mastodon import (
    Mastodon,
    MastodonAPIError,
    MastodonNetworkError,
    MastodonRatelimitError,
    MastodonServerError,
)

from collectors.http import reset_time
from collectors.normalise import html_to_text
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

ASSUMED_VERSION = "4.2.0"  # stated, so Mastodon.py does not probe /api/v1/instance first


class MastodonReplier(Replier):
    """Posts a status in reply to the status that mentioned the brand."""

    kind: ClassVar[str] = "mastodon"
    max_chars: ClassVar[int] = 500
    credential_sets: ClassVar[tuple[tuple[str, ...], ...]] = (("access_token",),)

    def __init__(
        self, *, account: ReplyAccount, timeout_seconds: float = 20.0, user_agent: str = "earshot"
    ) -> None:
        super().__init__(account=account, timeout_seconds=timeout_seconds, user_agent=user_agent)
        if not account.base_url:
            raise ReplyRejected("mastodon: the reply account needs base_url (its instance)")
        self._session = requests.Session()
        # Mastodon.py's 'throw' mode drops the reset time, so keep the last response's headers.
        self._last_headers: Mapping[str, str] = {}
        self._session.hooks["response"].append(self._remember)
        self.base = account.base_url.rstrip("/")
        self._api = Mastodon(
            api_base_url=self.base,
            access_token=account.secret("access_token") or None,
            ratelimit_method="throw",
            request_timeout=timeout_seconds,
            version_check_mode="created",
            mastodon_version=ASSUMED_VERSION,
            session=self._session,
            user_agent=user_agent,
        )

    def post(self, target: ReplyTarget, text: str, *, idempotency_key: str) -> ReplyResult:
        """Resolve the target on our instance, then POST /api/v1/statuses with ``in_reply_to_id``."""
        local_id = self._local_id(target)
        status = self._call(
            lambda: self._api.status_post(text, in_reply_to_id=local_id, idempotency_key=idempotency_key)
        )
        if not isinstance(status, Mapping) or not status.get("id"):
            raise ReplyTransient(f"{self.base} accepted the reply but returned no status id")
        return ReplyResult(remote_id=str(status["id"]), url=_url(status))

    def find_posted(
        self, target: ReplyTarget, text: str, *, idempotency_key: str, since: datetime
    ) -> ReplyResult | None:
        """Our own recent statuses that reply to the target with the same text."""
        local_id = self._local_id(target)
        me = self._call(self._api.account_verify_credentials)
        statuses = self._call(lambda: self._api.account_statuses(me["id"], exclude_reblogs=True, limit=40))
        for status in statuses if isinstance(statuses, Sequence) else []:
            if str(status.get("in_reply_to_id")) != local_id:
                continue
            if same_text(html_to_text(str(status.get("content") or "")), text):
                return ReplyResult(remote_id=str(status["id"]), url=_url(status))
        return None

    def _local_id(self, target: ReplyTarget) -> str:
        uri = str(target.raw.get("uri") or target.external_id)
        found = self._call(lambda: self._api.search_v2(uri, result_type="statuses", resolve=True))
        statuses = list(getattr(found, "statuses", None) or (found or {}).get("statuses") or [])
        if not statuses:
            raise ReplyRejected(f"{self.base} cannot find the post {uri} (deleted, or not federated)")
        return str(statuses[0]["id"])

    def _call(self, call: Any) -> Any:
        try:
            return call()
        except MastodonRatelimitError as error:
            until = reset_time(self._last_headers, datetime.now(UTC))
            raise ReplyRateLimited(f"{self.base}: rate limited", retry_after=until) from error
        except MastodonNetworkError as error:
            cause = error.__context__  # Mastodon.py raises it while handling the requests error
            if isinstance(cause, requests.RequestException):
                raise transport_error(self.base, cause) from error
            raise ReplyTransient(f"{self.base}: unreachable ({error})") from error
        except MastodonServerError as error:
            raise ReplyTransient(f"{self.base}: server error ({_status(error)})") from error
        except MastodonAPIError as error:
            raise ReplyRejected(
                f"{self.base} refused the reply ({_status(error)}): {_reason(error)}"
            ) from error

    def _remember(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._last_headers = response.headers

    def close(self) -> None:
        """Close the HTTP session."""
        self._session.close()


def _url(status: Mapping[str, Any]) -> str | None:
    url = status.get("url") or status.get("uri")
    return str(url) if url else None


def _status(error: Exception) -> str:
    code = error.args[1] if len(error.args) > 1 else None
    return f"HTTP {code}" if isinstance(code, int) else "error"


def _reason(error: Exception) -> str:
    return str(error.args[-1]) if error.args else str(error)
