"""Liveness, with the database."""

from __future__ import annotations

from tests.server.api_client import Api


async def test_healthy(api: Api) -> None:
    assert await api.get("/healthz", expected=200) == {"status": "ok"}


async def test_503_when_the_database_is_gone(api: Api) -> None:
    # A database server cannot be unplugged from here; its answer to the health query can be
    # taken away instead.
    await api.execute("DROP TABLE schema_version")
    assert await api.get("/healthz", expected=503) == {"status": "unavailable"}
