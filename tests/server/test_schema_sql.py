"""schema.sql is the schema: it runs unchanged on both databases and gives them the same
tables, columns, keys and indexes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from server.config import Settings
from server.db.database import Connection, Database, IntegrityError
from server.db.open import open_database
from server.db.schema import SCHEMA_VERSION, SchemaVersionError, apply_schema, schema_statements
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
    "hidden_messages",
    "room_restrictions",
    "moderation_log",
    "webhook_outbox",
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
        unique, unique_indexes, plain = [], [], []
        for index in indexes:
            cols = await conn.fetch(Sql(f"PRAGMA index_info({index['name']})"))
            names = tuple(c["name"] for c in cols)
            if index["origin"] == "u":
                unique.append(names)
            elif index["origin"] == "c" and index["unique"]:
                unique_indexes.append((index["name"], names, bool(index["partial"])))
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
            "unique_indexes": sorted(unique_indexes),
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
                             ORDER BY k.o) AS cols,
                       x.relname AS name, i.indisunique AS is_unique,
                       i.indpred IS NOT NULL AS partial
                FROM pg_index i
                JOIN pg_class t ON t.oid = i.indrelid
                JOIN pg_class x ON x.oid = i.indexrelid
                WHERE t.relname = $1 AND t.relnamespace = current_schema()::regnamespace
                  AND NOT i.indisprimary
                  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
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
            "unique_indexes": sorted(
                (i["name"], tuple(i["cols"]), i["partial"]) for i in indexes if i["is_unique"]
            ),
            "indexes": sorted(tuple(i["cols"]) for i in indexes if not i["is_unique"]),
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


V1_SCHEMA = Path(__file__).resolve().parent / "fixtures" / "schema_v1.sql"
"""schema.sql as the first released version had it (from the repository's history)."""

V1_ROWS = [
    (
        "INSERT INTO users (id, username, email, password_hash, token_version, inserted_at,"
        " updated_at) VALUES ('u1', 'ayla', 'ayla@example.com', 'x', 0, $1, $1)"
    ),
    (
        "INSERT INTO events (id, name, description, location, start_time, end_time,"
        " inserted_at, updated_at) VALUES ('e1', 'concert', 'd', 'here', $1, $2, $1, $1)"
    ),
    (
        "INSERT INTO chat_rooms (id, event_id, status, last_seq, inserted_at, updated_at)"
        " VALUES ('r1', 'e1', 'active', 1, $1, $1)"
    ),
    (
        "INSERT INTO tickets (id, event_id, ticket_number, user_id, used_at, inserted_at,"
        " updated_at) VALUES ('t1', 'e1', 'A-1', 'u1', $1, $1, $1)"
    ),
    (
        "INSERT INTO messages (id, chat_room_id, user_id, username, content, content_type, seq,"
        " client_id, inserted_at) VALUES ('m1', 'r1', 'u1', 'ayla', 'hello', 'text', 1, 'c1', $1)"
    ),
    (
        "INSERT INTO notifications (id, user_id, event_id, kind, message, status, dedupe_key,"
        " inserted_at) VALUES ('n1', 'u1', 'e1', 'room_opened', 'open', 'unread', 'k', $1)"
    ),
]


async def create_v1(db: Database) -> None:
    """A database as version 1 of the service left it, with a row in every table."""
    statements = list(schema_statements(V1_SCHEMA.read_text(encoding="utf-8")))
    now = datetime(2025, 1, 1, 19, 0, 0)
    async with db.write() as conn:
        for statement in statements:
            await conn.execute(Sql(statement))
        for insert in V1_ROWS:
            if "$2" in insert:
                await conn.execute(Sql(insert), now, now + timedelta(hours=3))
            else:
                await conn.execute(Sql(insert), now)


async def describe(db: Database) -> dict[str, Any]:
    async with db.read() as conn:
        if db.dialect == "sqlite":
            return await describe_sqlite(conn)
        return await describe_postgres(conn)


async def test_a_version_1_database_is_upgraded_and_keeps_its_data(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    await create_v1(db)
    before = {
        table: [tuple(row) for row in await rows(db, f"SELECT * FROM {table}")]
        for table in ("users", "events", "tickets", "chat_rooms", "messages", "notifications")
    }
    await apply_schema(db)  # what every start does
    await apply_schema(db)  # a second start finds nothing to do
    versions = await rows(db, "SELECT version FROM schema_version ORDER BY version")
    assert [row["version"] for row in versions] == [1, SCHEMA_VERSION]
    # Every row is still there, unchanged but for the new columns at the end of its table.
    for table, old in before.items():
        now = [tuple(row) for row in await rows(db, f"SELECT * FROM {table}")]
        assert [row[: len(old[0])] for row in now] == old, table
    [room] = await rows(db, "SELECT slow_mode_seconds, moderation_version FROM chat_rooms")
    assert tuple(room) == (0, 0)
    [message] = await rows(db, "SELECT author_role FROM messages")
    assert message["author_role"] == "member"
    # The upgraded database has exactly the tables a new one gets.
    async with fresh_database(db.dialect, tmp_path) as fresh:
        await apply_schema(fresh)
        assert await describe(db) == await describe(fresh)


async def rows(db: Database, query: str) -> list[Any]:
    async with db.read() as conn:
        return await conn.fetch(Sql(query))


@asynccontextmanager
async def fresh_database(dialect: str, tmp_path: Path) -> AsyncIterator[Database]:
    if dialect == "sqlite":
        db = await open_database(f"sqlite:///{tmp_path / 'fresh.sqlite3'}", pool_size=1)
        try:
            yield db
        finally:
            await db.close()
        return
    target = postgres_target()
    assert target.url is not None
    schema = f"test_{uuid.uuid4().hex}"
    admin = await asyncpg.connect(asyncpg_dsn(target.url))
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    db = await open_database(with_search_path(target.url, schema), pool_size=1)
    try:
        yield db
    finally:
        await db.close()
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()
