"""Raw frames over a real WebSocket: the edge cases phoenix.js itself never sends."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

import phxpy
from examples.twin import UserSocket, create_app
from phxpy import ConnectInfo, Endpoint, Socket
from phxpy.testing import FakeClock

WS = "/socket/websocket?vsn=2.0.0&token=good-token&user=al"
HEARTBEAT = '[null,"hb","phoenix","heartbeat",{}]'


async def frame(ws: aiohttp.ClientWebSocketResponse) -> Any:
    msg = await asyncio.wait_for(ws.receive(), 5)
    assert msg.type is WSMsgType.TEXT, msg
    return json.loads(msg.data)


async def closed(ws: aiohttp.ClientWebSocketResponse) -> int | None:
    """The code of the server's close frame (what a browser or ``ws`` reports)."""
    msg = await asyncio.wait_for(ws.receive(), 5)
    while msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
        msg = await asyncio.wait_for(ws.receive(), 5)
    if msg.type is WSMsgType.CLOSE:
        return int(msg.data)
    assert msg.type in (WSMsgType.CLOSED, WSMsgType.CLOSING), msg
    return ws.close_code


async def nothing_before_heartbeat(ws: aiohttp.ClientWebSocketResponse) -> None:
    """Proves nothing else was sent: the next frame is the answer to a fresh heartbeat."""
    await ws.send_str(HEARTBEAT)
    assert (await frame(ws))[:4] == [None, "hb", "phoenix", "phx_reply"]


@pytest.fixture
async def twin(aiohttp_client: AiohttpClient) -> TestClient[web.Request, web.Application]:
    return await aiohttp_client(create_app())


async def test_server_sends_nothing_on_open(twin: TestClient[Any, Any]) -> None:
    async with twin.ws_connect(WS) as ws:
        await nothing_before_heartbeat(ws)


async def test_connect_params_follow_plug_rules(aiohttp_client: AiohttpClient) -> None:
    seen: list[dict[str, Any]] = []

    class Recording(Socket):
        async def connect(self, params: dict[str, Any], connect_info: ConnectInfo) -> bool:
            seen.append(params)
            return True

    app = web.Application()
    phxpy.mount(app, "/socket", Recording, check_origin=False)
    client = await aiohttp_client(app)
    async with client.ws_connect("/socket/websocket?user_token=abc&ids[0]=1&vsn=2.0.0"):
        pass
    assert seen == [{"user_token": "abc", "ids": {"0": "1"}, "vsn": "2.0.0"}]


async def test_missing_vsn_speaks_v1(twin: TestClient[Any, Any]) -> None:
    async with twin.ws_connect("/socket/websocket?token=good-token") as ws:
        await ws.send_str('{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"1"}')
        assert await frame(ws) == {
            "event": "phx_reply",
            "payload": {"response": {}, "status": "ok"},
            "ref": "1",
            "topic": "phoenix",
        }


@pytest.mark.parametrize(
    "path",
    [
        "/socket/websocket?vsn=123.1.1&token=good-token",
        "/socket/websocket?vsn=abc&token=good-token",
        "/socket/websocket?vsn[a]=1&token=good-token",
        "/socket/websocket?vsn=2.0.0&token=bad-token",
    ],
)
async def test_refused_connects_answer_403(twin: TestClient[Any, Any], path: str) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await twin.ws_connect(path)
    assert refused.value.status == 403


async def test_wrong_method_and_plain_get_answer_400(twin: TestClient[Any, Any]) -> None:
    assert (await twin.post("/socket/websocket?vsn=2.0.0")).status == 400
    assert (await twin.get("/socket/websocket?vsn=2.0.0&token=good-token")).status == 400


async def test_origin_is_checked_by_default(aiohttp_client: AiohttpClient) -> None:
    app = web.Application()
    phxpy.mount(app, "/socket", UserSocket)
    client = await aiohttp_client(app)
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect(WS, headers={"Origin": "http://evil.example"})
    assert refused.value.status == 403
    own = f"http://{client.host}:{client.port}"
    async with client.ws_connect(WS, headers={"Origin": own}) as ws:
        await nothing_before_heartbeat(ws)
    async with client.ws_connect(WS) as ws:  # no Origin header: not a browser
        await nothing_before_heartbeat(ws)


