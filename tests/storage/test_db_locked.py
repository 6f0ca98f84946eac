"""SQLite write contention: connections wait for a writer, and a job that still finds the database
locked runs again once the lock is released instead of failing."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from storage.db import (
    BUSY_TIMEOUT_SECONDS,
    create_db_engine,
    in_write_transaction,
    is_database_locked,
    retry_locked,
    session_factory,
    upgrade,
)
from storage.models import AlertRow
from tests.web.factories import alert


@pytest.fixture
def db_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "earshot.db"
    engine = create_db_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    yield path


def _impatient(path: Path) -> Engine:
    # A busy timeout far shorter than the lock is held, so the first attempt surely fails.
    return create_db_engine(f"sqlite:///{path}", busy_timeout_seconds=0.05)


def _hold_write_lock(path: Path) -> sqlite3.Connection:
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # the write lock, as a long store transaction holds it
    holder.execute("UPDATE alerts SET title = title")
    return holder


def _alerts(engine: Engine) -> int:
    with session_factory(engine)() as session:
        return int(session.scalar(select(func.count()).select_from(AlertRow)) or 0)


def test_sqlite_connections_have_a_busy_timeout(db_file: Path) -> None:
    engine = create_db_engine(f"sqlite:///{db_file}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == int(BUSY_TIMEOUT_SECONDS * 1000)
    engine.dispose()


def test_a_job_blocked_by_another_writer_succeeds_once_the_lock_is_released(db_file: Path) -> None:
    engine = _impatient(db_file)
    holder = _hold_write_lock(db_file)
    pauses: list[float] = []

    def pause(seconds: float) -> None:
        # The other connection finishes its transaction while the job waits to try again.
        pauses.append(seconds)
        if holder.in_transaction:
            holder.execute("COMMIT")

    def job(session: Session) -> int:
        return alert(session, title="raised while another writer held the lock")

    try:
        alert_id = in_write_transaction(session_factory(engine), job, what="spike check", sleep=pause)
    finally:
        holder.close()
    assert pauses == [1.0]  # one locked attempt, then success
    assert alert_id >= 1 and _alerts(engine) == 1
    engine.dispose()


def test_without_a_retry_the_same_job_fails_with_database_locked(db_file: Path) -> None:
    engine = _impatient(db_file)
    holder = _hold_write_lock(db_file)
    try:
        with pytest.raises(OperationalError) as info:
            in_write_transaction(session_factory(engine), lambda s: alert(s), attempts=1)
    finally:
        holder.close()
    assert is_database_locked(info.value)
    assert _alerts(engine) == 0  # rolled back: nothing half-written
    engine.dispose()


def test_retries_are_bounded_and_only_for_a_locked_database(db_file: Path) -> None:
    engine = _impatient(db_file)
    holder = _hold_write_lock(db_file)
    pauses: list[float] = []
    try:
        with pytest.raises(OperationalError):
            in_write_transaction(session_factory(engine), lambda s: alert(s), attempts=3, sleep=pauses.append)
    finally:
        holder.close()
    assert pauses == [1.0, 2.0]  # three attempts, backing off
    calls: list[int] = []

    def broken() -> None:
        calls.append(1)
        with engine.connect() as connection:
            connection.execute(text("SELECT * FROM no_such_table"))

    with pytest.raises(OperationalError) as info:
        retry_locked(broken, sleep=pauses.append)
    assert not is_database_locked(info.value)
    assert calls == [1]  # another error is not retried
    engine.dispose()


def test_the_services_periodic_jobs_wait_out_a_locked_database(
    db_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The jobs `earshot run` schedules (as the composition root builds them) retry when locked."""
    import storage.db
    from classifiers.baseline import BaselineClassifier
    from earshot.compose import build
    from earshot.settings import load_settings

    root = Path(__file__).resolve().parents[2]
    settings = load_settings(
        root / "earshot.example.yaml", env={"EARSHOT_DATABASE__URL": f"sqlite:///{db_file}"}
    )
    monkeypatch.setattr(storage.db, "BUSY_TIMEOUT_SECONDS", 0.05)
    app = build(settings, classifier=BaselineClassifier())
    holder = _hold_write_lock(db_file)
    pauses: list[float] = []

    def pause(seconds: float) -> None:
        pauses.append(seconds)
        if holder.in_transaction:
            holder.execute("COMMIT")

    monkeypatch.setattr(storage.db, "_sleep", pause)
    try:
        (health,) = [job for job in app.components.periodic if job.name == "source health"]
        health.run()  # records the check for each source: a write, so it needs the lock
    finally:
        holder.close()
        app.close()
    assert pauses == [1.0]
    checked = create_db_engine(f"sqlite:///{db_file}")
    with checked.connect() as connection:
        keys = connection.execute(text("SELECT key FROM alert_monitors")).scalars().all()
    checked.dispose()
    assert keys == ["health:demo"]
