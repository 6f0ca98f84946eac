"""This installation's identity: a random UUID stored once, read by whoever needs a global key."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.models import InstallationRow

_ROW_ID = 1
# Where a session keeps the id once read: every outbox row's key needs it, and the identity map
# holds rows weakly, so without this each key cost a SELECT.
_CACHE = "earshot.installation_id"


def installation_id(session: Session) -> str:
    """The installation's UUID; created (and flushed, not committed) if the table is empty.

    Migration 0004 stores it. A database emptied by hand (or a test truncating tables) gets a
    fresh one, which is right: it is a new installation as far as any receiver can tell.
    """
    # Kept for the current transaction only: one rolled back may have created the row it read.
    transaction = session.get_transaction()
    cached = session.info.get(_CACHE)
    if cached is not None and transaction is not None and cached[0] is transaction:
        return str(cached[1])
    found = _read_or_create(session)
    session.info[_CACHE] = (transaction, found)
    return found


def _read_or_create(session: Session) -> str:
    row = session.get(InstallationRow, _ROW_ID)
    if row is not None:
        return row.installation_id
    created = InstallationRow(id=_ROW_ID, installation_id=str(uuid.uuid4()), created_at=datetime.now(UTC))
    try:
        # A savepoint, so losing a race with another worker does not spoil the caller's transaction.
        with session.begin_nested():
            session.add(created)
    except IntegrityError:
        winner = session.get(InstallationRow, _ROW_ID, populate_existing=True)
        assert winner is not None, "an insert lost a race to a row that is not there"
        return winner.installation_id
    return created.installation_id
