"""Importing a team's history: JSON lines or CSV in, stored mentions out, with no alerts.

Parsing (``parse_json_lines``, ``parse_csv``) turns each input line into a validated
``ImportItem`` or a ``LineError`` with the line number and reason; storing
(``import_items``) classifies what came without a classification and stores batches
idempotently through ``storage.mentions.store_mentions_bulk`` (rollups included). It never
routes or raises alerts: history is for trends, not for paging people.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy.orm import Session

from domain import Author, Classification, Engagement, Mention, MentionKey, Sentiment, Urgency
from storage import mentions as mention_repo

IMPORT_MODEL = "import"
# Mentions per transaction: large, because per-batch costs (key checks, rollup upserts, COPY set-up)
# dominate small batches; 10k rows stay a few MB of memory.
BATCH_SIZE = 10_000
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
    brands: list[str] = Field(default_factory=list)
    author: AuthorIn
    classification: ClassificationIn | None = None
    engagement: EngagementIn = Field(default_factory=EngagementIn)
    source_kind: str | None = Field(default=None, max_length=64)

    @field_validator("brands")
    @classmethod
    def _brand_names(cls, brands: list[str]) -> list[str]:
        for brand in brands:
            if not brand or len(brand) > 128:
                raise ValueError("each brand must be 1 to 128 characters")
        return brands

    @field_validator("published_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        # A timestamp without an offset is taken to be UTC, as exports from most tools are.
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


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
    mention = Mention(
        source=record.source,
        source_kind=record.source_kind or record.source,
        external_id=record.external_id,
        text=record.text,
        title=record.title,
        url=record.url,
        language=record.language,
        author=Author(
            handle=record.author.handle,
            display_name=record.author.display_name,
            followers=record.author.followers,
            url=record.author.url,
        ),
        published_at=record.published_at,
        # History has no collection time of its own; its publication time is the honest stand-in.
        collected_at=record.published_at,
        engagement=Engagement(**record.engagement.model_dump()),
        brands=tuple(dict.fromkeys(record.brands)),
        raw={"imported": True},
    )
    c = record.classification
    if c is None:
        return ImportItem(line, mention, None)
    classification = Classification(
        sentiment=Sentiment(c.sentiment),
        sentiment_scores={c.sentiment: 1.0},
        urgency=Urgency(c.urgency),
        urgency_score=_URGENCY_SCORES[c.urgency],
        categories=tuple(dict.fromkeys(c.categories)),
        language=record.language,
        model_version=IMPORT_MODEL,
    )
    return ImportItem(line, mention, classification)


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


def parse_json_lines(stream: IO[bytes]) -> Iterator[tuple[int, Parsed]]:
    """(line number, item or error) per non-blank line of a JSON lines file."""
    for number, raw in enumerate(stream, start=1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            yield number, LineError(number, f"not UTF-8 ({exc.reason} at byte {exc.start})")
            continue
        except json.JSONDecodeError as exc:
            yield number, LineError(number, f"invalid JSON: {exc.msg} at column {exc.colno}")
            continue
        yield number, parse_record(number, data)


# CSV columns are mapped onto these flat fields; lists are separated by ``list_separator``.
CSV_FIELDS: dict[str, tuple[str, ...]] = {
    "source": ("source",),
    "source_kind": ("source_kind",),
    "external_id": ("external_id",),
    "url": ("url",),
    "title": ("title",),
    "text": ("text",),
    "language": ("language",),
    "published_at": ("published_at",),
    "brands": ("brands",),
    "author_handle": ("author", "handle"),
    "author_display_name": ("author", "display_name"),
    "author_followers": ("author", "followers"),
    "sentiment": ("classification", "sentiment"),
    "urgency": ("classification", "urgency"),
    "categories": ("classification", "categories"),
    "likes": ("engagement", "likes"),
    "shares": ("engagement", "shares"),
    "replies": ("engagement", "replies"),
    "views": ("engagement", "views"),
}
_LISTS = {"brands", "categories"}


@dataclass(frozen=True)
class CsvMapping:
    """Which CSV column feeds which field, and constant values for fields the file lacks."""

    columns: dict[str, str] = field(default_factory=dict)  # field -> column header
    constants: dict[str, str] = field(default_factory=dict)  # field -> value
    list_separator: str = ";"

    @classmethod
    def parse(cls, maps: Sequence[str], sets: Sequence[str] = (), list_separator: str = ";") -> CsvMapping:
        """Build from ``column=field`` and ``field=value`` strings; ValueError names a bad one."""
        columns: dict[str, str] = {}
        for item in maps:
            column, sep, name = item.rpartition("=")
            if not sep or not column or name not in CSV_FIELDS:
                raise ValueError(
                    f"--map {item!r}: use COLUMN=FIELD with FIELD one of {', '.join(CSV_FIELDS)}"
                )
            columns[name] = column
        constants: dict[str, str] = {}
        for item in sets:
            name, sep, value = item.partition("=")
            if not sep or name not in CSV_FIELDS:
                raise ValueError(f"--set {item!r}: use FIELD=VALUE, FIELD one of {', '.join(CSV_FIELDS)}")
            constants[name] = value
        return cls(columns, constants, list_separator)

    def record(self, row: dict[str, str]) -> dict[str, Any]:
        """The nested import record for one CSV row (unmapped fields use a same-named column)."""
        out: dict[str, Any] = {}
        for name, path in CSV_FIELDS.items():
            value = row.get(self.columns.get(name, name))
            if value is None or value == "":
                value = self.constants.get(name)
            if value is None or value == "":
                continue
            target = out
            for part in path[:-1]:
                target = target.setdefault(part, {})
            if name in _LISTS:
                target[path[-1]] = [v.strip() for v in value.split(self.list_separator) if v.strip()]
            elif name in {"sentiment", "urgency"}:
                target[path[-1]] = value.strip().lower()
            else:
                target[path[-1]] = value
        if "external_id" not in out and out.get("url"):
            # Many tools export no id of their own; the URL identifies a post just as well.
            out["external_id"] = out["url"]
        return out


def parse_csv(stream: IO[bytes], mapping: CsvMapping) -> Iterator[tuple[int, Parsed]]:
    """(last physical line read, item or error) per CSV record; the header is the first row."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")
    reader = csv.DictReader(text)
    header = reader.fieldnames or []  # reads the header row now, so line numbers start after it
    missing = [c for c in mapping.columns.values() if c not in header]
    if missing:
        yield 1, LineError(1, f"header has no column {', '.join(repr(c) for c in missing)}")
        return
    start = reader.line_num + 1
    try:
        for row in reader:
            if None in row:
                yield reader.line_num, LineError(start, "more values than header columns")
            else:
                yield reader.line_num, parse_record(start, mapping.record(row))
            start = reader.line_num + 1
    except csv.Error as exc:
        yield reader.line_num, LineError(start, f"invalid CSV: {exc}")


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
    batch: list[ImportItem] = []
    for item in items:
        if isinstance(item, LineError):
            report.errors.append(item)
            continue
        batch.append(item)
        if len(batch) >= batch_size:
            _store(sessions, batch, classify, mark, now(), report)
            batch = []
    if batch:
        _store(sessions, batch, classify, mark, now(), report)
    return report


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
        stored = mention_repo.store_mentions_bulk(session, mentions, classes, now=now)
    report.stored += len(stored)
    report.duplicates += len(batch) - len(stored)
