"""Routes and silences are evaluated before the store transaction, never while holding the write lock."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from alerting import silences
from collectors.base import FetchResult
from scheduler.pipeline import run_source
from storage.db import create_db_engine, session_factory, upgrade
from storage.models import AlertRow
from tests.factories import T0, Clock, ScriptedCollector, components, mention


def test_silence_matching_runs_while_others_can_still_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "locks.db"
    engine = create_db_engine(f"sqlite:///{db}")
    upgrade(engine)
    sessions = session_factory(engine)
    clock = Clock(T0)
    with sessions.begin() as session:
        silences.create_silence(
            session,
            matchers={"text": "=~ (?i)refund"},
            ends_at=T0 + timedelta(hours=1),
            author="ann",
            comment="refund storm handled",
            now=T0,
        )
    writable: list[bool] = []
    original = silences.matching_silence

    def probing(session: Any, labels: Any, *, now: Any, active: Any = None) -> Any:
        # Another writer takes the write lock (BEGIN IMMEDIATE) at once, or it is held by us.
        other = sqlite3.connect(db, timeout=0.2)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            writable.append(True)
        except sqlite3.OperationalError:
            writable.append(False)
        finally:
            other.close()
        return original(session, labels, now=now, active=active)

    monkeypatch.setattr(silences, "matching_silence", probing)
    urgent = mention("r1", "lumora charged me twice, I want a refund now, this is a scam", at=T0)
    loud = mention("r2", "lumora is down, the whole site is broken and nothing loads", at=T0)
    collector = ScriptedCollector("fake", [FetchResult(mentions=[urgent, loud], cursor={"n": 1})])
    comps = components(sessions, {"fake": collector}, clock=clock)
    report = run_source(comps, "fake")
    assert report.ok, report.error
    assert writable and all(writable), writable
    with sessions() as session:
        alerts = {a.mention_id: a for a in session.query(AlertRow)}
    assert len(alerts) == report.alerts >= 1
    silenced = [a for a in alerts.values() if (a.details or {}).get("silenced_by")]
    assert len(silenced) == 1  # the refund one, matched before the transaction, still silenced
    engine.dispose()
