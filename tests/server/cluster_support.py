"""Several ``python -m server`` nodes on loopback ports, sharing a fresh PostgreSQL schema and
a real redis-server that the test started: the cluster tests' world.

The nodes run on the real clock; events are placed around now. Only processes started here
are ever signalled.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from server.api.openapi import build_document
from server.keys import OPENAPI
from tests.phoenixjs import Client, PhoenixJS, ws_url
from tests.redis_server import RedisServer, redis_server
from tests.server.api_client import Api, Session
from tests.server.conftest import drop_schema
from tests.server.pg_probe import asyncpg_dsn, postgres_target, with_search_path
from tests.server.server_process import ServerProcess, server_process

FAST = {"reconnectAfterMs": [20, 50, 100], "rejoinAfterMs": [20, 50, 100]}
DOWN_AFTER = 2
NODE_ENV = {
    "CLUSTER_DOWN_AFTER": str(DOWN_AFTER),
    "CHAT_MESSAGES_PER_SECOND": "100000",
    "CHAT_MESSAGE_BURST": "100000",
    "CHAT_SOCKETS_PER_USER": "1000",
    "ALLOWED_ORIGINS": "*",
}


class _Remote:
    """What :class:`Api` needs of a test client, over real HTTP to one node."""

    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http = http
        self.base = base
        self.app = {OPENAPI: build_document()}

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.http.request(method, self.base + path, **kwargs)


def fmt(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass
class ClusterWorld:
    database_url: str
    redis: RedisServer
    log_dir: Path
    http: aiohttp.ClientSession
    stack: AsyncExitStack
    nodes: list[ServerProcess] = field(default_factory=list)

    async def node(self, **env: str) -> ServerProcess:
        """One more node (cluster mode unless ``REDIS_URL=""`` is given)."""
        environment = {**NODE_ENV, "REDIS_URL": self.redis.url, **env}
        server = await self.stack.enter_async_context(
            server_process(self.database_url, self.log_dir, env=environment)
        )
        self.nodes.append(server)
        return server

    def api(self, node: ServerProcess) -> Api:
        return Api(_Remote(self.http, node.url))  # type: ignore[arg-type]

    async def open_event(self, node: ServerProcess, **fields: Any) -> dict[str, Any]:
        """An event starting in an hour: its room is open once the call returns."""
        start = now() + timedelta(hours=1)
        return await self.api(node).create_event(
            start_time=fmt(start), end_time=fmt(start + timedelta(hours=4)), **fields
        )

    async def holder(self, node: ServerProcess, event_id: str) -> tuple[Session, str]:
        """A new user and the number of a ticket of the event that is theirs."""
        api = self.api(node)
        user = await api.sign_up()
        ticket = await api.create_ticket(event_id)
        await api.assign(ticket["id"], user.id)
        return user, str(ticket["ticket_number"])

    async def member(
        self,
        js: PhoenixJS,
        node: ServerProcess | str,
        event_id: str,
        *,
        user: tuple[Session, str] | None = None,
        version: str = "1.8",
        transport: str = "websocket",
        **options: Any,
    ) -> tuple[Client, Session]:
        """A phoenix.js client of a new holder (or ``user``), joined to the event's room
        with phoenix.js's Presence attached."""
        rest = self.nodes[0]
        session, number = user or await self.holder(rest, event_id)
        url = ws_url(node.url if isinstance(node, ServerProcess) else node)
        client = await js.connect(
            url,
            version=version,
            params={"token": session.token},
            transport=transport,
            **{**FAST, **options},
        )
        joined = await client.join(
            f"event:{event_id}", {"ticket_number": number}, presence=True, dynamic_key="after_seq"
        )
        assert joined["status"] == "ok", joined
        return client, session


def seqs(client: Client, topic: str, since: int = 0) -> list[int]:
    return [
        event["payload"]["seq"]
        for event in client.events_since(since, event="message", topic=topic, name="new_message")
    ]


@asynccontextmanager
async def cluster_database() -> AsyncIterator[str]:
    """A fresh schema in the test PostgreSQL (cluster mode refuses SQLite)."""
    target = postgres_target()
    if target.url is None:
        if target.required:
            pytest.fail(target.reason)
        pytest.skip(f"cluster mode needs PostgreSQL: {target.reason}")
    schema = f"test_{uuid.uuid4().hex}"
    admin = await asyncpg.connect(asyncpg_dsn(target.url))
    try:
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        yield with_search_path(target.url, schema)
    finally:
        await drop_schema(admin, schema)
        await admin.close()


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[ClusterWorld]:
    async with AsyncExitStack() as stack:
        database_url = await stack.enter_async_context(cluster_database())
        redis = await stack.enter_async_context(redis_server(tmp_path))
        http = await stack.enter_async_context(aiohttp.ClientSession())
        world = ClusterWorld(database_url, redis, tmp_path, http, stack)
        yield world
        # Nodes stop before Redis and the database go (the stack unwinds in reverse).


async def healthz(http: aiohttp.ClientSession, node: ServerProcess) -> int:
    try:
        async with http.get(node.url + "/healthz") as response:
            return response.status
    except aiohttp.ClientError:
        return 0
