"""``schema.sql``, the one schema: applied at start when the tables are missing, upgraded when
the database was made by an older version of the service, and checked.

The file runs unchanged on SQLite and PostgreSQL (see its header for the portability rules);
``tests/server/test_schema_sql.py`` checks that both databases end up with the same tables,
columns and constraints, and that an upgraded database has the same ones as a new database.

Upgrades are the scripts in ``migrations/``, named ``NNN_what.sql``: script NNN takes a
database from version NNN - 1 to NNN and records version NNN in ``schema_version``. At start,
under one lock (PostgreSQL: an advisory lock, so that of several nodes starting at once one
upgrades and the others then find nothing to do; SQLite: the write transaction), every script
above the database's version runs in order, each in the start-up transaction, so an upgrade
happens whole or not at all, and a second start finds nothing left to do.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from server.db.database import Database, DatabaseUnavailable, PostgresConnection, SqliteConnection
from server.db.sql import Sql

SCHEMA_SQL = Path(__file__).resolve().parents[2] / "schema.sql"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SCHEMA_VERSION = 2
# Any constant works; it only has to be the same for every node applying the schema.
_SCHEMA_LOCK_KEY = 0x7469636B
_MIGRATION_NAME = re.compile(r"(\d{3})_[a-z0-9_]+\.sql")

_HAS_SCHEMA_SQLITE = Sql(
    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
)
_HAS_SCHEMA_POSTGRES = Sql("SELECT to_regclass('schema_version') IS NOT NULL")
_VERSION = Sql("SELECT max(version) FROM schema_version")
_LOCK = Sql("SELECT pg_advisory_xact_lock($1)")


class SchemaVersionError(RuntimeError):
    """The database was made for another version of this service."""


def schema_statements(sql: str | None = None) -> Iterator[str]:
    """The statements of schema.sql, or of ``sql`` (full-line comments removed, split on
    ``;``: the schema files hold no ``;`` but between statements)."""
    text = SCHEMA_SQL.read_text(encoding="utf-8") if sql is None else sql
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    for statement in code.split(";"):
        if statement.strip():
            yield statement.strip()


def migrations() -> dict[int, Path]:
    """The upgrade scripts by the version they lead to."""
    found: dict[int, Path] = {}
    for path in sorted(MIGRATIONS.glob("*.sql")):
        match = _MIGRATION_NAME.fullmatch(path.name)
        if match is None:
            raise SchemaVersionError(f"{path.name}: a migration is named NNN_what.sql")
        found[int(match.group(1))] = path
    return found


def upgrade_statements(version: int) -> list[str]:
    """Every statement that takes a database at ``version`` to SCHEMA_VERSION, in order."""
    scripts = migrations()
    statements: list[str] = []
    for target in range(version + 1, SCHEMA_VERSION + 1):
        if target not in scripts:
            raise SchemaVersionError(
                f"the database has schema version {version} and no upgrade to {target} exists"
            )
        statements.extend(schema_statements(scripts[target].read_text(encoding="utf-8")))
    return statements


async def apply_schema(db: Database) -> None:
    """Create the tables from schema.sql if they are missing, upgrade a database of an older
    version, then check the schema version."""
    try:
        async with db.write() as conn:
            if isinstance(conn, PostgresConnection):
                # Several nodes starting at once: one creates or upgrades, the others wait.
                await conn.fetchval(_LOCK, _SCHEMA_LOCK_KEY)
                if not await conn.fetchval(_HAS_SCHEMA_POSTGRES):
                    for statement in schema_statements():
                        await conn.raw.execute(statement)
                version = await conn.fetchval(_VERSION)
                if version is not None and version < SCHEMA_VERSION:
                    for statement in upgrade_statements(version):
                        await conn.raw.execute(statement)
            else:
                assert isinstance(conn, SqliteConnection)
                if await conn.fetchval(_HAS_SCHEMA_SQLITE) is None:
                    await conn.run(_execute_all, list(schema_statements()))
                version = await conn.fetchval(_VERSION)
                if version is not None and version < SCHEMA_VERSION:
                    await conn.run(_execute_all, upgrade_statements(version))
            version = await conn.fetchval(_VERSION)
    except OSError as error:
        raise DatabaseUnavailable(f"cannot reach the database: {error}") from error
    if version != SCHEMA_VERSION:
        raise SchemaVersionError(
            f"the database has schema version {version}, this service needs {SCHEMA_VERSION}"
        )


def _execute_all(conn: sqlite3.Connection, statements: list[str]) -> None:
    for statement in statements:
        conn.execute(statement)
