"""The alembic migrations and ``storage/schema.py`` describe the same database: a fresh database
migrated to head has exactly the schema's tables, columns, types, nullability, indexes, unique
constraints, foreign keys and server defaults (on SQLite and on PostgreSQL). A migration that
forgets a column, or a schema change without its migration, fails here."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from openproctor.server.storage import schema
from openproctor.server.storage.database import Database


def _differences(url: str) -> list[object]:
    db = Database(url)
    try:
        db.migrate()
        with db.engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            return list(compare_metadata(context, schema.metadata))
    finally:
        db.close()


def test_migrations_produce_exactly_the_schema(database_url: str) -> None:
    assert _differences(database_url) == []


def test_a_table_missing_from_the_migrations_is_reported(database_url: str) -> None:
    # The comparison itself can fail: a table only the schema has is a difference.
    extra = sa.Table("not_migrated", schema.metadata, sa.Column("id", sa.Integer, primary_key=True))
    try:
        differences = _differences(database_url)
    finally:
        schema.metadata.remove(extra)
    assert [d[0] for d in differences if isinstance(d, tuple)] == ["add_table"]
