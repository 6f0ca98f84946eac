"""Engines, sessions and schema upgrades."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"
# How long a SQLite statement waits for another connection's write lock before giving up.
BUSY_TIMEOUT_SECONDS = 30.0
# A write transaction that still found the database locked is run again this many times in all,
# waiting 1, 2, 4... seconds in between: a big first batch can hold the lock for longer than the
# busy timeout, and the job that ran into it should wait its turn rather than fail.
LOCKED_ATTEMPTS = 5
LOCKED_FIRST_DELAY_SECONDS = 1.0

log = logging.getLogger(__name__)
T = TypeVar("T")
# The pause between attempts; looked up at each call, so tests can replace it.
_sleep: Callable[[float], None] = time.sleep


class DatabaseError(RuntimeError):
    """The database cannot be reached or is not usable; the message says why."""


def create_db_engine(url: str, *, echo: bool = False, busy_timeout_seconds: float | None = None) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a busy timeout."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseError(f"invalid database URL {url!r}: {exc}") from exc
    # hide_parameters: a database error shown in the CLI, a log or a page never carries row values.
    kwargs: dict[str, Any] = {"echo": echo, "future": True, "hide_parameters": True}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        # sqlite3's timeout is SQLite's busy_timeout: wait for a writer instead of failing at once.
        timeout = BUSY_TIMEOUT_SECONDS if busy_timeout_seconds is None else busy_timeout_seconds
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": timeout}
    elif parsed.get_backend_name() == "postgresql":
        kwargs["pool_pre_ping"] = True
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
    engine = create_engine(parsed, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the web process read while the pipeline writes.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def is_database_locked(exc: BaseException) -> bool:
    """True for SQLite's "database is locked" (another connection kept the write lock too long)."""
    if not isinstance(exc, OperationalError):
        return False
    message = str(exc.orig if exc.orig is not None else exc).lower()
    return "database is locked" in message or "database table is locked" in message


def retry_locked(
    work: Callable[[], T],
    *,
    what: str = "write",
    attempts: int = LOCKED_ATTEMPTS,
    first_delay: float = LOCKED_FIRST_DELAY_SECONDS,
    sleep: Callable[[float], None] | None = None,
) -> T:
    """Run ``work`` (one whole transaction), and again after a pause if SQLite says it is locked.

    Only the locked error is retried, and only because ``work`` rolled back entirely: it must open
    and commit its own transaction, so a second run starts afresh.
    """
    delay = first_delay
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except OperationalError as exc:
            if attempt >= attempts or not is_database_locked(exc):
                raise
            log.warning(
                "%s: database is locked (attempt %d of %d); trying again in %.0f s",
                what,
                attempt,
                attempts,
                delay,
            )
            (sleep or _sleep)(delay)
            delay *= 2
    raise AssertionError("unreachable: the last attempt returns or raises")


def in_write_transaction(
    sessions: sessionmaker[Session],
    work: Callable[[Session], T],
    *,
    what: str = "write",
    attempts: int = LOCKED_ATTEMPTS,
    first_delay: float = LOCKED_FIRST_DELAY_SECONDS,
    sleep: Callable[[float], None] | None = None,
) -> T:
    """``work(session)`` in its own committed transaction, run again while the database is locked."""

    def once() -> T:
        with sessions() as session, session.begin():
            return work(session)

    return retry_locked(once, what=what, attempts=attempts, first_delay=first_delay, sleep=sleep)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory whose sessions never expire objects on commit."""
    return sessionmaker(engine, expire_on_commit=False)


def check_connection(engine: Engine) -> None:
    """Connect once, turning driver errors into one clear DatabaseError."""
    try:
        with engine.connect():
            pass
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise DatabaseError(f"cannot connect to {engine.url.render_as_string()}: {reason}") from exc


def alembic_config(engine: Engine) -> Config:
    """An Alembic config pointing at the bundled migrations and this engine."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to ``revision``."""
    check_connection(engine)
    command.upgrade(alembic_config(engine), revision)


def pending_revisions(engine: Engine) -> bool:
    """True when the database is not at the newest migration."""
    script = ScriptDirectory.from_config(alembic_config(engine))
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_heads()
    return set(current) != set(script.get_heads())
