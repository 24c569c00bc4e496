"""Opening the database a URL names, and describing it for logs."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from server.config import is_sqlite, sqlite_path
from server.db.database import Database, PostgresDatabase, SqliteDatabase


async def open_database(database_url: str, *, pool_size: int) -> Database:
    db: SqliteDatabase | PostgresDatabase
    if is_sqlite(database_url):
        db = SqliteDatabase(sqlite_path(database_url))
    else:
        db = PostgresDatabase(database_url, pool_size=pool_size)
    await db.open()
    return db


def describe_database(database_url: str) -> str:
    """The URL with its password masked, for logs."""
    parts = urlsplit(database_url)
    if parts.password is None:
        return database_url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
