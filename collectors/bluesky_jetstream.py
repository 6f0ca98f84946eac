"""Bluesky through Jetstream: replays the post firehose from a time cursor instead of searching.

Jetstream (github.com/bluesky-social/jetstream) sends every repo commit as a JSON
websocket message stamped with ``time_us``; ``?cursor=<time_us>`` replays from that
moment. Each fetch replays from the stored cursor, reads for a bounded time or
number of events, keeps new posts that match a brand, and returns the ``time_us``
of the last event it read, so the next fetch continues exactly there. The replay
starts a few seconds early, as Jetstream advises (instances stamp events slightly
differently); posts read again inside that rewind are recognised by the URIs the
cursor remembers, so they are not returned twice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, TypeGuard
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import Field, field_validator
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.sync.client import ClientConnection, connect

from collectors.base import Collector, CollectorOptions, Cursor, FetchResult
from collectors.bluesky import post_to_mention
from collectors.errors import BadConfiguration, BadPayload, TemporarilyUnavailable
from collectors.http import check_status
from collectors.matching import BrandMatcher
from domain import Mention

DEFAULT_URL = "wss://jetstream2.us-east.bsky.network/subscribe"
POST_COLLECTION = "app.bsky.feed.post"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_END_US = 253_402_300_800_000_000  # year 10000: beyond it a time_us cannot become a datetime
_MAX_MESSAGE_BYTES = 1024 * 1024  # a post event is a few kB; anything near this is not a post
_MAX_PROBLEMS = 25  # one broken upstream must not turn the run report into thousands of lines
_MAX_RECENT = 2000
# A replay starting this long after the cursor means Jetstream no longer holds those events.
_GAP_US = 300 * 1_000_000


class JetstreamOptions(CollectorOptions):
    """Options for the ``bluesky-jetstream`` collector."""

    url: str = Field(default=DEFAULT_URL, description="Jetstream subscribe endpoint (ws:// or wss://).")
    site_url: str = "https://bsky.app"
    max_seconds: float = Field(default=20.0, gt=0, le=600, description="Longest time one fetch reads.")
    max_events: int = Field(default=5000, ge=1, le=1_000_000, description="Most messages one fetch reads.")
    first_run_seconds: float = Field(
        default=60.0, gt=0, le=86_400, description="How far back a first run starts."
    )
    rewind_seconds: float = Field(default=5.0, ge=0, le=300, description="Replay overlap before the cursor.")
    timeout_seconds: float | None = Field(
        default=None, gt=0, description="Connect timeout; the context's if unset."
    )

    @field_validator("url")
    @classmethod
    def _websocket_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"ws", "wss"} or not parts.hostname:
            raise ValueError("url must be a ws:// or wss:// URL")
        return value


def subscribe_url(url: str, cursor_us: int) -> str:
    """``url`` asking Jetstream for posts only, replayed from ``cursor_us``; other parameters are kept."""
    parts = urlsplit(url)
    query = [
        (key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if key not in {"wantedCollections", "cursor"}
    ]
    query += [("wantedCollections", POST_COLLECTION), ("cursor", str(cursor_us))]
    return urlunsplit(parts._replace(query=urlencode(query)))


def from_time_us(time_us: int) -> datetime:
    """A UTC datetime from Jetstream's microsecond timestamp, exactly (no float rounding)."""
    return _EPOCH + timedelta(microseconds=time_us)


