"""Ids are 64-bit everywhere: tables grow past 2^31 and any id the API accepts can be looked up.

Runs on SQLite and PostgreSQL. On PostgreSQL the id columns were 32-bit before migration 0005, so
storing a row numbered past 2^31 failed and the API answered 422 for ids it should call unknown.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, inspect, text
from sqlalchemy.orm import Session, sessionmaker

from storage.models import AlertRow, Base, MentionRow
from tests.web import conftest as web_fixtures
from tests.web.factories import NOW, alert, mention, store

PAST_INT32 = 2**31 + 7
ALERTS_FROM = 2**40
INT64_MAX = 2**63 - 1


@pytest.fixture
def client(sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    """The web tests' in-process app over the parametrised database, signed in as an admin."""
    app = web_fixtures.build_app(sessions, brands=["Acme"])
    with web_fixtures.signed_in(app, sessions, role="admin", name="admin") as test_client:
        yield test_client


def _number_after(session: Session, engine: Engine, table: str, value: int) -> None:
    # SQLite numbers a new row max(rowid) + 1, so the row just stored at ``value`` is enough there;
    # PostgreSQL takes the next value of the column's sequence.
    if engine.dialect.name == "postgresql":
        session.execute(text("SELECT setval(pg_get_serial_sequence(:t, 'id'), :v)"), {"t": table, "v": value})


def _rows_past_int32(sessions: sessionmaker[Session], engine: Engine) -> tuple[int, int]:
    with sessions.begin() as session:
        session.add(
            MentionRow(
                id=PAST_INT32,
                source="filler",
                source_kind="filler",
                external_id="filler",
                text="numbered past 2^31",
                published_at=NOW,
                collected_at=NOW,
            )
        )
        session.add(
            AlertRow(
                id=ALERTS_FROM,
                kind="mention",
                title="filler",
                summary="",
                urgency="low",
                status="resolved",
                team="support",
                route_name="default",
                route_snapshot={},
                reason="",
                group_key="filler",
                created_at=NOW,
                updated_at=NOW,
            )
        )
        _number_after(session, engine, "mentions", PAST_INT32)
        _number_after(session, engine, "alerts", ALERTS_FROM)
    (mention_id,) = store(sessions, [(mention("past-int32", text="Acme is down again"), None)])
    with sessions.begin() as session:
        alert_id = alert(session, mention_id=mention_id)
    return mention_id, alert_id


def test_rows_numbered_past_2_31_are_stored_and_fetched(
    sessions: sessionmaker[Session], engine: Engine, client: TestClient
) -> None:
    mention_id, alert_id = _rows_past_int32(sessions, engine)
    # The ordinary write path numbers on from there: the tables keep growing past 2^31.
    assert mention_id == PAST_INT32 + 1
    assert alert_id == ALERTS_FROM + 1
    got = client.get(f"/api/alerts/{alert_id}")
    assert got.status_code == 200, got.text
    assert got.json()["id"] == alert_id
    got = client.get(f"/api/mentions/{mention_id}")
    assert got.status_code == 200, got.text
    assert got.json()["text"] == "Acme is down again"


def test_unknown_ids_up_to_int64_are_404_and_beyond_are_422(engine: Engine, client: TestClient) -> None:
    for unknown in (2**31, 2**32 + 1, INT64_MAX):
        for path in (f"/api/alerts/{unknown}", f"/api/mentions/{unknown}", f"/alerts/{unknown}"):
            assert client.get(path).status_code == 404, path
        for path in (
            f"/api/alerts/{unknown}/ack",
            f"/api/silences/{unknown}/expire",
            f"/api/deliveries/{unknown}/resend",
        ):
            assert client.post(path, json={}).status_code == 404, path
    for path in (f"/api/alerts/{INT64_MAX + 1}", f"/api/mentions/{INT64_MAX + 1}"):
        assert client.get(path).status_code == 422, path


def _id_columns(engine: Engine) -> list[tuple[str, str, str]]:
    """(table, column, database type) of every id column: primary keys and ``*_id`` integer columns."""
    inspector = inspect(engine)
    found = []
    for table in Base.metadata.sorted_tables:
        for column in inspector.get_columns(table.name):
            kind = str(column["type"]).upper()
            named_id = column["name"] == "id" or column["name"].endswith("_id")
            if named_id and "INT" in kind:
                found.append((table.name, column["name"], kind))
    return found


def test_every_id_column_is_64_bit(engine: Engine) -> None:
    columns = _id_columns(engine)
    assert {("mentions", "id"), ("alerts", "id"), ("deliveries", "alert_id")} <= {c[:2] for c in columns}
    if engine.dialect.name == "postgresql":
        narrow = [f"{t}.{c} is {k}" for t, c, k in columns if k != "BIGINT"]
        assert not narrow, ", ".join(narrow)
        with engine.connect() as connection:
            sequences = connection.execute(
                text("SELECT sequencename, data_type::text FROM pg_sequences WHERE schemaname = 'public'")
            ).all()
        assert sequences
        assert [name for name, kind in sequences if kind != "bigint"] == [], "int4 sequences"
    else:
        # SQLite: INTEGER is 64-bit, and an INTEGER PRIMARY KEY is the rowid that numbers new rows.
        assert {k for _, _, k in columns} == {"INTEGER"}
