"""mount(): one endpoint per app, several sockets on it, routes checked when mounted."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpClient

import phxpy
from examples.twin import RoomChannel, UserSocket
from phxpy import Channel, Endpoint, Ok, Reply, Socket
from phxpy.testing import FakeClock, connect
from phxpy.types import Payload

from .test_websocket_raw import WS, closed, nothing_before_heartbeat


def test_a_second_endpoint_for_an_app_is_refused() -> None:
    """Its connections would be neither swept nor closed at shutdown, and app[ENDPOINT]
    would name the first one: a clear error at mount instead."""
    app = web.Application()
    first = phxpy.mount(app, "/socket", UserSocket)
    assert phxpy.mount(app, "/other", UserSocket) is first
    assert phxpy.mount(app, "/third", UserSocket, endpoint=first) is first
    with pytest.raises(ValueError, match="already has an endpoint"):
        phxpy.mount(app, "/fourth", UserSocket, endpoint=Endpoint())
    assert app[phxpy.ENDPOINT] is first


async def test_every_mount_of_an_app_is_swept(aiohttp_client: AiohttpClient) -> None:
    """The idle sweeper runs as often as the mount with the shortest idle timeout needs."""
    clock = FakeClock()
    app = web.Application()
    phxpy.mount(app, "/socket", UserSocket, endpoint=Endpoint(clock=clock), check_origin=False)
    phxpy.mount(app, "/quick", UserSocket, idle_timeout=8, check_origin=False)
    client = await aiohttp_client(app)
    async with (
        client.ws_connect(WS) as patient,
        client.ws_connect(WS.replace("/socket/", "/quick/")) as quick,
    ):
        await nothing_before_heartbeat(quick)
        clock.advance(9)
        assert await closed(quick) == 1002
        await nothing_before_heartbeat(patient)


def test_routes_must_name_channels() -> None:
    class NotAChannel:
        pass

    class Wrong(Socket):
        channels = [("room:*", NotAChannel)]

    with pytest.raises(TypeError, match=r"not a phxpy\.Channel subclass"):
        phxpy.mount(web.Application(), "/socket", Wrong)
    with pytest.raises(ValueError, match="wildcard"):

        class Misplaced(Socket):
            channels = [("room:*:x", RoomChannel)]


class Admin(Channel):
    async def join(self, payload: Payload) -> Reply:
        return Ok({"admin": self.topic})


class AdminSocket(UserSocket):
    channels = [*UserSocket.channels, ("admin:*", Admin)]


class QuietSocket(UserSocket):
    """No routes of its own: it inherits its parent's."""


async def test_subclasses_inherit_and_extend_routes() -> None:
    assert QuietSocket.route("room:lobby") is RoomChannel
    assert AdminSocket.route("admin:1") is Admin and AdminSocket.route("room:1") is RoomChannel
    assert UserSocket.route("admin:1") is None  # the parent is untouched
    params: dict[str, Any] = {"token": "good-token"}
    async with connect(AdminSocket, params) as client:
        assert (await client.join("admin:1")).response == {"admin": "admin:1"}
        assert (await client.join("room:lobby")).status == "ok"
    async with connect(UserSocket, params) as client:
        reply = await client.join("admin:1")
        assert reply.response == {"reason": "unmatched topic"}


async def test_sockets_and_channels_reach_the_app() -> None:
    """The app a socket is mounted on (or the one a test gives) is ``self.app`` in
    ``connect`` and in every channel callback, and ``connect`` sees the request."""
    greeting = web.AppKey("greeting", str)
    seen: list[Any] = []

    class Hello(Channel):
        async def join(self, payload: Payload) -> Reply:
            return Ok({"greeting": self.app[greeting], "same": self.app is self.socket.app})

    class HelloSocket(Socket):
        channels = [("hello", Hello)]

        async def connect(self, params: dict[str, Any], info: phxpy.ConnectInfo) -> bool:
            seen.append((self.app[greeting], info.request))
            return True

    app = web.Application()
    app[greeting] = "hi"
    async with connect(HelloSocket, app=app) as client:
        reply = await client.join("hello")
        assert reply.response == {"greeting": "hi", "same": True}
    assert seen == [("hi", None)]  # no HTTP request in phxpy.testing


async def test_connect_sees_the_request(aiohttp_client: AiohttpClient) -> None:
    requests: list[web.Request] = []
    marker = web.AppKey("marker", str)

    class Recording(Socket):
        async def connect(self, params: dict[str, Any], info: phxpy.ConnectInfo) -> bool:
            assert info.request is not None
            requests.append(info.request)
            return self.app[marker] == "ours"

    app = web.Application()
    app[marker] = "ours"
    phxpy.mount(app, "/socket", Recording, check_origin=False, longpoll=True)
    client = await aiohttp_client(app)
    async with client.ws_connect("/socket/websocket?vsn=2.0.0", headers={"X-Seen": "1"}):
        pass
    assert (await client.get("/socket/longpoll?vsn=2.0.0")).status == 200
    assert [r.path for r in requests] == ["/socket/websocket", "/socket/longpoll"]
    assert requests[0].headers["X-Seen"] == "1"