@pytest.mark.parametrize("alphabet", ["standard", "urlsafe"])
async def test_auth_token_subprotocol(aiohttp_client: AiohttpClient, alphabet: str) -> None:
    tokens: list[str | None] = []

    class TokenSocket(Socket):
        async def connect(self, params: dict[str, Any], connect_info: ConnectInfo) -> bool:
            tokens.append(connect_info.auth_token)
            return connect_info.auth_token is not None

    app = web.Application()
    phxpy.mount(app, "/socket", TokenSocket, check_origin=False)
    client = await aiohttp_client(app)
    token = "tok/en+with?/slashes>>"  # its standard base64 has "/" and "+"
    encode = base64.b64encode if alphabet == "standard" else base64.urlsafe_b64encode
    encoded = encode(token.encode()).decode().rstrip("=")
    async with client.ws_connect(
        "/socket/websocket?vsn=2.0.0", protocols=("phoenix", f"base64url.bearer.phx.{encoded}")
    ) as ws:
        assert ws.protocol == "phoenix"
        await nothing_before_heartbeat(ws)
    assert tokens == [token]


async def test_unacceptable_subprotocol_is_refused(twin: TestClient[Any, Any]) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await twin.ws_connect(WS, protocols=("mqtt",))
    assert refused.value.status == 403


async def test_unmatched_topic_and_stale_join_ref_keep_the_connection(
    twin: TestClient[Any, Any],
) -> None:
    async with twin.ws_connect(WS) as ws:
        await ws.send_str('["1","1","nope","phx_join",{}]')
        assert await frame(ws) == [
            None,
            "1",
            "nope",
            "phx_reply",
            {"response": {"reason": "unmatched topic"}, "status": "error"},
        ]
        await ws.send_str('["6","6","room:lobby","phx_join",{}]')
        assert (await frame(ws))[4]["status"] == "ok"
        await ws.send_str('["1","8","room:lobby","ping",{}]')  # stale join_ref: dropped
        await nothing_before_heartbeat(ws)
        await ws.send_str('[null,"9","room:lobby","ping",{"n":1}]')  # null join_ref: delivered
        assert await frame(ws) == [
            "6",
            "9",
            "room:lobby",
            "phx_reply",
            {"response": {"n": 1}, "status": "ok"},
        ]


@pytest.mark.parametrize(
    ("send", "code"),
    [
        ("hello", 1011),
        ('{"topic":"x"}', 1011),
        ('["1","2","t","e"]', 1011),
        (b"\x01\x00\x00\x01\x01te", 1011),
        (b"\x00\x00\x00\x09\x01t", 1011),
    ],
)
async def test_malformed_frames_close_1011(
    twin: TestClient[Any, Any], send: str | bytes, code: int
) -> None:
    async with twin.ws_connect(WS) as ws:
        if isinstance(send, bytes):
            await ws.send_bytes(send)
        else:
            await ws.send_str(send)
        assert await closed(ws) == code


async def test_binary_on_v1_that_is_not_json_closes_1011(twin: TestClient[Any, Any]) -> None:
    async with twin.ws_connect("/socket/websocket?token=good-token") as ws:
        await ws.send_bytes(b"\x00\x00\x00\x01\x01te")
        assert await closed(ws) == 1011


V1_MESSAGES = [
    {"topic": "phoenix", "event": "heartbeat", "payload": {}, "ref": "1"},
    {"topic": "room:lobby", "event": "phx_join", "payload": {"a": 1}, "ref": "2", "join_ref": "2"},
    {"topic": "room:lobby", "event": "ping", "payload": {"n": 1}, "ref": "3", "join_ref": "2"},
    {"topic": "room:lobby", "event": "shout", "payload": {"b": 2}, "ref": "4", "join_ref": "2"},
    {"topic": "room:other", "event": "ping", "payload": {}, "ref": "5"},
]
V1_LEAVE = {"topic": "room:lobby", "event": "phx_leave", "payload": {}, "ref": "6", "join_ref": "2"}


async def v1_session(twin: TestClient[Any, Any], binary: bool) -> list[Any]:
    """What the server answers to :data:`V1_MESSAGES` (five frames: four replies and the
    shout), then to :data:`V1_LEAVE` (a reply and phx_close), each message sent as a text or
    a binary frame; sorted, since replies from the channel and from the socket interleave."""
    answers: list[Any] = []

    async def send(message: dict[str, Any], expect: int) -> None:
        text = json.dumps(message)
        await (ws.send_bytes(text.encode()) if binary else ws.send_str(text))
        for _ in range(expect):
            answers.append(await frame(ws))

    async with twin.ws_connect("/socket/websocket?token=good-token&user=al") as ws:
        for message in V1_MESSAGES:
            await send(message, 0)
        for _ in range(5):
            answers.append(await frame(ws))
        await send(V1_LEAVE, 2)
        await ws.send_str('{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"hb"}')
        assert (await frame(ws))["ref"] == "hb"  # nothing else was sent
    return sorted(answers, key=lambda a: (a["topic"], a["ref"] or "", a["event"]))


