"""The bulk writers behind ``storage.bulk_store.store_mentions_bulk``: one per backend, raw DBAPI.

Imports store many thousands of mentions per transaction; these skip the ORM's and SQLAlchemy's
per-row work: callers hand over plain tuples in the column orders below, already converted by the
writer's ``time`` and ``json`` (COPY into temporary tables on PostgreSQL, executemany on SQLite).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from domain import Mention
from storage.models import MentionRow
from storage.sanitise import clean_mention

CHUNK = 500
# Column orders of the tuples the writers take.
AUTHOR_COLUMNS = ("source_kind", "handle", "display_name", "followers", "url", "updated_at")
MENTION_COLUMNS = (
    "id", "source", "source_kind", "external_id", "url", "title", "text", "language", "author_id",
    "published_at", "collected_at", "likes", "shares", "replies", "views", "queries", "raw", "owned",
)  # fmt: skip
BRAND_COLUMNS = ("mention_id", "brand")
CLASSIFICATION_COLUMNS = (
    "mention_id", "sentiment", "sentiment_scores", "urgency", "urgency_score", "categories",
    "category_scores", "language", "model_version", "model_sha256", "signals", "reduced_confidence",
    "classified_at",
)  # fmt: skip
_MEMO_LIMIT = 4096
# PostgreSQL types of the bulk columns that are not text, varchar or json (those go as text).
_BINARY_TYPES = {
    "id": "int8", "author_id": "int8", "mention_id": "int8", "followers": "int8", "views": "int8",
    "likes": "int4", "shares": "int4", "replies": "int4", "urgency_score": "float8",
    "owned": "bool", "reduced_confidence": "bool",
    "published_at": "timestamptz", "collected_at": "timestamptz", "updated_at": "timestamptz",
    "classified_at": "timestamptz",
}  # fmt: skip
_SCALARS = frozenset({str, int, float, bool, type(None)})


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    """``items`` in slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


class JsonText:
    """JSON text of column values, remembering the ones seen: import rows repeat a handful of them."""

    def __init__(self) -> None:
        self._memo: dict[Any, str] = {}

    def __call__(self, value: Any) -> str:
        """``value`` as the JSON text SQLAlchemy's JSON type would bind."""
        if not value:
            if isinstance(value, dict):
                return "{}"
            if isinstance(value, list | tuple):  # a mention's queries are a tuple
                return "[]"
            return json.dumps(value)
        if isinstance(value, dict):
            items: tuple[Any, ...] = tuple(value.items())
            types = (*map(type, value), *map(type, value.values()))
        elif isinstance(value, list | tuple):
            items = tuple(value)
            types = tuple(map(type, items))
        else:
            return json.dumps(value)
        # Flat containers of scalars only, keyed with their types too: 1, 1.0 and True are equal
        # keys in a dict but encode differently.
        if not _SCALARS.issuperset(types):
            return json.dumps(value)
        key = (type(value) is dict, items, types)
        text = self._memo.get(key)
        if text is None:
            text = self._memo[key] = json.dumps(value)
            if len(self._memo) > _MEMO_LIMIT:
                self._memo.clear()
        return text


def sqlite_time(value: datetime) -> str:
    """The text SQLAlchemy's UTC DateTime stores on SQLite for ``value``."""
    if value.tzinfo is UTC:  # the common case, and the cheapest: drop the "+00:00"
        return value.isoformat(" ", "microseconds")[:-6]
    if value.tzinfo is None:
        raise ValueError("naive datetime; use timezone-aware UTC")
    if value.utcoffset():
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime; use timezone-aware UTC")
    return value


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")  # what clean_line removes
_TEXT_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # what clean_text removes


