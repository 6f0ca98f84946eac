"""Importing a team's history: JSON lines or CSV in, stored mentions out, with no alerts.

Parsing (``parse_json_lines``; CSV in ``storage.import_csv``) turns each input line into a
validated ``ImportItem`` or a ``LineError`` with the line number and reason; storing
(``import_items``) classifies what came without a classification and stores batches
idempotently through ``storage.bulk_store.store_mentions_bulk`` (rollups included). It never
routes or raises alerts: history is for trends, not for paging people.
"""

from __future__ import annotations

import functools
import gc
import json
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.orm import Session

from domain import Author, Classification, Engagement, Mention, MentionKey, Sentiment, Urgency
from storage import bulk_store
from storage import mentions as mention_repo

IMPORT_MODEL = "import"
# Mentions per transaction: large, because per-batch costs (key checks, rollup upserts, COPY set-up)
# dominate small batches; 10k rows stay a few MB of memory.
BATCH_SIZE = 10_000
# Store each batch in a worker thread while the next one is parsed (False: one thread).
OVERLAP = True
# An imported urgency level's score: where that level starts in the default thresholds.
_URGENCY_SCORES = {"low": 0.1, "medium": 0.4, "high": 0.7, "critical": 0.95}


class AuthorIn(BaseModel):
    """Who wrote an imported mention."""

    model_config = ConfigDict(extra="forbid")

    handle: str = Field(min_length=1, max_length=255)
    display_name: str = Field(default="", max_length=255)
    followers: int | None = Field(default=None, ge=0)
    url: str | None = None


class ClassificationIn(BaseModel):
    """A classification that came with the mention: the model is skipped for it."""

    model_config = ConfigDict(extra="forbid")

    sentiment: Literal["negative", "neutral", "positive"]
    urgency: Literal["low", "medium", "high", "critical"] = "low"
    categories: list[str] = Field(default_factory=list)


class EngagementIn(BaseModel):
    """Engagement counts at export time."""

    model_config = ConfigDict(extra="forbid")

    likes: int = Field(default=0, ge=0)
    shares: int = Field(default=0, ge=0)
    replies: int = Field(default=0, ge=0)
    views: int | None = Field(default=None, ge=0)


BrandName = Annotated[str, Field(min_length=1, max_length=128)]
_NO_ENGAGEMENT = Engagement()