async def test_v1_json_in_binary_frames_gets_the_same_answers_as_text(
    twin: TestClient[Any, Any],
) -> None:
    """A V1 client (no vsn) that sends its JSON in binary frames, as Python clients built on
    ``websockets`` do, is served as Phoenix's V1 serializer serves it: like text frames
    (the server still answers in text frames). It used to be closed with 1011."""
    as_text = await v1_session(twin, binary=False)
    as_binary = await v1_session(twin, binary=True)
    assert as_binary == as_text
    assert [(a["topic"], a["event"], a["ref"]) for a in as_text] == [
        ("phoenix", "phx_reply", "1"),
        ("room:lobby", "shout", None),
        ("room:lobby", "phx_close", "2"),
        ("room:lobby", "phx_reply", "2"),
        ("room:lobby", "phx_reply", "3"),
        ("room:lobby", "phx_reply", "6"),
        ("room:other", "phx_reply", "5"),
    ]
    assert as_text[3]["payload"] == {
        "response": {"echo": {"a": 1}, "joined": True},
        "status": "ok",
    }
    assert as_text[6]["payload"] == {"response": {"reason": "unmatched topic"}, "status": "error"}


async def test_oversized_frame_closes_1009(aiohttp_client: AiohttpClient) -> None:
    client = await aiohttp_client(create_app(max_frame_size=1024))
    async with client.ws_connect(WS) as ws:
        await ws.send_str(json.dumps(["1", "1", "room:lobby", "phx_join", {"x": "y" * 2000}]))
        assert await closed(ws) == 1009


async def test_a_bad_client_does_not_disturb_the_room(twin: TestClient[Any, Any]) -> None:
    async with twin.ws_connect(WS) as good, twin.ws_connect(WS) as bad:
        for ws in (good, bad):
            await ws.send_str('["1","1","room:lobby","phx_join",{}]')
            assert (await frame(ws))[4]["status"] == "ok"
        await bad.send_str("not json")
        assert await closed(bad) == 1011
        await good.send_str('["1","2","room:lobby","shout",{"still":"here"}]')
        assert await frame(good) == [None, None, "room:lobby", "shout", {"still": "here"}]


async def test_crash_errors_only_that_topic(twin: TestClient[Any, Any]) -> None:
    async with twin.ws_connect(WS) as ws:
        await ws.send_str('["1","1","room:a","phx_join",{}]')
        await ws.send_str('["2","2","room:b","phx_join",{}]')
        assert (await frame(ws))[4]["status"] == "ok"
        assert (await frame(ws))[4]["status"] == "ok"
        await ws.send_str('["1","3","room:a","crash",{}]')
        assert await frame(ws) == ["1", "1", "room:a", "phx_error", {"reason": "channel_crash"}]
        await ws.send_str('["2","4","room:b","ping",{"alive":true}]')
        assert (await frame(ws))[4] == {"response": {"alive": True}, "status": "ok"}
        await ws.send_str('["1","5","room:a","ping",{}]')
        assert (await frame(ws))[4]["response"] == {"reason": "unmatched topic"}


async def test_idle_connection_is_closed_with_a_reconnectable_code(
    aiohttp_client: AiohttpClient,
) -> None:
    clock = FakeClock()
    client = await aiohttp_client(create_app(endpoint=Endpoint(clock=clock)))
    async with client.ws_connect(WS) as quiet, client.ws_connect(WS) as chatty:
        await nothing_before_heartbeat(quiet)
        clock.advance(40)
        await nothing_before_heartbeat(chatty)  # chatty's frame resets its idle timer
        clock.advance(21)  # quiet: 61 s since its last frame; chatty: 21 s
        assert await closed(quiet) == 1002
        await nothing_before_heartbeat(chatty)


async def test_websocket_pings_count_as_activity(aiohttp_client: AiohttpClient) -> None:
    clock = FakeClock()
    client = await aiohttp_client(create_app(endpoint=Endpoint(clock=clock)))
    async with client.ws_connect(WS, autoping=False) as ws:
        clock.advance(50)
        await ws.ping(b"still here")
        pong = await asyncio.wait_for(ws.receive(), 5)
        assert (pong.type, pong.data) == (WSMsgType.PONG, b"still here")
        clock.advance(50)  # 100 s since the last frame, 50 s since the ping
        await nothing_before_heartbeat(ws)


async def test_disconnect_by_socket_id_closes_every_tab_with_1001(
    twin: TestClient[Any, Any],
) -> None:
    async with (
        twin.ws_connect(WS) as tab1,
        twin.ws_connect(WS) as tab2,
        twin.ws_connect("/socket/websocket?vsn=2.0.0&token=good-token&user=bo") as other,
    ):
        await nothing_before_heartbeat(tab2)
        await nothing_before_heartbeat(other)
        assert (await twin.post("/admin/disconnect?user=al")).status == 200
        assert await closed(tab1) == 1001
        assert await closed(tab2) == 1001
        await nothing_before_heartbeat(other)