def _json_clean(value: Any) -> bool:
    if isinstance(value, str):
        return _TEXT_CONTROL.search(value) is None
    if isinstance(value, dict):
        return all(_json_clean(k) and _json_clean(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(_json_clean(v) for v in value)
    return True


def cleaned(m: Mention) -> Mention:
    """The mention with control characters removed, copied only when it has any."""
    # clean_mention copies every mention; almost none need it, and a regex scan is far cheaper.
    a = m.author
    fields = [m.source, m.external_id, m.url or "", m.language or "", m.source_kind, a.handle]
    line = " ".join([*fields, a.display_name, a.url or "", *m.brands, *m.queries])
    text = m.text if m.title is None else f"{m.title} {m.text}"
    if _CONTROL.search(line) or _TEXT_CONTROL.search(text) or not _json_clean(m.raw):
        return clean_mention(m)
    return m


def _marks(columns: Sequence[str], style: str) -> str:
    return ", ".join(style for _ in columns)


class _SqliteWriter:
    dialect = "sqlite"

    def __init__(self, session: Session) -> None:
        self.session = session
        self.raw: Any = session.connection().connection.driver_connection
        self.time = sqlite_time
        self.json = JsonText()

    def _many(self, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
        cursor = self.raw.cursor()
        try:
            cursor.executemany(sql, rows)
        finally:
            cursor.close()

    def upsert_authors(self, rows: Sequence[tuple[Any, ...]]) -> dict[tuple[str, str], int]:
        """Insert or refresh authors (AUTHOR_COLUMNS); (source kind, handle) -> id."""
        self._many(
            f"INSERT INTO authors ({', '.join(AUTHOR_COLUMNS)}) VALUES ({_marks(AUTHOR_COLUMNS, '?')}) "
            "ON CONFLICT (source_kind, handle) DO UPDATE SET display_name = excluded.display_name, "
            "followers = excluded.followers, updated_at = excluded.updated_at",
            rows,
        )
        ids: dict[tuple[str, str], int] = {}
        by_kind: dict[str, list[str]] = {}
        for row in rows:
            by_kind.setdefault(row[0], []).append(row[1])
        cursor = self.raw.cursor()
        try:
            for kind, handles in by_kind.items():
                for chunk in chunks(handles):
                    # Raw SQL: SQLAlchemy rendering a 500-item IN list cost more than running it.
                    cursor.execute(
                        "SELECT id, handle FROM authors WHERE source_kind = ? "
                        f"AND handle IN ({_marks(chunk, '?')})",
                        (kind, *chunk),
                    )
                    ids.update({(kind, handle): row_id for row_id, handle in cursor.fetchall()})
        finally:
            cursor.close()
        return ids

    def new_ids(self, n: int) -> list[int]:
        """``n`` unused mention ids, ascending."""
        # The write lock is held (see store_mentions_bulk), so no other writer takes these ids.
        top = int(self.session.scalar(select(func.coalesce(func.max(MentionRow.id), 0))) or 0)
        return list(range(top + 1, top + 1 + n))

    def insert_mentions(self, rows: Sequence[tuple[Any, ...]]) -> set[int]:
        """Insert mentions (MENTION_COLUMNS, ascending new ids) not stored yet; the ids inserted."""
        if not rows:
            return set()
        # The database skips keys already stored (the unique index checks them anyway); the rows
        # that went in are then exactly those in this call's fresh id range.
        self._many(
            f"INSERT INTO mentions ({', '.join(MENTION_COLUMNS)}) VALUES ({_marks(MENTION_COLUMNS, '?')}) "
            "ON CONFLICT (source, external_id) DO NOTHING",
            rows,
        )
        cursor = self.raw.cursor()
        try:
            cursor.execute("SELECT id FROM mentions WHERE id BETWEEN ? AND ?", (rows[0][0], rows[-1][0]))
            return {row_id for (row_id,) in cursor.fetchall()}
        finally:
            cursor.close()

    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        """Plain INSERT of ``rows`` (tuples in ``columns`` order) into ``table``."""
        if rows:
            self._many(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({_marks(columns, '?')})", rows)


class _PostgresWriter:
    dialect = "postgresql"

    def __init__(self, session: Session) -> None:
        self.session = session
        self.raw: Any = session.connection().connection.driver_connection
        self.time = _aware  # psycopg adapts aware datetimes itself
        self.json = JsonText()

    def _copy(self, name: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]) -> None:
        # Binary COPY: the server parses no text (2-3x less work than the text format). Strings
        # and JSON go as text, which is also the binary form of varchar and json.
        with (
            self.raw.cursor() as cursor,
            cursor.copy(f"COPY {name} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.set_types([_BINARY_TYPES.get(column, "text") for column in columns])
            for row in rows:
                copy.write_row(row)

    def _staging(self, table: str) -> str:
        # A temporary copy of the table: COPY has no ON CONFLICT, so rows land here first.
        name = f"earshot_bulk_{table}"
        with self.raw.cursor() as cursor:
            cursor.execute(
                f"CREATE TEMPORARY TABLE IF NOT EXISTS {name} ON COMMIT DELETE ROWS "
                f"AS SELECT * FROM {table} WITH NO DATA"
            )
            cursor.execute(f"TRUNCATE {name}")
        return name

    def upsert_authors(self, rows: Sequence[tuple[Any, ...]]) -> dict[tuple[str, str], int]:
        """Insert or refresh authors (AUTHOR_COLUMNS); (source kind, handle) -> id."""
        staging = self._staging("authors")
        self._copy(staging, AUTHOR_COLUMNS, rows)
        cols = ", ".join(AUTHOR_COLUMNS)
        with self.raw.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO authors ({cols}) SELECT {cols} FROM {staging} ORDER BY source_kind, handle "
                "ON CONFLICT (source_kind, handle) DO UPDATE SET display_name = excluded.display_name, "
                "followers = excluded.followers, updated_at = excluded.updated_at "
                "RETURNING id, source_kind, handle"
            )
            return {(kind, handle): row_id for row_id, kind, handle in cursor.fetchall()}

    def new_ids(self, n: int) -> list[int]:
        """``n`` ids from the mentions sequence, ascending."""
        with self.raw.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence('mentions', 'id')) FROM generate_series(1, %s)", (n,)
            )
            return sorted(row[0] for row in cursor.fetchall())

    def insert_mentions(self, rows: Sequence[tuple[Any, ...]]) -> set[int]:
        """Insert mentions (MENTION_COLUMNS) not stored yet; the ids inserted."""
        known = self._stored_keys(rows)
        fresh = [row for row in rows if (row[1], row[3]) not in known]
        if not fresh:
            return set()
        try:
            # Straight into the table, in a savepoint: cheaper than staging, and a key that a
            # concurrent writer stored since the check above only undoes this COPY.
            with self.raw.transaction():
                self._copy("mentions", MENTION_COLUMNS, fresh)
            return {row[0] for row in fresh}
        except psycopg.errors.UniqueViolation:
            return self._insert_skipping_stored(fresh)

    def _stored_keys(self, rows: Sequence[tuple[Any, ...]]) -> set[tuple[str, str]]:
        by_source: dict[str, list[str]] = {}
        for row in rows:
            by_source.setdefault(row[1], []).append(row[3])
        found: set[tuple[str, str]] = set()
        with self.raw.cursor() as cursor:
            for source, external_ids in by_source.items():
                # One unique-index probe per key: `external_id = ANY(...)` planned as a scan of the
                # source's rows while the growing table had no statistics (storage.mentions).
                cursor.execute(
                    "SELECT wanted.id FROM unnest(%s::text[]) AS wanted(id) JOIN LATERAL "
                    "(SELECT 1 FROM mentions WHERE source = %s AND external_id = wanted.id LIMIT 1) "
                    "AS hit ON true",
                    (external_ids, source),
                )
                found.update((source, external_id) for (external_id,) in cursor.fetchall())
        return found

    def _insert_skipping_stored(self, rows: Sequence[tuple[Any, ...]]) -> set[int]:
        staging = self._staging("mentions")
        self._copy(staging, MENTION_COLUMNS, rows)
        cols = ", ".join(MENTION_COLUMNS)
        with self.raw.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO mentions ({cols}) SELECT {cols} FROM {staging} ORDER BY id "
                "ON CONFLICT (source, external_id) DO NOTHING RETURNING id"
            )
            return {row[0] for row in cursor.fetchall()}

    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        """COPY ``rows`` (tuples in ``columns`` order) into ``table``."""
        if rows:
            self._copy(table, columns, rows)


_COUNT_SQL = (
    "INSERT INTO rollup_counts (hour, brand, sentiment, mentions, stories) {values} "
    "ON CONFLICT (hour, brand, sentiment) DO UPDATE SET "
    "mentions = rollup_counts.mentions + excluded.mentions, "
    "stories = rollup_counts.stories + excluded.stories"
)
_ARRAYS = "%s::int[], %s::text[], %s::text[], %s::bigint[]"
_CATEGORY_SQL = (
    "INSERT INTO rollup_categories (hour, brand, category, mentions) {values} "
    "ON CONFLICT (hour, brand, category) DO UPDATE SET "
    "mentions = rollup_categories.mentions + excluded.mentions"
)


def upsert_rollups(
    session: Session,
    counts: Sequence[tuple[int, str, str, int, int]],
    categories: Sequence[tuple[int, str, str, int]],
) -> None:
    """Add (hour, brand, sentiment, mentions, stories) and (hour, brand, category, mentions) deltas.

    One statement per table on PostgreSQL (arrays through unnest, instead of a round trip per
    row), one raw executemany on SQLite. Rows are written in the order given: callers sort them so
    concurrent writers lock rows in the same order.
    """
    raw: Any = session.connection().connection.driver_connection
    if session.get_bind().dialect.name == "postgresql":
        with raw.cursor() as cursor:
            if counts:
                cursor.execute(
                    _COUNT_SQL.format(values=f"SELECT * FROM unnest({_ARRAYS}, %s::bigint[])"),
                    [list(column) for column in zip(*counts, strict=True)],
                )
            if categories:
                cursor.execute(
                    _CATEGORY_SQL.format(
                        values="SELECT * FROM unnest(%s::int[], %s::text[], %s::text[], %s::bigint[])"
                    ),
                    [list(column) for column in zip(*categories, strict=True)],
                )
        return
    cursor = raw.cursor()
    try:
        if counts:
            cursor.executemany(_COUNT_SQL.format(values="VALUES (?, ?, ?, ?, ?)"), counts)
        if categories:
            cursor.executemany(_CATEGORY_SQL.format(values="VALUES (?, ?, ?, ?)"), categories)
    finally:
        cursor.close()


Writer = _SqliteWriter | _PostgresWriter


def writer(session: Session) -> Writer:
    """The bulk writer for the session's database."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return _PostgresWriter(session)
    if dialect == "sqlite":
        return _SqliteWriter(session)
    raise NotImplementedError(f"bulk storing is not implemented for {dialect}")
