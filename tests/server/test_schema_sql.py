"""schema.sql is the schema: it runs on both databases, and server/db/schema.py mirrors it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import MetaData, UniqueConstraint, insert, inspect, select, types
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from server.config import Settings
from server.db.engine import apply_schema, make_engine
from server.db.schema import SCHEMA_VERSION, metadata, schema_version, tickets


def type_kind(sql_type: Any) -> str:
    for kind, classes in [
        ("integer", (types.Integer,)),
        ("timestamp", (types.DateTime,)),
        ("text", (types.String, types.Text)),
    ]:
        if isinstance(sql_type, classes):
            return kind
    return type(sql_type).__name__


def default_text(default: Any) -> str | None:
    if default is None:
        return None
    text = str(getattr(default, "arg", default))
    return re.sub(r"::\w+( \w+)?$", "", text).strip("()")


def describe(conn: Connection, names: list[str]) -> dict[str, Any]:
    inspector = inspect(conn)
    description: dict[str, Any] = {}
    for table in names:
        description[table] = {
            "columns": {
                column["name"]: (
                    type_kind(column["type"]),
                    column["nullable"],
                    default_text(column.get("default")),
                )
                for column in inspector.get_columns(table)
            },
            "primary_key": inspector.get_pk_constraint(table)["constrained_columns"],
            "foreign_keys": sorted(
                (
                    tuple(fk["constrained_columns"]),
                    fk["referred_table"],
                    tuple(fk["referred_columns"]),
                    (fk.get("options") or {}).get("ondelete"),
                )
                for fk in inspector.get_foreign_keys(table)
            ),
            "unique": sorted(
                tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)
            ),
            "indexes": sorted(
                (tuple(i["column_names"]), bool(i["unique"]))
                for i in inspector.get_indexes(table)
                if not i.get("duplicates_constraint") and not i["name"].startswith("sqlite_")
            ),
        }
    return description


def describe_metadata(source: MetaData) -> dict[str, Any]:
    description: dict[str, Any] = {}
    for table in source.sorted_tables:
        description[table.name] = {
            "columns": {
                column.name: (
                    type_kind(column.type),
                    column.nullable,
                    default_text(column.server_default),
                )
                for column in table.columns
            },
            "primary_key": [column.name for column in table.primary_key.columns],
            "foreign_keys": sorted(
                (
                    tuple(fk.parent.name for fk in constraint.elements),
                    constraint.referred_table.name,
                    tuple(fk.column.name for fk in constraint.elements),
                    constraint.ondelete,
                )
                for constraint in table.foreign_key_constraints
            ),
            # (unique=True on a column becomes a UniqueConstraint in table.constraints too)
            "unique": sorted(
                tuple(column.name for column in constraint.columns)
                for constraint in table.constraints
                if isinstance(constraint, UniqueConstraint)
            ),
            "indexes": sorted(
                (tuple(column.name for column in index.columns), bool(index.unique))
                for index in table.indexes
            ),
        }
    return description


async def test_schema_sql_matches_the_sqlalchemy_tables(settings: Settings) -> None:
    engine = make_engine(settings.database_url)
    try:
        await apply_schema(engine)
        async with engine.connect() as conn:
            actual = await conn.run_sync(describe, [t.name for t in metadata.sorted_tables])
            tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    finally:
        await engine.dispose()
    assert tables == set(metadata.tables)
    expected = describe_metadata(metadata)
    for name in expected:
        assert actual[name] == expected[name], name


async def test_the_schema_is_applied_once_and_versioned(settings: Settings) -> None:
    engine = make_engine(settings.database_url)
    try:
        await apply_schema(engine)
        await apply_schema(engine)  # a restart: nothing to do, nothing breaks
        async with engine.connect() as conn:
            versions = (await conn.execute(select(schema_version.c.version))).scalars().all()
    finally:
        await engine.dispose()
    assert versions == [SCHEMA_VERSION]


async def test_foreign_keys_are_enforced(settings: Settings) -> None:
    from datetime import datetime

    engine = make_engine(settings.database_url)
    try:
        await apply_schema(engine)
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(
                    insert(tickets).values(
                        id="t",
                        event_id="no such event",
                        ticket_number="1",
                        inserted_at=datetime(2025, 1, 1),
                        updated_at=datetime(2025, 1, 1),
                    )
                )
    finally:
        await engine.dispose()


async def test_a_newer_schema_version_refuses_to_start(settings: Settings) -> None:
    from datetime import datetime

    from server.db.engine import SchemaVersionError

    engine = make_engine(settings.database_url)
    try:
        await apply_schema(engine)
        async with engine.begin() as conn:
            await conn.execute(
                insert(schema_version).values(
                    version=SCHEMA_VERSION + 1, applied_at=datetime(2030, 1, 1)
                )
            )
        with pytest.raises(SchemaVersionError):
            await apply_schema(engine)
    finally:
        await engine.dispose()