class MentionIn(BaseModel):
    """One line of an import file."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, max_length=128)
    external_id: str = Field(min_length=1, max_length=512)
    url: str | None = None
    title: str | None = None
    text: str
    language: str | None = Field(default=None, max_length=16)
    published_at: datetime
    # Constraints rather than Python validators: the whole line is then checked in Rust.
    brands: list[BrandName] = Field(default_factory=list)
    author: AuthorIn
    classification: ClassificationIn | None = None
    engagement: EngagementIn | None = None
    source_kind: str | None = Field(default=None, max_length=64)


@dataclass(frozen=True, slots=True)
class ImportItem:
    """A valid line: the mention and, when the file had one, its classification."""

    line: int
    mention: Mention
    classification: Classification | None


@dataclass(frozen=True, slots=True)
class LineError:
    """A line that could not be imported, and why."""

    line: int
    reason: str


Parsed = ImportItem | LineError


def to_item(line: int, record: MentionIn) -> ImportItem:
    """The domain objects for one validated record."""
    at = record.published_at
    # A timestamp without an offset is taken to be UTC, as exports from most tools are.
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    a, e = record.author, record.engagement
    mention = Mention(
        source=record.source,
        source_kind=record.source_kind or record.source,
        external_id=record.external_id,
        text=record.text,
        title=record.title,
        url=record.url,
        language=record.language,
        author=Author(handle=a.handle, display_name=a.display_name, followers=a.followers, url=a.url),
        published_at=at,
        # History has no collection time of its own; its publication time is the honest stand-in.
        collected_at=at,
        engagement=_NO_ENGAGEMENT
        if e is None
        else Engagement(likes=e.likes, shares=e.shares, replies=e.replies, views=e.views),
        brands=tuple(dict.fromkeys(record.brands)),
        raw={"imported": True},
    )
    c = record.classification
    if c is None:
        return ImportItem(line, mention, None)
    return ImportItem(
        line, mention, _classification(c.sentiment, c.urgency, tuple(c.categories), record.language)
    )


@functools.lru_cache(maxsize=4096)
def _classification(
    sentiment: str, urgency: str, categories: tuple[str, ...], language: str | None
) -> Classification:
    # Shared between mentions (it is frozen): an export repeats a few hundred combinations, and
    # building one per line cost more than validating the line.
    return Classification(
        sentiment=Sentiment(sentiment),
        sentiment_scores={sentiment: 1.0},
        urgency=Urgency(urgency),
        urgency_score=_URGENCY_SCORES[urgency],
        categories=tuple(dict.fromkeys(categories)),
        language=language,
        model_version=IMPORT_MODEL,
    )


def _reason(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "line"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {first['msg']}{more}"


def parse_record(line: int, data: Any) -> Parsed:
    """Validate one decoded record."""
    if not isinstance(data, dict):
        return LineError(line, f"expected a JSON object, got {type(data).__name__}")
    try:
        return to_item(line, MentionIn.model_validate(data))
    except ValidationError as exc:
        return LineError(line, _reason(exc))


def _parse_line(line: int, raw: bytes) -> Parsed:
    # The reference path: decode, then validate; it words the errors for people.
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return LineError(line, f"not UTF-8 ({exc.reason} at byte {exc.start})")
    except json.JSONDecodeError as exc:
        return LineError(line, f"invalid JSON: {exc.msg} at column {exc.colno}")
    return parse_record(line, data)


_VALIDATE_JSON = MentionIn.__pydantic_validator__.validate_json


def parse_json_lines(stream: IO[bytes]) -> Iterator[tuple[int, Parsed]]:
    """(line number, item or error) per non-blank line of a JSON lines file."""
    for number, raw in enumerate(stream, start=1):
        if not raw.strip():
            continue
        try:
            # Parsing and validating in one pass in Rust, several times faster than json.loads
            # then model_validate; a line it refuses goes through _parse_line for the reason.
            record = _VALIDATE_JSON(raw)
        except ValidationError:
            yield number, _parse_line(number, raw)
            continue
        yield number, to_item(number, record)


@dataclass
class ImportReport:
    """What an import did."""

    stored: int = 0
    duplicates: int = 0
    classified: int = 0
    errors: list[LineError] = field(default_factory=list)

    @property
    def failed(self) -> int:
        """How many lines could not be imported."""
        return len(self.errors)


def import_items(
    *,
    sessions: Callable[[], Session],
    items: Iterable[Parsed],
    classify: Callable[[list[Mention]], list[Classification]],
    mark: Callable[[Mention], Mention] = lambda m: m,
    now: Callable[[], datetime],
    batch_size: int = BATCH_SIZE,
    report: ImportReport | None = None,
) -> ImportReport:
    """Store ``items`` in batches (one transaction each), classifying those without a classification.

    Mentions already stored are skipped before classification, so a re-import stores nothing
    twice and costs no model time. ``mark`` sets owned accounts and brand order. No alerts.
    """
    report = report or ImportReport()
    # The cyclic collector would walk every item of the batches held here again and again (a
    # third of the import's time); imports create no garbage cycles worth chasing meanwhile.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _import(sessions, items, classify, mark, now, batch_size, report)
    finally:
        if collecting:
            gc.enable()


def _import(
    sessions: Callable[[], Session],
    items: Iterable[Parsed],
    classify: Callable[[list[Mention]], list[Classification]],
    mark: Callable[[Mention], Mention],
    now: Callable[[], datetime],
    batch_size: int,
    report: ImportReport,
) -> ImportReport:
    batch: list[ImportItem] = []
    # One batch is stored in a worker thread while the next is parsed: the database's own work
    # (SQLite's page writes, PostgreSQL's server process) runs outside the GIL alongside parsing.
    # Batches still commit one after the other, in file order, so the first copy still wins.
    overlap = OVERLAP and not _in_memory(sessions)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="earshot-import") as pool:
        pending: Future[None] | None = None
        for item in items:
            if isinstance(item, LineError):
                report.errors.append(item)
                continue
            batch.append(item)
            if len(batch) >= batch_size:
                if pending is not None:
                    pending.result()  # raises what storing the previous batch raised
                if overlap:
                    pending = pool.submit(_store, sessions, batch, classify, mark, now(), report)
                else:
                    _store(sessions, batch, classify, mark, now(), report)
                batch = []
        if pending is not None:
            pending.result()
        if batch:
            _store(sessions, batch, classify, mark, now(), report)
    return report


def _in_memory(sessions: Callable[[], Session]) -> bool:
    # An in-memory SQLite database is one per connection (per thread): keep to this thread.
    with sessions() as session:
        url = session.get_bind().engine.url
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def _store(
    sessions: Callable[[], Session],
    batch: list[ImportItem],
    classify: Callable[[list[Mention]], list[Classification]],
    mark: Callable[[Mention], Mention],
    now: datetime,
    report: ImportReport,
) -> None:
    unique = {item.mention.key: item for item in reversed(batch)}  # first copy in the file wins
    known: set[MentionKey] = set()
    if any(item.classification is None for item in unique.values()):
        # Only to spare the model the mentions already stored: storing itself skips them anyway.
        with sessions() as session:
            known = mention_repo.existing_keys(session, unique)
    fresh = [unique[key] for key in unique if key not in known]
    fresh.sort(key=lambda item: item.line)
    mentions = [mark(item.mention) for item in fresh]
    todo = [i for i, item in enumerate(fresh) if item.classification is None]
    classes: list[Classification | None] = [item.classification for item in fresh]
    if todo:
        for i, c in zip(todo, classify([mentions[i] for i in todo]), strict=True):
            classes[i] = c
        report.classified += len(todo)
    with sessions() as session, session.begin():
        stored = bulk_store.store_mentions_bulk(session, mentions, classes, now=now)
    report.stored += len(stored)
    report.duplicates += len(batch) - len(stored)
