"""Telemetry: the events an application hooks on its endpoint, for one scripted session
over each transport."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from pytest_aiohttp import AiohttpClient

from examples.twin import RoomChannel, UserSocket, create_app
from phxpy import Endpoint, telemetry
from phxpy.testing import FakeClock

from .test_longpoll_raw import LOBBY, LongPoller, until
from .test_websocket_raw import WS, frame

EVENTS = (
    telemetry.SocketConnected,
    telemetry.SocketClosed,
    telemetry.ChannelJoined,
    telemetry.ChannelClosed,
    telemetry.HandledIn,
    telemetry.Broadcasted,
    telemetry.ClientDropped,
    telemetry.LongPollStarted,
    telemetry.LongPollEnded,
    telemetry.LimitHit,
)


def record(endpoint: Endpoint) -> list[Any]:
    seen: list[Any] = []
    for kind in EVENTS:
        endpoint.attach(kind, seen.append)
    return seen


def summary(events: list[Any]) -> list[tuple[Any, ...]]:
    """The events without their durations (which vary)."""
    out: list[tuple[Any, ...]] = []
    for event in events:
        fields = {k: getattr(event, k) for k in event.__slots__ if k != "duration"}
        out.append((type(event).__name__, *fields.values()))
    return out


async def test_a_websocket_session_tells_everything(aiohttp_client: AiohttpClient) -> None:
    endpoint = Endpoint()
    seen = record(endpoint)
    client = await aiohttp_client(create_app(endpoint=endpoint))
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect("/socket/websocket?vsn=2.0.0&token=wrong")
    assert refused.value.status == 403
    async with client.ws_connect(WS) as ws:
        for message in (
            ["1", "1", "room:lobby", "phx_join", {}],
            ["2", "2", "room:private", "phx_join", {}],
            ["1", "3", "room:lobby", "ping", {"n": 1}],
            ["1", "4", "room:lobby", "error_reply", {}],
            ["1", "5", "room:lobby", "shout", {"hi": 1}],
            ["1", "6", "room:lobby", "crash", {}],
        ):
            await ws.send_str(json.dumps(message))
        answers = [(await frame(ws))[3] for _ in range(6)]
        assert answers == ["phx_reply"] * 4 + ["shout", "phx_error"]
    await until(lambda: any(isinstance(e, telemetry.SocketClosed) for e in seen))
    assert summary(seen) == [
        ("SocketConnected", "websocket", UserSocket, "refused", 403),
        ("SocketConnected", "websocket", UserSocket, "ok", None),
        ("ChannelJoined", "room:lobby", RoomChannel, "ok", {"joined": True, "echo": {}}),
        ("ChannelJoined", "room:private", RoomChannel, "error", {"reason": "unauthorized"}),
        ("HandledIn", "room:lobby", "ping", RoomChannel, "ok", {"n": 1}),
        ("HandledIn", "room:lobby", "error_reply", RoomChannel, "error", {"reason": "nope"}),
        ("Broadcasted", "room:lobby", "shout", 1),
        ("HandledIn", "room:lobby", "shout", RoomChannel, "noreply", None),
        ("ChannelClosed", "room:lobby", RoomChannel, "crash"),
        ("HandledIn", "room:lobby", "crash", RoomChannel, "crash", None),
        ("SocketClosed", "websocket", UserSocket),
    ]
    assert all(getattr(e, "duration", 0.0) >= 0.0 for e in seen)


async def test_a_longpoll_session_tells_its_start_and_end(aiohttp_client: AiohttpClient) -> None:
    clock = FakeClock()
    endpoint = Endpoint(clock=clock)
    seen = record(endpoint)
    client = await aiohttp_client(create_app(endpoint=endpoint, max_outbound_bytes=4096))
    poller = LongPoller(client)
    await poller.open()
    await poller.join()
    status, _ = await poller.post(json.dumps(["3", "4", LOBBY, "phx_leave", {}]))
    assert status == 200
    await poller.reply("4")
    await poller.join(join_ref="5")
    for _ in range(10):  # the client stops polling: its buffer overflows
        await client.post(f"/admin/broadcast?topic={LOBBY}&event=news", json={"pad": "x" * 600})
    await until(lambda: any(isinstance(e, telemetry.SocketClosed) for e in seen))
    kinds = summary(seen)
    assert kinds[:3] == [
        ("SocketConnected", "longpoll", UserSocket, "ok", None),
        ("LongPollStarted", UserSocket),
        ("ChannelJoined", LOBBY, RoomChannel, "ok", {"joined": True, "echo": {}}),
    ]
    assert ("ChannelClosed", LOBBY, RoomChannel, "left") in kinds
    dropped = kinds.index(("ClientDropped", "longpoll", pytest.approx(4096, abs=700)))
    assert [k for k in kinds[dropped + 1 :] if k[0] != "Broadcasted"] == [
        ("LongPollEnded", UserSocket, "overflow"),
        ("ChannelClosed", LOBBY, RoomChannel, "closed"),
        ("SocketClosed", "longpoll", UserSocket),
    ]


async def test_nothing_is_measured_for_events_nobody_hooks(
    aiohttp_client: AiohttpClient,
) -> None:
    """A handler that raises is logged; the connection does not notice."""
    endpoint = Endpoint()

    def broken(event: telemetry.HandledIn) -> None:
        raise RuntimeError("a bug in the app's handler")

    endpoint.attach(telemetry.HandledIn, broken)
    assert endpoint.telemetry.wants(telemetry.HandledIn)
    assert not endpoint.telemetry.wants(telemetry.ChannelJoined)
    client = await aiohttp_client(create_app(endpoint=endpoint))
    async with client.ws_connect(WS) as ws:
        await ws.send_str('["1","1","room:lobby","phx_join",{}]')
        assert (await frame(ws))[4]["status"] == "ok"
        await ws.send_str('["1","2","room:lobby","ping",{"n":2}]')
        assert (await frame(ws))[4] == {"status": "ok", "response": {"n": 2}}
    endpoint.telemetry.detach(telemetry.HandledIn, broken)
    assert not endpoint.telemetry.wants(telemetry.HandledIn)
