"""A real failure inside the database, for tests of what a failed statement does: a trigger
that aborts every statement writing a chosen value (and with it its transaction)."""

from __future__ import annotations

from server.db.database import Database, PostgresConnection
from server.db.sql import POSTGRESQL, Sql


def refusing_trigger(*, postgres: bool, operation: str, table: str, column: str, value: str) -> str:
    """SQL that makes ``operation`` (INSERT or UPDATE) on ``table`` fail with ``boom`` when
    the row's ``column`` becomes ``value``; PostgreSQL's is two statements."""
    if postgres:
        return f"""
            CREATE FUNCTION refuse_boom() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION 'boom'; END $$ LANGUAGE plpgsql;
            CREATE TRIGGER refuse_boom BEFORE {operation} ON {table} FOR EACH ROW
            WHEN (NEW.{column} = '{value}') EXECUTE FUNCTION refuse_boom();
            """
    return (
        f"CREATE TRIGGER refuse_boom BEFORE {operation} ON {table} "
        f"WHEN NEW.{column} = '{value}' BEGIN SELECT RAISE(ABORT, 'boom'); END"
    )


async def refuse_in_database(
    db: Database, *, operation: str, table: str, column: str, value: str
) -> None:
    """Install :func:`refusing_trigger` in ``db``."""
    sql = refusing_trigger(
        postgres=db.dialect == POSTGRESQL,
        operation=operation,
        table=table,
        column=column,
        value=value,
    )
    async with db.write() as conn:
        if isinstance(conn, PostgresConnection):
            await conn.raw.execute(sql)
        else:
            await conn.execute(Sql(sql))
