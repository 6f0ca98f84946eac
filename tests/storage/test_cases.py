"""The case repository: first response recorded once, notes, and the migration's backfill."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from alerting import lifecycle
from storage import cases
from storage.case_tables import CaseRow
from storage.db import create_db_engine, upgrade
from tests.web.factories import NOW, alert


def test_first_response_counts_once(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        alert_id = alert(session, title="late reply")
    with sessions.begin() as session:
        assert cases.record_first_response(
            session, alert_id=alert_id, at=NOW + timedelta(minutes=5), by="ann"
        )
        assert not cases.record_first_response(
            session, alert_id=alert_id, at=NOW + timedelta(hours=1), by="bob"
        )
    with sessions() as session:
        row = session.get_one(CaseRow, alert_id)
        assert (row.first_response_at, row.first_response_by, row.first_response_via) == (
            NOW + timedelta(minutes=5),
            "ann",
            "reply",
        )
        # Answered: the case now waits on the customer.
        assert row.status == cases.WAITING


def test_record_response_stops_paging(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        alert_id = alert(session, title="answered")
    with sessions.begin() as session:
        assert lifecycle.record_response(session, alert_id=alert_id, at=NOW, by="ann", via="elsewhere")
    with sessions() as session:
        row = session.get_one(CaseRow, alert_id)
        assert row.first_response_via == "elsewhere" and row.status == cases.WAITING
        [(status, by)] = session.execute(
            text("SELECT status, acknowledged_by FROM alerts WHERE id = :id"), {"id": alert_id}
        ).all()
        assert (status, by) == ("acknowledged", "ann")


def test_resolving_the_alert_resolves_the_case_and_reopening_is_refused(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        alert_id = alert(session, title="done")
        lifecycle.resolve(session, alert_id=alert_id, actor="ann", now=NOW)
    with sessions() as session:
        assert session.get_one(CaseRow, alert_id).status == cases.RESOLVED
    with sessions.begin() as session:
        try:
            lifecycle.set_case_status(session, alert_id=alert_id, status=cases.OPEN, actor="ann", now=NOW)
        except lifecycle.LifecycleError as exc:
            assert "cannot be reopened" in str(exc)
        else:
            raise AssertionError("a resolved case was reopened")


def test_notes_are_kept_in_order(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        alert_id = alert(session, title="noted")
        cases.add_note(session, alert_id=alert_id, author="ann", text="VIP customer", now=NOW)
        cases.add_note(session, alert_id=alert_id, author="bob", text="called them", now=NOW)
    with sessions() as session:
        assert [(n.author, n.text) for n in cases.notes(session, alert_id)] == [
            ("ann", "VIP customer"),
            ("bob", "called them"),
        ]


def test_migration_opens_a_case_for_every_stored_alert(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0006")
    with engine.begin() as connection:
        for alert_id, status in [(1, "firing"), (2, "acknowledged"), (3, "resolved")]:
            connection.execute(
                text(
                    "INSERT INTO alerts (id, kind, title, summary, urgency, status, team, route_name,"
                    " route_snapshot, reason, group_key, count, details, created_at, updated_at, resolved_at)"
                    " VALUES (:id, 'mention', 't', 's', 'high', :status, 'support', 'r', '{}', 'why',"
                    " :key, 1, '{}', :at, :at, :resolved)"
                ),
                {
                    "id": alert_id,
                    "status": status,
                    "key": f"k{alert_id}",
                    "at": NOW.isoformat(),
                    "resolved": NOW.isoformat() if status == "resolved" else None,
                },
            )
    upgrade(engine)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT alert_id, team, status FROM cases ORDER BY alert_id")).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [
        (1, "support", "open"),
        (2, "support", "in_progress"),
        (3, "support", "resolved"),
    ]