async def test_shutdown_closes_sockets_with_1012(aiohttp_client: AiohttpClient) -> None:
    """1012 (service restart), as Phoenix's drainer: phoenix.js reconnects."""
    client = await aiohttp_client(create_app())
    ws = await client.ws_connect(WS)
    await nothing_before_heartbeat(ws)
    shutdown = asyncio.ensure_future(client.server.runner.shutdown())  # type: ignore[union-attr]
    assert await closed(ws) == 1012
    await shutdown


async def raw_upgrade(client: TestClient[Any, Any]) -> tuple[asyncio.StreamReader, Any]:
    """A WebSocket client written by hand, to see every byte the server sends."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(
        b"GET " + WS.encode() + b" HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    )
    assert b"101" in await reader.readuntil(b"\r\n\r\n")
    return reader, writer


def masked(opcode: int, data: bytes) -> bytes:
    assert len(data) < 126
    return bytes((0x80 | opcode, 0x80 | len(data))) + b"\0\0\0\0" + data  # a zero mask


async def server_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await asyncio.wait_for(reader.readexactly(2), 5)
    size = head[1] & 0x7F
    if size == 126:
        size = int.from_bytes(await reader.readexactly(2), "big")
    elif size == 127:
        size = int.from_bytes(await reader.readexactly(8), "big")
    return head[0] & 0x0F, await reader.readexactly(size)


async def test_a_client_that_stops_reading_is_dropped_not_waited_for(
    aiohttp_client: AiohttpClient,
) -> None:
    # The good client sends megabytes to make the broadcasts: no inbound budget here.
    app = create_app(max_outbound_bytes=256 * 1024, inbound_bytes_per_second=None)
    client = await aiohttp_client(app)
    reader, writer = await raw_upgrade(client)
    writer.write(masked(0x1, json.dumps(["1", "1", "room:lobby", "phx_join", {}]).encode()))
    await writer.drain()
    # The stalled client never reads again. A good client keeps getting every broadcast.
    async with client.ws_connect(WS) as good:
        await good.send_str('["1","1","room:lobby","phx_join",{}]')
        assert (await frame(good))[4]["status"] == "ok"
        big = {"blob": "x" * 60_000}
        for n in range(200):  # ~12 MB: far more than any socket buffer holds
            await good.send_str(json.dumps(["1", str(n + 2), "room:lobby", "shout", big]))
            assert (await frame(good))[3] == "shout"
    await asyncio.wait_for(reader.read(), 10)  # returns at EOF: the server dropped it
    writer.close()


async def test_nothing_is_written_after_the_servers_close_frame(
    aiohttp_client: AiohttpClient,
) -> None:
    """RFC 6455 forbids data frames after a Close frame. When the server closes a connection
    (here: a disconnect by socket id) while that connection's reader is busy (a slow join),
    aiohttp writes Close and waits for the client's; the connection's channels are still
    subscribed meanwhile. The fastlane used to check only the transport, which stays open
    until the client answers, and wrote the room's broadcasts after the Close frame."""
    joining, gate = asyncio.Event(), asyncio.Event()

    class SlowJoin(phxpy.Channel):
        async def join(self, payload: Any) -> phxpy.Reply:
            joining.set()
            await gate.wait()
            return phxpy.Ok()

    class Sockets(UserSocket):
        channels = [("slow:*", SlowJoin), *UserSocket.channels]

    app = web.Application()
    endpoint = phxpy.mount(app, "/socket", Sockets, check_origin=False)
    client = await aiohttp_client(app)
    reader, writer = await raw_upgrade(client)
    writer.write(masked(0x1, b'["1","1","room:lobby","phx_join",{}]'))
    opcode, data = await server_frame(reader)
    assert opcode == 0x1 and json.loads(data)[3] == "phx_reply"
    writer.write(masked(0x1, b'["2","2","slow:1","phx_join",{}]'))
    await joining.wait()  # the connection's reader is busy in the join

    await endpoint.disconnect("users_socket:al")
    opcode, data = await server_frame(reader)
    assert (opcode, int.from_bytes(data[:2], "big")) == (0x8, 1001)
    await endpoint.broadcast("room:lobby", "shout", {"after": "close"})
    gate.set()

    writer.write(masked(0x8, (1000).to_bytes(2, "big")))  # the client's Close: the end
    assert await asyncio.wait_for(reader.read(), 5) == b""  # not one byte after Close
    writer.close()
