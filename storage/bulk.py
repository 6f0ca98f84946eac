"""The bulk writers behind ``storage.mentions.store_mentions_bulk``: one per backend, raw DBAPI.

Imports store many thousands of mentions per transaction; these skip the ORM's per-row work
(COPY into temporary tables on PostgreSQL, executemany on SQLite).
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import JSON, func, select
from sqlalchemy.orm import Session

from domain import Mention
from storage.models import AuthorRow, MentionRow
from storage.sanitise import clean_mention

CHUNK = 500


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    """``items`` in slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _json_text(value: Any) -> str:
    # Most rows carry empty JSON ({} raw, [] queries): skip the encoder for those.
    if value == {}:
        return "{}"
    if value == []:
        return "[]"
    return json.dumps(value)


def _converters(table: Any, dialect: Any, names: Sequence[str]) -> list[tuple[int, Any]]:
    # What SQLAlchemy would bind, minus its per-row overhead: JSON as text, and on SQLite
    # datetimes as its UTC text form (PostgreSQL's driver adapts datetimes itself).
    out: list[tuple[int, Any]] = []
    for index, name in enumerate(names):
        column = table.c[name]
        if isinstance(column.type, JSON):
            out.append((index, _json_text))
        elif dialect.name == "sqlite":
            processor = column.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                out.append((index, processor))
    return out


def _column_values(
    table: Any, rows: Sequence[dict[str, Any]], dialect: Any
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The columns the rows give (others keep their defaults) and each row's bound values."""
    names = [c.name for c in table.columns if c.name in rows[0]]
    get = operator.itemgetter(*names)
    converters = _converters(table, dialect, names)
    out: list[tuple[Any, ...]] = []
    for row in rows:
        values = list(get(row))
        for index, convert in converters:
            if values[index] is not None:
                values[index] = convert(values[index])
        out.append(tuple(values))
    return names, out


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


class _SqliteWriter:
    dialect = "sqlite"

    def __init__(self, session: Session) -> None:
        self.session = session
        self.dialect_obj = session.get_bind().dialect
        self.raw: Any = session.connection().connection.driver_connection

    def _many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        cursor = self.raw.cursor()
        try:
            cursor.executemany(sql, rows)
        finally:
            cursor.close()

    def upsert_authors(self, rows: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
        cols, values = _column_values(AuthorRow.__table__, rows, self.dialect_obj)
        self._many(
            f"INSERT INTO authors ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
            "ON CONFLICT (source_kind, handle) DO UPDATE SET display_name = excluded.display_name, "
            "followers = excluded.followers, updated_at = excluded.updated_at",
            values,
        )
        ids: dict[tuple[str, str], int] = {}
        by_kind: dict[str, list[str]] = {}
        for row in rows:
            by_kind.setdefault(row["source_kind"], []).append(row["handle"])
        for kind, handles in by_kind.items():
            for chunk in chunks(handles):
                found = self.session.execute(
                    select(AuthorRow.id, AuthorRow.handle).where(
                        AuthorRow.source_kind == kind, AuthorRow.handle.in_(chunk)
                    )
                )
                ids.update({(kind, handle): row_id for row_id, handle in found})
        return ids

    def new_ids(self, n: int) -> list[int]:
        # The write lock is held (see store_mentions_bulk), so no other writer takes these ids.
        top = self.session.scalar(select(func.coalesce(func.max(MentionRow.id), 0)))
        return list(range(int(top or 0) + 1, int(top or 0) + 1 + n))

    def insert_mentions(self, rows: list[dict[str, Any]]) -> list[int]:
        self.insert_rows(MentionRow.__table__, rows)
        return [row["id"] for row in rows]

    def insert_rows(self, table: Any, rows: list[dict[str, Any]]) -> None:
        if rows:
            cols, values = _column_values(table, rows, self.dialect_obj)
            marks = ", ".join("?" * len(cols))
            self._many(f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({marks})", values)


class _PostgresWriter:
    dialect = "postgresql"

    def __init__(self, session: Session) -> None:
        self.session = session
        self.dialect_obj = session.get_bind().dialect
        self.raw: Any = session.connection().connection.driver_connection

    def _copy(self, table: Any, name: str, rows: list[dict[str, Any]]) -> list[str]:
        cols, values = _column_values(table, rows, self.dialect_obj)
        with self.raw.cursor() as cursor, cursor.copy(f"COPY {name} ({', '.join(cols)}) FROM STDIN") as copy:
            for row in values:
                copy.write_row(row)
        return cols

    def _staging(self, table: Any) -> str:
        # A temporary copy of the table: COPY has no ON CONFLICT, so rows land here first.
        name = f"earshot_bulk_{table.name}"
        with self.raw.cursor() as cursor:
            cursor.execute(
                f"CREATE TEMPORARY TABLE IF NOT EXISTS {name} ON COMMIT DELETE ROWS "
                f"AS SELECT * FROM {table.name} WITH NO DATA"
            )
            cursor.execute(f"TRUNCATE {name}")
        return name

    def upsert_authors(self, rows: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
        table = AuthorRow.__table__
        staging = self._staging(table)
        cols = ", ".join(self._copy(table, staging, rows))
        with self.raw.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO authors ({cols}) SELECT {cols} FROM {staging} ORDER BY source_kind, handle "
                "ON CONFLICT (source_kind, handle) DO UPDATE SET display_name = excluded.display_name, "
                "followers = excluded.followers, updated_at = excluded.updated_at "
                "RETURNING id, source_kind, handle"
            )
            return {(kind, handle): row_id for row_id, kind, handle in cursor.fetchall()}

    def new_ids(self, n: int) -> list[int]:
        with self.raw.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence('mentions', 'id')) FROM generate_series(1, %s)", (n,)
            )
            return [row[0] for row in cursor.fetchall()]

    def insert_mentions(self, rows: list[dict[str, Any]]) -> list[int]:
        table = MentionRow.__table__
        staging = self._staging(table)
        cols = ", ".join(self._copy(table, staging, rows))
        with self.raw.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO mentions ({cols}) SELECT {cols} FROM {staging} ORDER BY id "
                "ON CONFLICT (source, external_id) DO NOTHING RETURNING id"
            )
            return [row[0] for row in cursor.fetchall()]

    def insert_rows(self, table: Any, rows: list[dict[str, Any]]) -> None:
        if rows:
            self._copy(table, table.name, rows)


def writer(session: Session) -> _SqliteWriter | _PostgresWriter:
    """The bulk writer for the session's database."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return _PostgresWriter(session)
    if dialect == "sqlite":
        return _SqliteWriter(session)
    raise NotImplementedError(f"bulk storing is not implemented for {dialect}")
