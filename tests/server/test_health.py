"""Liveness, with the database."""

from __future__ import annotations

import shutil

from server.config import is_sqlite, sqlite_path
from server.keys import SETTINGS
from tests.server.api_client import Api


async def test_healthy(api: Api) -> None:
    assert await api.get("/healthz", expected=200) == {"status": "ok"}


async def test_503_when_the_database_is_gone(api: Api) -> None:
    settings = api.client.app[SETTINGS]
    if is_sqlite(settings.database_url):
        # The disk went away: close the pooled connections and remove the database's folder.
        await api.engine.dispose()
        shutil.rmtree(sqlite_path(settings.database_url).parent)
    else:
        # A PostgreSQL server cannot be unplugged from here; its answer to the health query
        # can be taken away instead.
        async with api.engine.begin() as conn:
            await conn.exec_driver_sql("DROP TABLE schema_version")
    assert await api.get("/healthz", expected=503) == {"status": "unavailable"}
