"""A socket lives no longer than its token, and the README's way for a phoenix.js app to
carry on (a params function, a fresh token when the close says so) works.

Two clocks move, never the real one: the service's wall clock (the token's expiry) and
phxpy's (the socket's deadline)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from phxpy import Endpoint
from phxpy.testing import FakeClock
from server.app import create_app
from server.chat.alarm import SteppingClock
from server.chat.socket import TOKEN_EXPIRED
from server.config import Settings
from tests.phoenixjs import PhoenixJS, phoenixjs, ws_url
from tests.server.api_client import Api
from tests.server.chat_support import AiohttpClient, stepping_clock

__all__ = ["phoenixjs", "stepping_clock"]

TTL = 8
"""Short enough that moving phxpy's clock past it crosses no LongPoll poll window (10 s)."""
CLOSE_CODE = {"websocket": TOKEN_EXPIRED, "longpoll": 1008}
"""What phoenix.js reports: the server's close code over WebSocket; over LongPoll, whose
session simply ends, the refusal of the next poll (an error, then a close with 1008)."""


@pytest.mark.parametrize("transport", ["websocket", "longpoll"])
async def test_an_expired_token_closes_its_socket_and_a_fresh_one_brings_it_back(
    aiohttp_client: AiohttpClient,
    settings: Settings,
    stepping_clock: SteppingClock,
    phoenixjs: PhoenixJS,
    transport: str,
) -> None:
    socket_clock = FakeClock()
    app = create_app(
        replace(settings, token_ttl_seconds=TTL),
        clock=stepping_clock,
        endpoint=Endpoint(clock=socket_clock),
    )
    client = await aiohttp_client(app)
    api = Api(client)
    fan = await api.sign_up()
    page = await phoenixjs.connect(
        ws_url(client.server),
        transport=transport,
        params={"token": fan.token},
        reconnectAfterMs=[10],
    )
    topic = f"user:{fan.id}"
    assert (await page.join(topic))["status"] == "ok"
    mark = phoenixjs.mark()

    stepping_clock.advance(timedelta(seconds=TTL - 1))
    socket_clock.advance(TTL - 1)
    assert (await page.push(topic, "anything"))["status"] == "error"  # still connected
    assert not page.events_since(mark, event="close")

    stepping_clock.advance(timedelta(seconds=1))
    socket_clock.advance(1)
    closed = await page.expect(event="close", since=mark)
    assert closed["code"] == CLOSE_CODE[transport]
    # phoenix.js retries with the old token, refused each time, until the app gives it a
    # fresh one; then it reconnects and rejoins by itself.
    fresh: Any = await api.post(
        "/api/users/sign_in", {"email": fan.email, "password_hash": fan.password}, expected=200
    )
    await page.set_params({"token": fresh["data"]["token"]})
    rejoined = await page.expect(event="join", topic=topic, since=mark, timeout=10)
    assert rejoined["status"] == "ok"
