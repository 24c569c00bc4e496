"""SQL statements, written once for both databases.

A statement is written with PostgreSQL's numbered placeholders (``$1``, ``$2``); SQLite
accepts the same numbering as ``?1``, ``?2``, so its text is derived once, when the module
that defines the statement is imported. Nothing is built per call: a statement's text is a
constant, so PostgreSQL prepares it once per connection (asyncpg's statement cache) and
SQLite compiles it once per connection (the sqlite3 module's statement cache).

Only the rare statement that must differ (an array parameter on PostgreSQL, say) is written
twice, as two :class:`Sql` objects chosen by dialect.
"""

from __future__ import annotations

import re
import textwrap
from datetime import datetime
from typing import Any

_PLACEHOLDER = re.compile(r"\$(\d+)")

SQLITE = "sqlite"
POSTGRESQL = "postgresql"


class Sql:
    """One statement: its PostgreSQL text and the SQLite text derived from it."""

    __slots__ = ("postgresql", "sqlite")

    def __init__(self, text: str) -> None:
        self.postgresql = textwrap.dedent(text).strip()
        self.sqlite = _PLACEHOLDER.sub(r"?\1", self.postgresql)

    def text(self, dialect: str) -> str:
        return self.sqlite if dialect == SQLITE else self.postgresql

    def __repr__(self) -> str:
        return f"Sql({self.postgresql!r})"


# SQLite has no timestamp type: timestamps are stored as text in this one format, always with
# microseconds, so that text comparison in SQL is time comparison.
SQLITE_TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def sqlite_timestamp(moment: datetime) -> str:
    return moment.strftime(SQLITE_TIMESTAMP_FORMAT)


def as_datetime(value: Any) -> datetime | None:
    """A timestamp read from either database: PostgreSQL gives a datetime; SQLite gives one
    for a column (the connection converts declared TIMESTAMP columns) and text for an
    expression such as ``min(start_time)``."""
    if value is None or isinstance(value, datetime):
        return value
    if isinstance(value, bytes):
        value = value.decode("ascii")
    return datetime.fromisoformat(str(value))