def is_time_us(value: object) -> TypeGuard[int]:
    """Whether ``value`` is a usable microsecond timestamp (an int, not a bool, within datetime's range)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < _END_US


def is_post_create(event: Mapping[str, Any]) -> bool:
    """Whether a Jetstream event creates a post (not a like, a delete, an edit or an identity change)."""
    commit = event.get("commit")
    return (
        event.get("kind") == "commit"
        and isinstance(commit, Mapping)
        and commit.get("operation") == "create"
        and commit.get("collection") == POST_COLLECTION
    )


def event_to_mention(
    event: Mapping[str, Any],
    time_us: int,
    *,
    source: str,
    kind: str,
    site_url: str,
    matcher: BrandMatcher,
    now: datetime,
) -> Mention | None:
    """A Mention for a post-create event if it matches a brand; BadPayload if the event is unreadable."""
    did, commit = event.get("did"), event.get("commit")
    if not isinstance(did, str) or not did.startswith("did:") or not isinstance(commit, Mapping):
        raise BadPayload("post event without a did or commit")
    rkey, record = commit.get("rkey"), commit.get("record")
    if not isinstance(rkey, str) or not rkey or "/" in rkey:
        raise BadPayload(f"post event from {did} without a usable rkey")
    uri = f"at://{did}/{POST_COLLECTION}/{rkey}"
    if not isinstance(record, Mapping) or not isinstance(record.get("text", ""), str):
        raise BadPayload(f"{uri}: record is not a post")
    # The stream names authors by DID only (handles are not in commits), so the DID stands in for
    # the handle; the shared normaliser then builds the same fields as the search collector.
    post = {
        "uri": uri,
        "cid": commit.get("cid"),
        "author": {"did": did, "handle": did},
        "record": record,
        "indexedAt": from_time_us(time_us).isoformat(),  # the fallback when createdAt is unreadable
    }
    try:
        mention = post_to_mention(
            post, {}, source=source, kind=kind, site_url=site_url, matcher=matcher, now=now
        )
    except (AttributeError, TypeError, KeyError, IndexError, ValueError) as error:
        raise BadPayload(f"{uri}: unreadable record ({type(error).__name__})") from error
    return None if mention is None else replace(mention, raw=dict(event))


@dataclass
class _Batch:
    """What one fetch has read so far."""

    replay_from: int
    resumed: bool
    seen: dict[str, int]  # post URIs returned (this run or just before) -> time_us last read
    mentions: dict[str, Mention] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    read: int = 0
    last_us: int | None = None
    hidden_problems: int = 0

    def note(self, problem: str) -> None:
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(problem)
        else:
            self.hidden_problems += 1

    def parse(self, message: str | bytes) -> tuple[dict[str, Any], int] | None:
        """The event and its time_us, or None (noted as a problem) for an unreadable message."""
        self.read += 1
        if isinstance(message, bytes):  # compressed frames only come when asked for, and we do not ask
            self.note(f"message {self.read}: unexpected binary frame ({len(message)} bytes) skipped")
            return None
        try:
            event = json.loads(message)
        except (ValueError, RecursionError) as error:
            self.note(f"message {self.read}: not JSON ({type(error).__name__}: {error}); skipped")
            return None
        time_us = event.get("time_us") if isinstance(event, dict) else None
        if not is_time_us(time_us):
            self.note(f"message {self.read}: not a Jetstream event (no usable time_us); skipped")
            return None
        if self.last_us is None and self.resumed and time_us - self.replay_from > _GAP_US:
            self.note(
                f"Jetstream replayed from {from_time_us(time_us).isoformat()}, not from the cursor "
                f"{from_time_us(self.replay_from).isoformat()}: posts in between were missed "
                "(older than its replay window?)"
            )
        self.last_us = time_us
        return event, time_us

    def keep(self, mention: Mention, time_us: int) -> None:
        """Add a matched post unless it was already returned, by this fetch or just before it."""
        uri = mention.external_id
        if uri not in self.seen and uri not in self.mentions:
            self.mentions[uri] = mention
        # Remember the latest sighting: a post redelivered later must still be known after the rewind.
        self.seen[uri] = time_us

    def report(self) -> list[str]:
        """The problems, with a count of those left out."""
        extra = [f"{self.hidden_problems} more problems not listed"] if self.hidden_problems else []
        return [*self.problems, *extra]


class JetstreamCollector(Collector[JetstreamOptions]):
    """Collects Bluesky posts matching brand queries from Jetstream's replayable firehose."""

    kind: ClassVar[str] = "bluesky-jetstream"
    options_model: ClassVar[type[CollectorOptions]] = JetstreamOptions

    def fetch(self, cursor: Cursor | None) -> FetchResult:
        """Replay posts since ``cursor`` for a bounded time; the new cursor covers only events read."""
        now = self.context.now()
        now_us = (now - _EPOCH) // timedelta(microseconds=1)
        rewind_us = int(self.options.rewind_seconds * 1_000_000)
        problems: list[str] = []
        stored, seen = self._load_cursor(cursor, problems)
        if stored is None:  # a first run has nothing to overlap with
            start_us = replay_from = now_us - int(self.options.first_run_seconds * 1_000_000)
        else:
            start_us, replay_from = stored, stored - rewind_us
        batch = _Batch(replay_from=replay_from, resumed=stored is not None, seen=seen)
        batch.problems.extend(problems)
        url = subscribe_url(self.options.url, batch.replay_from)
        with self._connect(url, now) as websocket:
            # Caught up means past both our clock and the stored cursor, so a clock that jumped
            # back cannot stall every run at the first event.
            self._read(websocket, batch, now, max(now_us, start_us))
        end_us = max(start_us, batch.last_us or start_us)
        recent = sorted(
            ((uri, t) for uri, t in batch.seen.items() if t >= end_us - rewind_us), key=lambda item: -item[1]
        )[:_MAX_RECENT]
        return FetchResult(
            list(batch.mentions.values()),
            {"time_us": end_us, "recent": dict(sorted(recent))},
            batch.report(),
            batch.read,
        )

    def _load_cursor(self, cursor: Cursor | None, problems: list[str]) -> tuple[int | None, dict[str, int]]:
        if not cursor:
            return None, {}
        time_us = cursor.get("time_us")
        if not is_time_us(time_us):
            problems.append("stored cursor has no usable time_us; starting as on a first run")
            return None, {}
        recent = cursor.get("recent")
        seen = {
            str(uri): t for uri, t in (recent.items() if isinstance(recent, Mapping) else ()) if is_time_us(t)
        }
        return time_us, seen

    def _connect(self, url: str, now: datetime) -> ClientConnection:
        where = urlunsplit(urlsplit(url)._replace(query=""))
        timeout = self.options.timeout_seconds or self.context.timeout_seconds
        try:
            return connect(
                url,
                open_timeout=timeout,
                close_timeout=min(timeout, 2.0),  # the server keeps streaming while we hang up
                user_agent_header=self.context.user_agent,
                max_size=_MAX_MESSAGE_BYTES,
            )
        except InvalidURI as error:
            raise BadConfiguration(f"{where}: not a usable websocket URL") from error
        except InvalidStatus as error:
            status = error.response.status_code
            check_status(status, error.response.headers, where, now)  # 429, 5xx, 4xx as for HTTP sources
            raise TemporarilyUnavailable(f"{where}: handshake answered HTTP {status}") from error
        except (InvalidHandshake, OSError) as error:  # refused, DNS, TLS, open timeout, not a websocket
            raise TemporarilyUnavailable(
                f"{where}: cannot connect ({type(error).__name__}: {error})"
            ) from error

    def _read(self, websocket: ClientConnection, batch: _Batch, now: datetime, live_us: int) -> None:
        deadline = time.monotonic() + self.options.max_seconds
        site_url = self.options.site_url.rstrip("/")
        while batch.read < self.options.max_events:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                message = websocket.recv(timeout=remaining)
            except TimeoutError:
                break
            except ConnectionClosed as error:
                reason = _close_reason(error)
                if batch.read == 0:
                    raise TemporarilyUnavailable(f"Jetstream closed the stream at once ({reason})") from error
                batch.note(f"Jetstream closed the stream after {batch.read} messages ({reason}); kept those")
                return
            parsed = batch.parse(message)
            if parsed is None:
                continue
            event, time_us = parsed
            if is_post_create(event):
                self._take(event, time_us, batch, site_url, now)
            if time_us >= live_us:
                return  # caught up with the live stream: the next run continues from here
        if batch.read == 0:
            raise TemporarilyUnavailable(f"Jetstream sent nothing in {self.options.max_seconds:g} s")

    def _take(self, event: dict[str, Any], time_us: int, batch: _Batch, site_url: str, now: datetime) -> None:
        try:
            mention = event_to_mention(
                event,
                time_us,
                source=self.name,
                kind=self.kind,
                site_url=site_url,
                matcher=self.context.matcher,
                now=now,
            )
        except BadPayload as error:
            batch.note(f"message {batch.read}: {error}; skipped")
            return
        if mention is not None:
            batch.keep(mention, time_us)


def _close_reason(error: ConnectionClosed) -> str:
    frame = error.rcvd
    if frame is None:
        return "dropped without a close frame"
    return f"code {frame.code}" + (f": {frame.reason}" if frame.reason else "")
