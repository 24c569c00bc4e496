"""How connections end on the server's initiative: at a deadline their socket set (a token's
expiry), and in batches spread over a window when the server shuts down. Everything runs on
a FakeClock."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpClient

import phxpy
from examples.twin import UserSocket
from phxpy import ConnectInfo, Endpoint
from phxpy.deadlines import Deadlines
from phxpy.testing import FakeClock

from .test_longpoll_raw import LongPoller, transport_of, until
from .test_websocket_raw import closed, nothing_before_heartbeat

WS = "/socket/websocket?vsn=2.0.0&token=good-token&user=al"


class ExpiringSocket(UserSocket):
    """Connections live ``ttl`` seconds, as if their token expired then."""

    async def connect(self, params: dict[str, Any], connect_info: ConnectInfo) -> bool:
        if not await super().connect(params, connect_info):
            return False
        self.expire_in(float(params.get("ttl", 30)), reason="token expired")
        return True


def expiring_app(clock: FakeClock, **options: Any) -> tuple[web.Application, Endpoint]:
    app = web.Application()
    endpoint = phxpy.mount(
        app,
        "/socket",
        ExpiringSocket,
        endpoint=Endpoint(clock=clock, **options),
        check_origin=False,
        longpoll=True,
        idle_timeout=None,
    )
    return app, endpoint


async def test_a_socket_lives_no_longer_than_its_deadline(aiohttp_client: AiohttpClient) -> None:
    clock = FakeClock()
    app, _ = expiring_app(clock)
    client = await aiohttp_client(app)
    async with (
        client.ws_connect(WS + "&ttl=30") as short,
        client.ws_connect(WS + "&ttl=90") as long,
    ):
        await nothing_before_heartbeat(short)
        clock.advance(29.9)
        await nothing_before_heartbeat(short)
        clock.advance(0.1)
        assert await closed(short) == phxpy.socket.EXPIRED == 4401
        assert short.close_code == 4401
        await nothing_before_heartbeat(long)
        clock.advance(60)
        assert await closed(long) == 4401


async def test_a_longpoll_session_ends_at_its_deadline(aiohttp_client: AiohttpClient) -> None:
    clock = FakeClock()
    app, _ = expiring_app(clock)
    client = await aiohttp_client(app)
    poller = LongPoller(client, "token=good-token&user=al&vsn=2.0.0&ttl=5")
    await poller.open()
    await poller.join()
    transport = transport_of(client)
    assert len(transport.sessions) == 1
    clock.advance(5)
    # The session is gone; the next POST learns it (phoenix.js then reconnects, and the
    # app's connect decides again).
    await until(lambda: not transport.sessions)
    assert await poller.post('["3","4","phoenix","heartbeat",{}]') == (200, {"status": 410})


async def test_deadlines_of_closed_connections_are_forgotten() -> None:
    clock = FakeClock()
    deadlines = Deadlines(clock)
    closed_with: list[tuple[str, int]] = []

    class Conn:
        def __init__(self, name: str) -> None:
            self.name = name

        def close(self, code: int, reason: str) -> None:
            closed_with.append((self.name, code))

    late, gone, early = Conn("late"), Conn("gone"), Conn("early")
    deadlines.add(late, 100.0, 4401, "x")
    deadlines.add(gone, 10.0, 4401, "x")
    await until(lambda: clock.sleepers == 1)
    deadlines.add(early, 5.0, 4402, "y")  # sooner than the timer sleeps for
    deadlines.discard(gone)
    assert len(deadlines) == 2
    await until(lambda: clock.sleepers >= 1)
    clock.advance(5)
    await until(lambda: bool(closed_with))
    assert closed_with == [("early", 4402)]
    clock.advance(95)
    await until(lambda: len(closed_with) == 2)
    assert closed_with == [("early", 4402), ("late", 4401)]
    assert len(deadlines) == 0


async def test_shutdown_spreads_the_closes_over_the_drain_window(
    aiohttp_client: AiohttpClient,
) -> None:
    """Ten sockets, a ten-second window: one closes at once, one more each second, all with
    1012; a connection attempted meanwhile is refused with 503."""
    clock = FakeClock()
    app, endpoint = expiring_app(clock, drain_window=10.0)
    client = await aiohttp_client(app)
    sockets = [await client.ws_connect(WS + "&ttl=1000") for _ in range(10)]
    for ws in sockets:
        await nothing_before_heartbeat(ws)
    shutdown = asyncio.create_task(endpoint.shutdown())
    for second in range(10):
        left = 9 - second
        await until(lambda left=left: endpoint.connection_count == left)
        if second == 0:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await client.ws_connect(WS)
            assert refused.value.status == 503
        if second < 9:
            await until(lambda: clock.sleepers > 0)
            assert endpoint.connection_count == left  # nobody else closed early
            clock.advance(1.0)
    await shutdown
    assert [await closed(ws) for ws in sockets] == [1012] * 10
