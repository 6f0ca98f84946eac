"""The composition root schedules reply reconciliation exactly where reply accounts are configured."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from earshot.compose import build
from earshot.settings import Settings
from storage.db import create_db_engine, upgrade
from tests.collectors.repliers.fakes import FakeX


def _settings(tmp_path: Path, replies: dict[str, Any]) -> Settings:
    url = f"sqlite:///{tmp_path / 'earshot.db'}"
    engine = create_db_engine(url)
    upgrade(engine)
    engine.dispose()
    return Settings.model_validate(
        {
            "database": {"url": url},
            "classifier": {"kind": "baseline"},
            "brands": [{"name": "Acme", "queries": ["acme"]}],
            "teams": [{"name": "support"}],
            "routes": [{"name": "default", "default": True, "team": "support"}],
            "replies": replies,
        }
    )


@pytest.mark.parametrize(("accounts", "scheduled"), [(False, False), (True, True)])
def test_reply_reconciliation_runs_only_with_reply_accounts(
    tmp_path: Path, accounts: bool, scheduled: bool
) -> None:
    replies = {"accounts": {"x": FakeX().account("http://127.0.0.1:9")}} if accounts else {}
    app = build(_settings(tmp_path, replies))
    try:
        jobs = {job.name: job for job in app.components.periodic}
        assert ("reply reconciliation" in jobs) is scheduled
        if scheduled:
            # Nothing is half-sent, so a run settles nothing and asks no source anything.
            assert jobs["reply reconciliation"].run() == []
    finally:
        app.close()


def test_the_web_app_and_the_reconciliation_job_share_one_reply_desk(tmp_path: Path) -> None:
    from earshot.webapp import web_app

    app = build(_settings(tmp_path, {"accounts": {"x": FakeX().account("http://127.0.0.1:9")}}))
    try:
        assert app.replies is not None
        assert web_app(app).state.replies is app.replies
    finally:
        app.close()
