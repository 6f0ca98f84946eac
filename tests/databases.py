"""Database fixtures: every storage and pipeline test runs on SQLite and on PostgreSQL.

PostgreSQL tests use a private database created for the test session on the
local server (``EARSHOT_TEST_POSTGRES_URL``, default the local trust-auth
server), so they never touch data that is already there.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from storage.db import create_db_engine, session_factory, upgrade
from storage.models import Base

POSTGRES_ADMIN_URL = os.environ.get(
    "EARSHOT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _postgres_database() -> Iterator[str]:
    name = f"earshot_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        raise RuntimeError(
            f"PostgreSQL tests need a server at {POSTGRES_ADMIN_URL} (.ci/run starts it): {exc}"
        ) from exc
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def _postgres_url() -> Iterator[str]:
    yield from _postgres_database()


@pytest.fixture(scope="session")
def _migrated() -> dict[str, Engine]:
    # One migrated PostgreSQL engine per test session; tests truncate instead of re-migrating.
    return {}


def _truncate(engine: Engine) -> None:
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            names = ", ".join(t.name for t in Base.metadata.sorted_tables)
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(table.delete())


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path, _migrated: dict[str, Engine]) -> Iterator[Engine]:
    """A migrated, empty database: SQLite in a temp file, or the session's PostgreSQL database."""
    if request.param == "sqlite":
        eng = create_db_engine(f"sqlite:///{tmp_path / 'earshot.db'}")
        upgrade(eng)
        yield eng
        eng.dispose()
        return
    if "postgresql" not in _migrated:
        url = request.getfixturevalue("_postgres_url")
        eng = create_db_engine(url)
        upgrade(eng)
        _migrated["postgresql"] = eng
    eng = _migrated["postgresql"]
    _truncate(eng)
    yield eng


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    """A session factory bound to the test database."""
    return session_factory(engine)
