"""schema.sql is the schema: it runs unchanged on both databases and gives them the same
tables, columns, keys and indexes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from server.config import Settings
from server.db.database import Connection, Database, IntegrityError
from server.db.open import open_database
from server.db.schema import SCHEMA_VERSION, SchemaVersionError, apply_schema
from server.db.sql import Sql
from tests.server.pg_probe import asyncpg_dsn, postgres_target, with_search_path

TABLES = [
    "schema_version",
    "users",
    "events",
    "tickets",
    "chat_rooms",
    "messages",
    "notifications",
    "revoked_tokens",
]


def kind(declared: str) -> str:
    declared = declared.lower()
    if "int" in declared:
        return "integer"
    if "timestamp" in declared:
        return "timestamp"
    if "text" in declared or "char" in declared:
        return "text"
    return declared


def default(value: Any) -> str | None:
    """A column default, without PostgreSQL's casts (``'inactive'::text``)."""
    return None if value is None else str(value).split("::")[0]


async def describe_sqlite(conn: Connection) -> dict[str, Any]:
    description: dict[str, Any] = {}
    for table in TABLES:
        columns = await conn.fetch(Sql(f"PRAGMA table_info({table})"))
        foreign = await conn.fetch(Sql(f"PRAGMA foreign_key_list({table})"))
        indexes = await conn.fetch(Sql(f"PRAGMA index_list({table})"))
        unique, plain = [], []
        for index in indexes:
            cols = await conn.fetch(Sql(f"PRAGMA index_info({index['name']})"))
            names = tuple(c["name"] for c in cols)
            if index["origin"] == "u":
                unique.append(names)
            elif index["origin"] == "c":
                plain.append(names)
        description[table] = {
            "columns": {
                c["name"]: (
                    kind(c["type"]),
                    not c["notnull"] and not c["pk"],
                    default(c["dflt_value"]),
                )
                for c in columns
            },
            "primary_key": [c["name"] for c in sorted(columns, key=lambda c: c["pk"]) if c["pk"]],
            "foreign_keys": sorted(
                (f["from"], f["table"], f["to"], f["on_delete"].upper()) for f in foreign
            ),
            "unique": sorted(unique),
            "indexes": sorted(plain),
        }
    return description


async def describe_postgres(conn: Connection) -> dict[str, Any]:
    description: dict[str, Any] = {}
    for table in TABLES:
        columns = await conn.fetch(
            Sql(
                """
                SELECT column_name, data_type, is_nullable, column_default
                FROM information_schema.columns
                WHERE table_schema = current_schema() AND table_name = $1
                ORDER BY ordinal_position
                """
            ),
            table,
        )
        constraints = await conn.fetch(
            Sql(
                """
                SELECT c.contype::text AS contype, c.confdeltype::text AS confdeltype,
                       r.relname AS referred,
                       ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
                             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n
                             ORDER BY k.i) AS cols,
                       ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(n, i)
                             JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n
                             ORDER BY k.i) AS referred_cols
                FROM pg_constraint c
                JOIN pg_class t ON t.oid = c.conrelid
                LEFT JOIN pg_class r ON r.oid = c.confrelid
                WHERE t.relname = $1 AND t.relnamespace = current_schema()::regnamespace
                """
            ),
            table,
        )
        indexes = await conn.fetch(
            Sql(
                """
                SELECT ARRAY(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY k(n, o)
                             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n
                             ORDER BY k.o) AS cols
                FROM pg_index i
                JOIN pg_class t ON t.oid = i.indrelid
                WHERE t.relname = $1 AND t.relnamespace = current_schema()::regnamespace
                  AND NOT i.indisunique AND NOT i.indisprimary
                """
            ),
            table,
        )
        on_delete = {"a": "NO ACTION", "c": "CASCADE", "n": "SET NULL", "r": "RESTRICT"}
        description[table] = {
            "columns": {
                c["column_name"]: (
                    kind(c["data_type"]),
                    c["is_nullable"] == "YES",
                    default(c["column_default"]),
                )
                for c in columns
            },
            "primary_key": next(list(c["cols"]) for c in constraints if c["contype"] == "p"),
            "foreign_keys": sorted(
                (c["cols"][0], c["referred"], c["referred_cols"][0], on_delete[c["confdeltype"]])
                for c in constraints
                if c["contype"] == "f"
            ),
            "unique": sorted(tuple(c["cols"]) for c in constraints if c["contype"] == "u"),
            "indexes": sorted(tuple(i["cols"]) for i in indexes),
        }
    return description


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    db = await open_database(settings.database_url, pool_size=2)
    yield db
    await db.close()


async def test_both_databases_get_the_same_schema(tmp_path: Path) -> None:
    target = postgres_target()
    if target.url is None:
        pytest.skip(target.reason)
    sqlite = await open_database(f"sqlite:///{tmp_path / 'schema.sqlite3'}", pool_size=1)
    schema = f"test_{uuid.uuid4().hex}"
    admin = await asyncpg.connect(asyncpg_dsn(target.url))
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    postgres = await open_database(with_search_path(target.url, schema), pool_size=1)
    try:
        await apply_schema(sqlite)
        await apply_schema(postgres)
        async with sqlite.read() as conn:
            on_sqlite = await describe_sqlite(conn)
        async with postgres.read() as conn:
            on_postgres = await describe_postgres(conn)
    finally:
        await sqlite.close()
        await postgres.close()
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()
    for table in TABLES:
        assert on_sqlite[table] == on_postgres[table], table
    assert on_sqlite["messages"]["unique"] == [
        ("chat_room_id", "seq"),
        ("chat_room_id", "user_id", "client_id"),
    ]


async def test_the_schema_is_applied_once_and_versioned(db: Database) -> None:
    await apply_schema(db)
    await apply_schema(db)  # a restart: nothing to do, nothing breaks
    async with db.read() as conn:
        versions = await conn.fetch(Sql("SELECT version FROM schema_version"))
    assert [row["version"] for row in versions] == [SCHEMA_VERSION]


async def test_foreign_keys_are_enforced(db: Database) -> None:
    await apply_schema(db)
    with pytest.raises(IntegrityError) as raised:
        async with db.write() as conn:
            await conn.execute(
                Sql(
                    "INSERT INTO tickets (id, event_id, ticket_number, inserted_at, updated_at) "
                    "VALUES ('t', 'no such event', '1', $1, $1)"
                ),
                datetime(2025, 1, 1),
            )
    assert raised.value.foreign_key


async def test_a_newer_schema_version_refuses_to_start(db: Database) -> None:
    await apply_schema(db)
    async with db.write() as conn:
        await conn.execute(
            Sql("INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)"),
            SCHEMA_VERSION + 1,
            datetime(2030, 1, 1),
        )
    with pytest.raises(SchemaVersionError):
        await apply_schema(db)
