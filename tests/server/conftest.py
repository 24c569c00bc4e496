"""Fixtures for the server tests: a real database per test, the app on a loopback port.

Every test that uses ``database_url`` runs twice: on a fresh SQLite file, and on a fresh
uuid-named PostgreSQL schema when a server is reachable (TEST_POSTGRES_URL, or the local
default of tests/server/pg_probe.py); otherwise the PostgreSQL run is skipped with the reason.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.app import create_app
from server.clock import ManualClock
from server.config import Settings, normalize_database_url
from server.db.database import Database
from server.db.open import open_database
from server.db.schema import apply_schema
from server.domain import Event, MessageDraft, ModerationChange, Notification, RoomModeration
from server.realtime import NO_LIVE_CHAT
from tests.server.api_client import SECRET_KEY, SERVICE_KEY, Api
from tests.server.pg_probe import asyncpg_dsn, postgres_target, with_search_path

# Before the README's example event (2025-01-01 19:00:07), so it counts as upcoming.
START = datetime(2024, 12, 1, 12, 0, 0)

AiohttpClient = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]


class RecordingRealtime:
    """Records what the REST layer tells the live side, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    async def user_sessions_revoked(self, user_id: str) -> None:
        self.calls.append(("user_sessions_revoked", user_id))

    async def event_created(self, event: Event) -> None:
        self.calls.append(("event_created", event.id))

    async def event_updated(self, event: Event, changed_fields: frozenset[str]) -> None:
        self.calls.append(("event_updated", (event.id, changed_fields)))

    async def event_deleted(self, event_id: str) -> None:
        self.calls.append(("event_deleted", event_id))

    async def notifications_created(self, notifications: Sequence[Notification]) -> None:
        self.calls.append(("notifications_created", [n.user_id for n in notifications]))

    async def post_message(self, event_id: str, draft: MessageDraft) -> str:
        self.calls.append(("post_message", event_id))
        return NO_LIVE_CHAT

    async def room_moderated(self, state: RoomModeration, change: ModerationChange | None) -> None:
        self.calls.append(("room_moderated", change))

    def online_count(self, event_id: str) -> int:
        return 0

    def online_among(self, event_id: str, user_ids: Iterable[str]) -> set[str]:
        return set()


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'ticket_chat.sqlite3'}"
        return
    target = postgres_target()
    if target.url is None:
        if target.required:
            pytest.fail(target.reason)
        pytest.skip(target.reason)
    # A fresh schema per test: as isolated as a fresh database, and much faster to make.
    schema = f"test_{uuid.uuid4().hex}"
    admin = await asyncpg.connect(asyncpg_dsn(target.url))
    try:
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        yield with_search_path(target.url, schema)
    finally:
        await drop_schema(admin, schema)
        await admin.close()


async def drop_schema(admin: asyncpg.Connection, schema: str) -> None:
    """Drop a test's schema. A query the test's server cancelled at shutdown may still be
    finishing on the PostgreSQL side and deadlock with the drop: then try again."""
    for attempt in range(5):
        try:
            await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            return
        except asyncpg.DeadlockDetectedError:
            if attempt == 4:
                raise


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=normalize_database_url(database_url),
        secret_key=SECRET_KEY,
        service_api_key=SERVICE_KEY,
        bcrypt_rounds=4,
        token_ttl_seconds=3600,
    )


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    """The test's database, its schema applied, opened the way the service opens it."""
    db = await open_database(settings.database_url, pool_size=5)
    await apply_schema(db)
    yield db
    await db.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def realtime() -> RecordingRealtime:
    return RecordingRealtime()


@pytest.fixture
async def client(
    aiohttp_client: AiohttpClient,
    settings: Settings,
    clock: ManualClock,
    realtime: RecordingRealtime,
) -> TestClient[Any, Any]:
    return await aiohttp_client(create_app(settings, clock=clock, realtime=realtime))


@pytest.fixture
def api(client: TestClient[Any, Any]) -> Api:
    return Api(client)
