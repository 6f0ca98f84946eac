"""Alembic owns the schema: migrating gives exactly the models' tables, on both backends."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, inspect

from storage.db import DatabaseError, check_connection, create_db_engine, pending_revisions, upgrade
from storage.models import Base


def test_migrated_schema_matches_models(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names()) - {"alembic_version"}
    assert tables == set(Base.metadata.tables)
    for table in Base.metadata.sorted_tables:
        columns = {c["name"] for c in inspect(engine).get_columns(table.name)}
        assert columns == set(table.columns.keys()), table.name
    assert not pending_revisions(engine)
    upgrade(engine)  # upgrading an up-to-date database is a no-op
    assert not pending_revisions(engine)


def test_unreachable_database_is_one_clear_error() -> None:
    engine = create_db_engine("postgresql://nobody@127.0.0.1:1/earshot")
    with pytest.raises(DatabaseError) as info:
        check_connection(engine)
    message = str(info.value)
    assert message.startswith("cannot connect to postgresql+psycopg://nobody@127.0.0.1:1/earshot")
    assert "\n" not in message


def test_invalid_url_is_a_clear_error() -> None:
    with pytest.raises(DatabaseError, match="invalid database URL"):
        create_db_engine("not a url")
