"""Small helpers shared by the db modules."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Insert

# A result row of any shape; rows are read by column name.
AnyRow: TypeAlias = Row[*tuple[Any, ...]]


def new_id() -> str:
    return str(uuid.uuid4())


def violates(error: IntegrityError, constraint: str, sqlite_detail: str | None = None) -> bool:
    """Whether ``error`` is about ``constraint``.

    PostgreSQL names the constraint in its message; SQLite names the columns of a UNIQUE
    constraint (``UNIQUE constraint failed: users.email``) and the name of a CHECK constraint,
    so callers pass the column form as ``sqlite_detail``.
    """
    message = str(error.orig)
    return constraint in message or (sqlite_detail is not None and sqlite_detail in message)


def is_foreign_key_violation(error: IntegrityError) -> bool:
    message = str(error.orig).lower()
    return "foreign key" in message


def insert_skipping_conflicts(
    conn: AsyncConnection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    conflict_columns: Sequence[str],
) -> Insert:
    """``INSERT … ON CONFLICT (cols) DO NOTHING``: same SQL on both databases, but each
    dialect has its own construct for it."""
    target = [table.c[name] for name in conflict_columns]
    if conn.dialect.name == "postgresql":
        return (
            postgresql.insert(table)
            .values(list(rows))
            .on_conflict_do_nothing(index_elements=target)
        )
    return sqlite.insert(table).values(list(rows)).on_conflict_do_nothing(index_elements=target)
