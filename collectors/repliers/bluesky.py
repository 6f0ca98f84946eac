"""Replies on Bluesky through the atproto SDK: an ``app.bsky.feed.post`` record with reply refs.

The reply names the thread's root and the post answered (strong refs: URI and CID) and is
written with ``com.atproto.repo.createRecord`` under a record key derived from the reply's
idempotency key. A repeat therefore cannot create a second post, and
``com.atproto.repo.getRecord`` answers for certain whether the reply exists.
Credentials: ``identifier`` (handle or DID) and an ``app_password``; ``base_url`` is the PDS.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from atproto import Client, models
from atproto_client import exceptions as at_errors
from atproto_client.models.common import XrpcError
from atproto_client.request import Request
from pydantic import ValidationError

from collectors.http import reset_time
from collectors.repliers.base import (
    Replier,
    ReplyAccount,
    ReplyRateLimited,
    ReplyRejected,
    ReplyResult,
    ReplyTarget,
    ReplyTransient,
    graphemes,
    tid,
)

PDS = "https://bsky.social"
POST = "app.bsky.feed.post"
_TID = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")


def record_key(idempotency_key: str) -> str:
    """The reply's record key: the idempotency key when it is a TID, else a TID derived from it."""
    if _TID.match(idempotency_key):
        return idempotency_key
    digest = int.from_bytes(hashlib.sha256(idempotency_key.encode()).digest()[:8], "big")
    return tid(digest >> 11, digest)


def strong_refs(target: ReplyTarget) -> tuple[dict[str, str], dict[str, str]]:
    """The (root, parent) strong refs for a reply to ``target``, from its stored post view."""
    raw = target.raw
    parent = {"uri": str(raw.get("uri") or target.external_id), "cid": str(raw.get("cid") or "")}
    if not parent["cid"]:
        raise ReplyRejected("Bluesky: the stored post has no CID, so a reply cannot reference it")
    record = raw.get("record") if isinstance(raw.get("record"), Mapping) else {}
    reply = record.get("reply") if isinstance(record, Mapping) else None
    root = reply.get("root") if isinstance(reply, Mapping) else None
    if isinstance(root, Mapping) and root.get("uri") and root.get("cid"):
        return {"uri": str(root["uri"]), "cid": str(root["cid"])}, parent
    return dict(parent), parent


class BlueskyReplier(Replier):
    """Posts a reply record in the thread of the post that mentioned the brand."""

    kind: ClassVar[str] = "bluesky"
    max_chars: ClassVar[int] = 300
    credential_sets: ClassVar[tuple[tuple[str, ...], ...]] = (("identifier", "app_password"),)
    lookup_is_authoritative: ClassVar[bool] = True

    def __init__(
        self, *, account: ReplyAccount, timeout_seconds: float = 20.0, user_agent: str = "earshot"
    ) -> None:
        super().__init__(account=account, timeout_seconds=timeout_seconds, user_agent=user_agent)
        self._client = Client(base_url=account.base_url or PDS, request=Request(timeout=timeout_seconds))
        self._client.request.add_additional_header("User-Agent", user_agent)
        self._did: str | None = None
        self._client.on_session_change(self._session_changed)

    @classmethod
    def count(cls, text: str) -> int:
        """Bluesky limits posts to 300 graphemes."""
        return graphemes(text)

    def post(self, target: ReplyTarget, text: str, *, idempotency_key: str) -> ReplyResult:
        """createRecord(app.bsky.feed.post, rkey) with ``reply.root`` and ``reply.parent``."""
        root, parent = strong_refs(target)
        did = self._login()
        record = {
            "$type": POST,
            "text": text,
            "createdAt": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "reply": {"root": root, "parent": parent},
        }
        data = models.ComAtprotoRepoCreateRecord.Data(
            repo=did, collection=POST, rkey=record_key(idempotency_key), record=record
        )
        created = self._call(lambda: self._client.com.atproto.repo.create_record(data))
        return ReplyResult(remote_id=str(created.uri), url=self._web_url(str(created.uri)))

    def find_posted(
        self, target: ReplyTarget, text: str, *, idempotency_key: str, since: datetime
    ) -> ReplyResult | None:
        """getRecord on the reply's own record key: there or not, for certain."""
        did = self._login()
        params = models.ComAtprotoRepoGetRecord.Params(
            repo=did, collection=POST, rkey=record_key(idempotency_key)
        )
        try:
            found = self._call(lambda: self._client.com.atproto.repo.get_record(params))
        except _NotFound:
            return None
        return ReplyResult(remote_id=str(found.uri), url=self._web_url(str(found.uri)))

    def _login(self) -> str:
        if self._did is None:
            identifier, password = self.account.secret("identifier"), self.account.secret("app_password")
            if not (identifier and password):
                raise ReplyRejected("bluesky: set identifier and app_password on the reply account")
            self._call(lambda: self._client.login(identifier, password, fetch_bsky_profile=False))
        if self._did is None:
            raise ReplyTransient("Bluesky sign-in returned no session")
        return self._did

    def _session_changed(self, event: Any, session: Any) -> None:
        self._did = str(session.did)

    def _web_url(self, uri: str) -> str:
        did, _, rkey = uri.removeprefix("at://").partition(f"/{POST}/")
        return f"https://bsky.app/profile/{did}/post/{rkey}"

    def _call(self, call: Any) -> Any:
        try:
            return call()
        except at_errors.RateLimitExceededError as error:
            headers = error.response.headers if error.response else {}
            raise ReplyRateLimited(
                "Bluesky rate limit reached", retry_after=reset_time(headers, datetime.now(UTC))
            ) from error
        except at_errors.NetworkError as error:
            # httpx names a refused connection ConnectError; nothing was sent then.
            sent = "ConnectError" not in repr(error.__context__) and "ConnectTimeout" not in repr(
                error.__context__
            )
            raise ReplyTransient(f"Bluesky unreachable: {error}", maybe_posted=sent) from error
        except at_errors.RequestErrorBase as error:
            status = error.response.status_code if error.response is not None else 0
            content = error.response.content if error.response is not None else None
            code = content.error if isinstance(content, XrpcError) else ""
            if code == "RecordNotFound":
                raise _NotFound(code) from error
            detail = f"{code}: {content.message}" if isinstance(content, XrpcError) else ""
            if status >= 500:
                raise ReplyTransient(f"Bluesky answered HTTP {status} {detail}".strip()) from error
            raise ReplyRejected(f"Bluesky refused the reply (HTTP {status} {detail})".strip()) from error
        except (ValueError, ValidationError, at_errors.ModelError) as error:
            raise ReplyTransient(f"Bluesky answer unreadable: {type(error).__name__}") from error

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.request.close()


class _NotFound(Exception):
    """getRecord answered RecordNotFound."""
