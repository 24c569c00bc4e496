"""Connecting to the socket with a user JWT, and losing it when the token dies."""

from __future__ import annotations

from datetime import timedelta

import aiohttp
import pytest
from aiohttp import WSMsgType

from tests.phoenixjs import PhoenixJS, phoenixjs
from tests.server.chat_support import TOKEN_TTL, World, stepping_clock, world

__all__ = ["phoenixjs", "stepping_clock", "world"]

WS = "/socket/websocket?vsn=2.0.0"


async def refused(world: World, query: str) -> int:
    with pytest.raises(aiohttp.WSServerHandshakeError) as error:
        await world.client.ws_connect(f"{WS}{query}")
    return error.value.status


async def test_a_valid_token_connects_as_its_user(world: World) -> None:
    fan = await world.api.sign_up()
    ws = await world.client.ws_connect(f"{WS}&token={fan.token}")
    await ws.send_str(f'["1","1","user:{fan.id}","phx_join",{{}}]')
    reply = await ws.receive_json()
    assert reply[3:] == ["phx_reply", {"status": "ok", "response": {}}]
    await ws.close()


async def test_missing_garbage_expired_and_revoked_tokens_are_refused(world: World) -> None:
    fan = await world.api.sign_up()
    assert await refused(world, "") == 403
    assert await refused(world, "&token=") == 403
    assert await refused(world, "&token=not.a.jwt") == 403
    await world.api.post("/api/users/sign_out", token=fan.token, expected=204)
    assert await refused(world, f"&token={fan.token}") == 403
    other = await world.api.sign_up()
    world.clock.advance(timedelta(seconds=TOKEN_TTL))
    assert await refused(world, f"&token={other.token}") == 403


@pytest.mark.parametrize("how", ["sign_out", "delete_user"])
async def test_losing_the_token_closes_live_sockets(world: World, how: str) -> None:
    fan = await world.api.sign_up()
    bystander = await world.api.sign_up()
    ws = await world.client.ws_connect(f"{WS}&token={fan.token}")
    other = await world.client.ws_connect(f"{WS}&token={bystander.token}")
    if how == "sign_out":
        await world.api.post("/api/users/sign_out", token=fan.token, expected=204)
    else:
        await world.api.delete(
            f"/api/users/delete_user/{fan.id}",
            json_body={"current_password": fan.password},
            token=fan.token,
            expected=204,
        )
    message = await ws.receive(timeout=5)
    assert message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED)
    assert ws.close_code == 1001
    assert not other.closed
    await other.close()


async def test_phoenix_js_long_poll_is_closed_by_sign_out_and_not_let_back(
    world: World, phoenixjs: PhoenixJS
) -> None:
    fan = await world.api.sign_up()
    client = await phoenixjs.connect(
        world.url, params={"token": fan.token}, transport="longpoll", reconnectAfterMs=[50]
    )
    assert (await client.join(f"user:{fan.id}"))["status"] == "ok"
    mark = phoenixjs.mark()
    await world.api.post("/api/users/sign_out", token=fan.token, expected=204)
    await client.expect(event="channel_error", topic=f"user:{fan.id}", since=mark)
    # phoenix.js keeps trying with the dead token; it never gets back in.
    await client.expect(event="error", since=mark)
    state = await client.state()
    assert state["channels"][f"user:{fan.id}"] != "joined"
    await client.forget()
