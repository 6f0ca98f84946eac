"""Parsing import files: every line becomes a valid item or a reason, without storing anything."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest

from storage.import_csv import CsvMapping, parse_csv
from storage.importer import ImportItem, LineError, parse_json_lines


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
        ({**BASE, "brands": ["ok", ""]}, "brands.1: String should have at least 1 character"),
        ({**BASE, "brands": ["b" * 129]}, "brands.0: String should have at most 128 characters"),
        ({**BASE, "author": {"handle": "@a", "followers": -1}}, "author.followers"),
        ({**BASE, "colour": "blue"}, "colour: Extra inputs are not permitted"),
        ({k: v for k, v in BASE.items() if k != "text"}, "text: Field required"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b'"a string"', "expected a JSON object, got str"),
        (b"{not json", "invalid JSON: Expecting property name enclosed in double quotes at column 2"),
        ({**BASE, "published_at": "yesterday"}, "published_at: Input should be a valid datetime"),
        ({**BASE, "classification": {"sentiment": "angry"}}, "classification.sentiment: Input should be"),
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


def test_lines_with_the_same_classification_share_it_and_keep_their_values() -> None:
    given = {"sentiment": "negative", "urgency": "high", "categories": ["billing", "billing", "outage"]}
    first, second, other = _json(
        {**BASE, "classification": given, "language": "de"},
        {**BASE, "external_id": "2", "classification": given, "language": "de"},
        {**BASE, "external_id": "3", "classification": {**given, "urgency": "low"}, "language": "de"},
    )
    assert isinstance(first, ImportItem) and isinstance(second, ImportItem) and isinstance(other, ImportItem)
    assert first.classification is not None and other.classification is not None
    assert first.classification is second.classification  # frozen, so one object serves both lines
    assert first.classification.categories == ("billing", "outage")
    assert (str(first.classification.urgency), first.classification.urgency_score) == ("high", 0.7)
    assert first.classification.language == "de"
    assert first.classification.sentiment_scores == {"negative": 1.0}
    assert (str(other.classification.urgency), other.classification.urgency_score) == ("low", 0.1)
