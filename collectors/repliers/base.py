"""The Replier seam: post one reply where the customer spoke, and find it again after a crash.

A replier never touches storage. The reply service records ``posting`` (and commits) before
calling ``post``, and calls ``find_posted`` for a reply it cannot prove went out or not, so a
retry or a crash never posts twice.
"""

from __future__ import annotations

import re
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class ReplyAccount(BaseModel):
    """The account that replies on one source: where its API is and the credentials it uses.

    Credentials are usually ``${ENV}`` references, e.g. ``access_token: ${X_REPLY_TOKEN}``.
    """

    # Rejected values may be secrets; keep them out of error messages.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    kind: str | None = Field(default=None, description="Replier kind; default: the source's kind.")
    base_url: str | None = Field(default=None, description="API base URL; default: the source's public API.")
    credentials: dict[str, SecretStr] = Field(default_factory=dict)

    def secret(self, name: str) -> str:
        """One credential's value, or '' when it is not set."""
        value = self.credentials.get(name)
        return value.get_secret_value() if value is not None else ""


@dataclass(frozen=True)
class ReplyTarget:
    """The post being answered, as stored with its mention."""

    source: str
    source_kind: str
    external_id: str
    url: str | None = None
    author: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReplyResult:
    """A reply the source accepted: its id there and, when known, its public URL."""

    remote_id: str
    url: str | None = None


class ReplyError(Exception):
    """Base for every error a replier raises on purpose; ``str()`` is shown to the user."""

    #: True when the source may have published the reply despite the error (timeouts, 5xx).
    maybe_posted: bool = False


class ReplyRateLimited(ReplyError):
    """The source asked us to wait; ``retry_after`` is when to try again, if it said."""

    def __init__(self, message: str, *, retry_after: datetime | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ReplyRejected(ReplyError):
    """The source refused the reply (credentials, permissions, text, deleted post): fix, then retry."""


class ReplyTransient(ReplyError):
    """A timeout, connection error or 5xx; ``maybe_posted`` says whether the request may have landed."""

    def __init__(self, message: str, *, maybe_posted: bool = True) -> None:
        super().__init__(message)
        self.maybe_posted = maybe_posted


class LookupUnsupported(ReplyError):
    """This replier cannot search its own recent replies; a person must check."""


class Replier(ABC):
    """Posts replies on one source kind. Subclasses set ``kind``, ``max_chars`` and the credentials."""

    kind: ClassVar[str]
    #: The source's limit on a reply's length, as ``count`` measures it.
    max_chars: ClassVar[int]
    #: Credential names the account must set (any one of the tuples).
    credential_sets: ClassVar[tuple[tuple[str, ...], ...]] = ()
    #: True when ``find_posted`` returning None proves the reply was not published.
    lookup_is_authoritative: ClassVar[bool] = False

    def __init__(
        self, *, account: ReplyAccount, timeout_seconds: float = 20.0, user_agent: str = "earshot"
    ) -> None:
        self.account = account
        self.timeout_seconds = timeout_seconds
        self.user_agent = user_agent

    def missing_credentials(self) -> list[str]:
        """The credentials to set before this account can post (empty when ready)."""
        if not self.credential_sets:
            return []
        options = [[n for n in names if not self.account.secret(n)] for names in self.credential_sets]
        return min(options, key=len)

    @classmethod
    def count(cls, text: str) -> int:
        """The reply's length as the source counts it (code points unless a subclass knows better)."""
        return len(text)

    @abstractmethod
    def post(self, target: ReplyTarget, text: str, *, idempotency_key: str) -> ReplyResult:
        """Publish ``text`` as a reply to ``target``; raise a ReplyError subclass on failure."""

    def find_posted(
        self, target: ReplyTarget, text: str, *, idempotency_key: str, since: datetime
    ) -> ReplyResult | None:
        """The reply if it was published (looked up at the source), None if not found."""
        raise LookupUnsupported(f"{self.kind}: cannot look up replies already posted")

    def close(self) -> None:  # noqa: B027  (optional: most repliers hold a session to close)
        """Release connections."""


_SPACE = re.compile(r"\s+")
_B32 = "234567abcdefghijklmnopqrstuvwxyz"  # atproto's sortable base32


def tid(micros: int, clock_id: int) -> str:
    """A record key in atproto's TID form: 53 bits of microseconds and a 10-bit clock id."""
    value = ((micros & ((1 << 53) - 1)) << 10) | (clock_id & 0x3FF)
    return "".join(_B32[(value >> (5 * i)) & 31] for i in reversed(range(13)))


def same_text(posted: str, ours: str) -> bool:
    """True when text read back from a source is the reply we sent (whitespace and case aside).

    Sources rewrite what they store (t.co links, HTML entities, trimmed space, ``@user@host``
    shown as ``@user``), so a link is compared by its position and a mention by its user.
    """

    def norm(text: str) -> str:
        text = unicodedata.normalize("NFC", text)
        text = re.sub(r"https?://\S+", "<link>", text)
        text = re.sub(r"@([\w.]+)@[\w.-]+", r"@\1", text)  # Mastodon shows @user@host as @user
        return _SPACE.sub(" ", text).strip().casefold()

    return norm(posted) == norm(ours)


def weighted_length(text: str) -> int:
    """X's weighted length: URLs 23, most Latin-script code points 1, everything else 2."""
    total = 0
    for part in re.split(r"(https?://\S+)", unicodedata.normalize("NFC", text)):
        if part.startswith(("http://", "https://")):
            total += 23
            continue
        for char in part:
            code = ord(char)
            light = code <= 4351 or 8192 <= code <= 8205 or 8208 <= code <= 8223 or 8242 <= code <= 8247
            total += 1 if light else 2
    return total


def graphemes(text: str) -> int:
    """An approximate grapheme count: code points that are not combining marks or joiners."""
    return sum(
        1
        for char in unicodedata.normalize("NFC", text)
        if not unicodedata.combining(char) and char not in "\u200d\ufe0f\ufe0e"
    )
