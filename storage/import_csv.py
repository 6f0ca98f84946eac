"""CSV imports: a documented column mapping onto the fields of a JSON lines import record.

A team brings the export of the tool it used before: ``--map COLUMN=FIELD`` names the column
that feeds a field, ``--set FIELD=VALUE`` gives a constant for a field the file lacks, and
unmapped fields read a same-named column. Each row becomes a record for
``storage.importer.parse_record``, so CSV lines are validated exactly as JSON lines are.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from storage.importer import LineError, Parsed, parse_record

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
