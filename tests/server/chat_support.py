"""A live ticket chat for the chat tests: the whole app (REST + socket) on a loopback port,
with a :class:`SteppingClock` so the rooms' schedule moves only when a test moves time.

Import the fixtures into a test module: ``from tests.server.chat_support import world``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from phxpy.testing import ChannelClient, connect
from server.app import create_app
from server.chat.alarm import SteppingClock
from server.chat.setup import CHAT, Chat
from server.chat.socket import UserSocket
from server.config import Settings
from tests.phoenixjs import Client, ws_url
from tests.server.api_client import Api, Session
from tests.server.conftest import START

AiohttpClient = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]

# The chat's event, relative to the clock's start: it opens a day later.
EVENT_START = START + timedelta(days=1)
EVENT_END = EVENT_START + timedelta(hours=4)
OPENS = EVENT_START - timedelta(hours=2)
TOKEN_TTL = 30 * 24 * 3600


def fmt(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def build_app(settings: Settings, clock: SteppingClock) -> web.Application:
    return create_app(settings, clock=clock)


@dataclass
class World:
    api: Api
    client: TestClient[Any, Any]
    clock: SteppingClock

    @property
    def chat(self) -> Chat:
        return self.client.app[CHAT]

    @property
    def url(self) -> str:
        return ws_url(self.client.server)

    def socket(self, user: Session) -> AbstractAsyncContextManager[ChannelClient]:
        """A socket of ``user`` through phxpy.testing (no network)."""
        return connect(UserSocket, {"token": user.token}, app=self.client.app)

    async def event(self, **fields: Any) -> dict[str, Any]:
        return await self.api.create_event(
            start_time=fmt(EVENT_START), end_time=fmt(EVENT_END), **fields
        )

    async def ticket(self, event_id: str, number: str | None = None) -> str:
        return str((await self.api.create_ticket(event_id, number))["ticket_number"])

    async def sign_in(self, user: Session) -> str:
        """A fresh token (the test tokens live an hour; the story spans days)."""
        body = await self.api.post(
            "/api/users/sign_in",
            {"email": user.email, "password_hash": user.password},
            expected=200,
        )
        return str(body["data"]["token"])

    async def move_to(self, moment: datetime) -> None:
        """Set the clock and wait for a schedule pass (the woken loop runs one too; whichever
        comes first takes the due steps, the other finds nothing left)."""
        self.clock.set(moment)
        await self.chat.scheduler.run_due()

    @asynccontextmanager
    async def open_room(self, members: int) -> AsyncIterator[tuple[str, list[ChannelClient]]]:
        """An event whose room is open, and ``members`` signed-up users joined to it, each
        on a socket of their own: yields the room's topic and their clients."""
        event = await self.event()
        users = [await self.api.sign_up() for _ in range(members)]
        await self.move_to(OPENS)
        async with AsyncExitStack() as stack:
            clients = [await stack.enter_async_context(self.socket(user)) for user in users]
            for client, user in zip(clients, users, strict=True):
                await self.member(client, event["id"], user)
            yield f"event:{event['id']}", clients

    async def member(self, client: ChannelClient, event_id: str, user: Session) -> None:
        """Join with a fresh ticket of the event, assigned to ``user`` by the service."""
        ticket = await self.api.create_ticket(event_id)
        await self.api.assign(ticket["id"], user.id)
        reply = await client.join(f"event:{event_id}", {"ticket_number": ticket["ticket_number"]})
        assert reply.status == "ok", reply.payload


@pytest.fixture
def stepping_clock() -> SteppingClock:
    return SteppingClock(START)


@pytest.fixture
async def world(
    aiohttp_client: AiohttpClient, settings: Settings, stepping_clock: SteppingClock
) -> AsyncIterator[World]:
    # Tokens that outlive the story (it spans days); the expiry test sets its own.
    settings = replace(settings, token_ttl_seconds=TOKEN_TTL)
    client = await aiohttp_client(build_app(settings, stepping_clock))
    yield World(Api(client), client, stepping_clock)


PRESENCE_EVENTS = frozenset({"presence_state", "presence_diff", "presence_mode", "presence_count"})


def presence_frames(client: Client, topic: str, since: int = 0) -> list[tuple[str, Any]]:
    """The presence messages a phoenix.js client received on ``topic``, in arrival order."""
    return [
        (event["name"], event.get("payload"))
        for event in client.events_since(since, event="message", topic=topic)
        if event["name"] in PRESENCE_EVENTS
    ]


def assert_presence_readable(
    frames: list[tuple[str, Any]], mode: str, own_key: str, *, joined: bool = False
) -> str:
    """Every presence message could be read by the mode last told when it came: the join
    reply's ``mode``, then each ``presence_mode``, which its ``presence_state`` follows before
    anything else. In count mode a ``presence_state`` holds only the member's own entries and
    no diff comes; in list mode no count comes. ``joined``: ``frames`` start at a join, and a
    joiner in count mode hears ``presence_mode`` first. Returns the mode told last."""
    if joined and mode == "count":
        assert frames[:1] == [("presence_mode", {"mode": "count"})], frames
    awaiting_state = False
    for n, (name, payload) in enumerate(frames):
        where = f"message {n} of {frames}"
        if awaiting_state:
            assert name == "presence_state", f"presence_mode without its state: {where}"
            awaiting_state = False
        if name == "presence_mode":
            mode, awaiting_state = payload["mode"], True
        elif name == "presence_count":
            assert mode == "count", f"a count in list mode: {where}"
        elif name == "presence_diff":
            assert mode == "list", f"a diff in count mode: {where}"
        elif mode == "count":
            assert set(payload) <= {own_key}, f"another's entries in count mode: {where}"
    assert not awaiting_state, f"presence_mode without its state: {frames}"
    return mode
