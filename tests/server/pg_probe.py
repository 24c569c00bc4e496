"""Whether the PostgreSQL pass of the server tests can run, and why not.

Used by tests/server/conftest.py and by tests/postgres_notice.py (run before pytest), so the
notice and the suite always agree.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
from dataclasses import dataclass
from functools import cache
from urllib.parse import urlsplit, urlunsplit

ENV_VAR = "TEST_POSTGRES_URL"
LOCAL_DEFAULT = "postgresql://phx:phx@127.0.0.1:5432/phx_test"


@dataclass(frozen=True)
class PostgresTarget:
    url: str | None
    """The URL of a database where the tests may create schemas, when reachable."""
    reason: str
    required: bool
    """True when TEST_POSTGRES_URL was set: then an unreachable server is a failure."""


def asyncpg_dsn(url: str) -> str:
    """asyncpg takes postgresql:// (not SQLAlchemy's postgresql+asyncpg://)."""
    scheme, rest = url.split("://", 1)
    return f"postgresql://{rest}" if scheme.startswith("postgres") else url


def with_search_path(url: str, schema: str) -> str:
    """The URL, with the service's tables kept in ``schema`` (see server/db/engine.py)."""
    parts = urlsplit(url)
    query = f"{parts.query}&search_path={schema}" if parts.query else f"search_path={schema}"
    return urlunsplit(parts._replace(query=query))


def describe(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    return f"{host}:{parts.port or 5432}{parts.path}"


async def _can_connect(url: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(asyncpg_dsn(url), timeout=3)
    await connection.close()


@cache
def postgres_target() -> PostgresTarget:
    configured = os.environ.get(ENV_VAR, "").strip()
    url = configured or LOCAL_DEFAULT
    where = f"{ENV_VAR}={describe(url)}" if configured else f"local default {describe(url)}"
    try:
        # In a thread: the caller may already be inside an event loop.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, _can_connect(url)).result()
    except Exception as error:
        reason = f"PostgreSQL not reachable at {where}: {type(error).__name__}: {error}"
        return PostgresTarget(url=None, reason=reason, required=bool(configured))
    return PostgresTarget(url=url, reason=f"PostgreSQL at {where}", required=bool(configured))
