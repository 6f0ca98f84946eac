"""Parsing import files: every line becomes a valid item or a reason, without storing anything."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest

from storage.importer import CsvMapping, ImportItem, LineError, parse_csv, parse_json_lines


def _json(*records: object) -> list[ImportItem | LineError]:
    data = b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in records)
    return [item for _, item in parse_json_lines(io.BytesIO(data))]


BASE = {
    "source": "old",
    "external_id": "1",
    "text": "lumora",
    "published_at": "2026-10-01T09:00:00",
    "author": {"handle": "@a"},
}


def test_naive_times_are_utc_and_offsets_are_converted() -> None:
    naive, offset = _json(BASE, {**BASE, "published_at": "2026-10-01T11:00:00+02:00"})
    assert isinstance(naive, ImportItem) and isinstance(offset, ImportItem)
    assert naive.mention.published_at == offset.mention.published_at == datetime(2026, 10, 1, 9, tzinfo=UTC)
    assert naive.mention.collected_at == naive.mention.published_at
    assert naive.classification is None and naive.mention.brands == ()


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({**BASE, "source": "s" * 129}, "source: String should have at most 128 characters"),
        ({**BASE, "brands": ["ok", ""]}, "brands: Value error, each brand must be 1 to 128 characters"),
        ({**BASE, "author": {"handle": "@a", "followers": -1}}, "author.followers"),
        ({**BASE, "colour": "blue"}, "colour: Extra inputs are not permitted"),
        ({k: v for k, v in BASE.items() if k != "text"}, "text: Field required"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b'"a string"', "expected a JSON object, got str"),
    ],
)
def test_bad_records_say_why(record: object, reason: str) -> None:
    (item,) = _json(record)
    assert isinstance(item, LineError) and item.line == 1
    assert reason in item.reason


def test_csv_defaults_to_same_named_columns_and_falls_back_to_the_url_as_id() -> None:
    data = (
        b"source,url,text,published_at,brands,author_handle,sentiment,urgency\n"
        b"old,https://x.example/p/1,hi lumora,2026-10-01T09:00:00Z,Lumora|Vantix,@a,POSITIVE,High\n"
    )
    ((line, item),) = list(parse_csv(io.BytesIO(data), CsvMapping(list_separator="|")))
    assert line == 2 and isinstance(item, ImportItem)
    assert item.mention.external_id == "https://x.example/p/1"
    assert item.mention.brands == ("Lumora", "Vantix")
    assert item.classification is not None
    assert (str(item.classification.sentiment), str(item.classification.urgency)) == ("positive", "high")


def test_csv_row_with_too_many_values_is_a_line_error() -> None:
    data = b"source,external_id,text,published_at,author_handle\nold,1,hi,2026-10-01,@a,extra\n"
    ((_, item),) = list(parse_csv(io.BytesIO(data), CsvMapping()))
    assert item == LineError(2, "more values than header columns")
