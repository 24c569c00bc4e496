"""``schema.sql``, the one schema: applied at start when the tables are missing, and checked.

The file runs unchanged on SQLite and PostgreSQL (see its header for the portability rules);
``tests/server/test_schema_sql.py`` checks that both databases end up with the same tables,
columns and constraints.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from server.db.database import Database, DatabaseUnavailable, PostgresConnection, SqliteConnection
from server.db.sql import Sql

SCHEMA_SQL = Path(__file__).resolve().parents[2] / "schema.sql"
SCHEMA_VERSION = 1
# Any constant works; it only has to be the same for every node applying the schema.
_SCHEMA_LOCK_KEY = 0x7469636B

_HAS_SCHEMA_SQLITE = Sql(
    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
)
_HAS_SCHEMA_POSTGRES = Sql("SELECT to_regclass('schema_version') IS NOT NULL")
_VERSION = Sql("SELECT max(version) FROM schema_version")
_LOCK = Sql("SELECT pg_advisory_xact_lock($1)")


class SchemaVersionError(RuntimeError):
    """The database was made for another version of this service."""


def schema_statements(sql: str | None = None) -> Iterator[str]:
    """The statements of schema.sql (full-line comments removed, split on ``;``)."""
    text = SCHEMA_SQL.read_text(encoding="utf-8") if sql is None else sql
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    for statement in code.split(";"):
        if statement.strip():
            yield statement.strip()


async def apply_schema(db: Database) -> None:
    """Create the tables from schema.sql if they are missing, then check the schema version."""
    try:
        async with db.write() as conn:
            if isinstance(conn, PostgresConnection):
                # Several nodes starting at once: one creates the tables, the others wait.
                await conn.fetchval(_LOCK, _SCHEMA_LOCK_KEY)
                present = await conn.fetchval(_HAS_SCHEMA_POSTGRES)
                if not present:
                    for statement in schema_statements():
                        await conn.raw.execute(statement)
            else:
                assert isinstance(conn, SqliteConnection)
                if await conn.fetchval(_HAS_SCHEMA_SQLITE) is None:
                    await conn.run(_create_sqlite)
            version = await conn.fetchval(_VERSION)
    except OSError as error:
        raise DatabaseUnavailable(f"cannot reach the database: {error}") from error
    if version != SCHEMA_VERSION:
        raise SchemaVersionError(
            f"the database has schema version {version}, this service needs {SCHEMA_VERSION}"
        )


def _create_sqlite(conn: object) -> None:
    import sqlite3

    assert isinstance(conn, sqlite3.Connection)
    for statement in schema_statements():
        conn.execute(statement)
