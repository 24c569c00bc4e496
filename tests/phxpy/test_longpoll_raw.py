"""Raw HTTP against ``/socket/longpoll``: what phoenix.js relies on, and the bad input it
never sends. The endpoint runs on a FakeClock, so the poll window and session expiry pass
only when a test advances it."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

import phxpy
from examples.twin import UserSocket, create_app
from phxpy import Channel, ConnectInfo, Endpoint, Ok, Reply, Socket
from phxpy.testing import FakeClock
from phxpy.transports.longpoll import LongPollTransport
from phxpy.transports.longpoll_session import LongPollSession

QUERY = "token=good-token&user=al&vsn=2.0.0"
NDJSON = {"Content-Type": "application/x-ndjson"}
LOBBY = "room:lobby"
JOIN = '["3","3","room:lobby","phx_join",{}]'
WAIT = 5.0

Client = TestClient[web.Request, web.Application]


async def until(condition: Callable[[], bool]) -> None:
    """Let the loop (and the loopback HTTP traffic) run until ``condition`` holds: a state
    of the server, not a duration, so no timing is assumed."""
    async with asyncio.timeout(WAIT):
        while not condition():  # noqa: ASYNC110 - the condition has no event to wait on
            await asyncio.sleep(0)


def transport_of(client: Client) -> LongPollTransport:
    for route in client.server.app.router.routes():
        owner = getattr(route.handler, "__self__", None)
        if isinstance(owner, LongPollTransport):
            return owner
    raise AssertionError("no longpoll route")


STALE = {"status": 403}
"""What the twin answers a poll that carries a dead session's token, as Phoenix does: connect
sees that token as the app's ``token`` param (the last one wins) and refuses it; phoenix.js
then reconnects with a fresh LongPoll and rejoins (1.7 included)."""


class LongPoller:
    """One LongPoll client speaking raw HTTP, the way phoenix.js 1.7/1.8 does."""

    def __init__(self, client: Client, query: str = QUERY) -> None:
        self.client = client
        self.query = query
        self.token: str | None = None
        self.inbox: list[Any] = []
        """Polled messages not yet matched by :meth:`receive`."""

    def url(self, token: str | None = None) -> str:
        token = token if token is not None else self.token
        # phoenix.js appends token=<session> (an empty segment while it has none).
        return f"/socket/longpoll?{self.query}&" + (f"token={token}" if token else "")

    async def get(self, token: str | None = None, **headers: str) -> dict[str, Any]:
        async with asyncio.timeout(WAIT):
            response = await self.client.get(self.url(token), headers=headers)
            assert response.status == 200
            body: dict[str, Any] = await response.json()
            return body

    async def open(self) -> str:
        body = await self.get()
        assert body["status"] == 410 and body["messages"] == [], body
        self.token = body["token"]
        return body["token"]

    async def post(
        self, *lines: str, token: str | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, Any]]:
        async with asyncio.timeout(WAIT):
            response = await self.client.post(
                self.url(token), data="\n".join(lines), headers=headers or NDJSON
            )
            return response.status, await response.json()

    async def messages(self) -> list[Any]:
        """One poll that must carry messages (they arrive in real time, not clock time)."""
        body = await self.get()
        assert body["status"] == 200, body
        assert body["token"] == self.token
        return [json.loads(message) for message in body["messages"]]

    async def receive(self, match: Callable[[Any], bool], seen: list[Any] | None = None) -> Any:
        """The first message (polled earlier or now) that matches; those before it are
        dropped, or go to ``seen``."""
        while True:
            while self.inbox:
                message = self.inbox.pop(0)
                if match(message):
                    return message
                if seen is not None:
                    seen.append(message)
            self.inbox.extend(await self.messages())

    async def reply(self, ref: str) -> Any:
        return await self.receive(lambda m: m[3] == "phx_reply" and m[1] == ref)

    async def join(self, topic: str = LOBBY, join_ref: str = "3") -> Any:
        status, body = await self.post(json.dumps([join_ref, join_ref, topic, "phx_join", {}]))
        assert (status, body) == (200, {"status": 200})
        return await self.reply(join_ref)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def twin(aiohttp_client: AiohttpClient, clock: FakeClock) -> Client:
    return await aiohttp_client(create_app(endpoint=Endpoint(clock=clock), presence=True))


async def poll_waiting(session: LongPollSession, clock: FakeClock, idle: int) -> None:
    """Until a poll waits on ``session`` and its window timer is armed on the clock
    (``idle``: the clock's sleepers before the poll)."""
    await until(lambda: session.polling and clock.sleepers > idle)


def session_of(client: Client, poller: LongPoller) -> LongPollSession:
    transport = transport_of(client)
    session_id = transport.signer.verify(poller.token)
    assert session_id is not None
    return transport.sessions[session_id]


# ---------------------------------------------------------------------- sessions


async def test_session_creation_answers_410_with_a_token(twin: Client) -> None:
    response = await twin.get(f"/socket/longpoll?{QUERY}&")
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Cache-Control"] == "no-store"
    body = await response.json()
    assert list(body) == ["messages", "status", "token"]
    assert body["messages"] == [] and body["status"] == 410
    assert isinstance(body["token"], str) and body["token"]


async def test_empty_poll_is_held_for_the_window_then_204(twin: Client, clock: FakeClock) -> None:
    poller = LongPoller(twin)
    token = await poller.open()
    session = session_of(twin, poller)
    idle = clock.sleepers
    poll = asyncio.create_task(poller.get())
    await poll_waiting(session, clock, idle)
    clock.advance(9.9)
    await asyncio.sleep(0)
    assert not poll.done()
    clock.advance(0.1)
    assert await poll == {"messages": [], "status": 204, "token": token}


async def test_join_push_reply_over_post_then_get(twin: Client) -> None:
    poller = LongPoller(twin)
    await poller.open()
    status, body = await poller.post(JOIN)
    assert (status, body) == (200, {"status": 200})
    raw = (await poller.get())["messages"]
    assert raw[0] == (
        '["3","3","room:lobby","phx_reply",{"response":{"echo":{},"joined":true},"status":"ok"}]'
    )
    assert (await poller.post('["3","4","room:lobby","ping",{"n":1}]'))[0] == 200
    reply = await poller.reply("4")
    assert reply == ["3", "4", LOBBY, "phx_reply", {"response": {"n": 1}, "status": "ok"}]


async def test_a_waiting_poll_answers_as_soon_as_something_arrives(twin: Client) -> None:
    poller = LongPoller(twin)
    await poller.open()
    await poller.join()
    await poller.receive(lambda m: m[3] == "presence_diff")
    session = session_of(twin, poller)
    poll = asyncio.create_task(poller.messages())
    await until(lambda: session.polling)
    await twin.post(f"/admin/broadcast?topic={LOBBY}&event=news", json={"n": 1})
    assert await poll == [[None, None, LOBBY, "news", {"n": 1}]]


async def test_broadcasts_between_polls_come_all_at_once(twin: Client) -> None:
    poller = LongPoller(twin)
    await poller.open()
    await poller.join()
    await poller.receive(lambda m: m[3] == "presence_diff")
    for n in range(5):
        await twin.post(f"/admin/broadcast?topic={LOBBY}&event=news", json={"n": n})
    assert [m[4]["n"] for m in await poller.messages()] == [0, 1, 2, 3, 4]


async def test_batched_post_replies_in_order(twin: Client) -> None:
    poller = LongPoller(twin)
    await poller.open()
    await poller.join()
    status, body = await poller.post(
        '["3","5","room:lobby","ping",{"n":5}]',
        '["3","6","room:lobby","ping",{"n":6}]',
        '[null,"7","phoenix","heartbeat",{}]',
    )
    assert (status, body) == (200, {"status": 200})
    seen: list[Any] = []
    await poller.receive(lambda m: m[1] == "7", seen)
    replies = [m[1] for m in seen if m[3] == "phx_reply"]
    assert replies == ["5", "6"]


async def test_more_than_100_lines_only_the_first_100_count(twin: Client) -> None:
    poller = LongPoller(twin)
    await poller.open()
    await poller.join()
    lines = [f'["3","p{n}","room:lobby","ping",{{"n":{n}}}]' for n in range(150)]
    assert (await poller.post(*lines))[0] == 200
    assert (await poller.post('[null,"hb","phoenix","heartbeat",{}]'))[0] == 200
    seen: list[Any] = []
    await poller.receive(lambda m: m[1] == "hb", seen)
    replies = [m[1] for m in seen if m[3] == "phx_reply"]
    assert replies == [f"p{n}" for n in range(100)]


async def test_a_newer_poll_replaces_the_waiting_one(twin: Client) -> None:
    poller = LongPoller(twin)
    token = await poller.open()
    session = session_of(twin, poller)
    first = asyncio.create_task(poller.get())
    await until(lambda: session.polling)
    second = asyncio.create_task(poller.get())
    assert await first == {"messages": [], "status": 204, "token": token}
    await until(lambda: session.polling)
    await poller.post('[null,"hb","phoenix","heartbeat",{}]')
    assert (await second)["status"] == 200


# ------------------------------------------------------------------------- tokens


async def test_session_token_does_not_collide_with_an_app_param_named_token(
    twin: Client, clock: FakeClock
) -> None:
    seen: list[dict[str, Any]] = []
    original = UserSocket.connect

    async def recording(self: UserSocket, params: dict[str, Any], info: ConnectInfo) -> bool:
        seen.append(params)
        return await original(self, params, info)

    poller = LongPoller(twin, "token=good-token&vsn=2.0.0")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(UserSocket, "connect", recording)
        old = await poller.open()
        assert seen == [{"token": "good-token", "vsn": "2.0.0"}]
        # ?token=good-token&vsn=2.0.0&token=<session>: the last token is the session.
        await poller.post(JOIN)
        assert (await poller.messages())[0][3] == "phx_reply"
        # An expired session's token reaches connect, as in Phoenix (see STALE) ...
        clock.advance(15)
        await until(lambda: not transport_of(twin).sessions)
        assert await poller.get() == STALE
        assert seen[-1] == {"token": old, "vsn": "2.0.0"}
        # ... and the client's fresh LongPoll (no session token yet) gets a new session.
        poller.token = None
        assert await poller.open() != old
    assert seen[-1] == {"token": "good-token", "vsn": "2.0.0"}


async def test_header_token_wins(twin: Client) -> None:
    poller = LongPoller(twin, "token=good-token&vsn=2.0.0")
    token = await poller.open()
    # Phoenix main: the session in a header, the query holding only the app's params.
    header = {"X-Phoenix-Longpoll-Token": token}
    response = await twin.post(
        "/socket/longpoll?token=good-token&vsn=2.0.0", data=JOIN, headers={**NDJSON, **header}
    )
    assert await response.json() == {"status": 200}
    response = await twin.get("/socket/longpoll?token=good-token&vsn=2.0.0", headers=header)
    body = await response.json()
    assert body["status"] == 200 and body["token"] == token
    assert json.loads(body["messages"][0])[3] == "phx_reply"


async def test_unknown_and_tampered_tokens_are_no_session(twin: Client) -> None:
    poller = LongPoller(twin)
    token = await poller.open()
    session_id, signature = token.split(".")
    tampered = f"{session_id}.{signature[::-1]}"
    forged = f"{'A' * 22}.{signature}"
    for bad in (tampered, forged, "nonsense", token + "x"):
        assert await poller.post(JOIN, token=bad) == (200, {"status": 410})
        assert await poller.get(bad) == STALE
    # The real session saw none of it.
    assert await poller.post(JOIN) == (200, {"status": 200})
    assert (await poller.messages())[0][3] == "phx_reply"


async def test_post_without_a_session_is_410(twin: Client) -> None:
    response = await twin.post(f"/socket/longpoll?{QUERY}&", data=JOIN, headers=NDJSON)
    assert (response.status, await response.json()) == (200, {"status": 410})


# ---------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("[1,2", "invalid message"),
        ('{"not":"v2"}', "invalid message"),
        ("!!!not base64!!!", "line 1 is neither a JSON frame nor base64"),
        (base64.b64encode(b"\x07garbage").decode(), "invalid message"),
    ],
)
async def test_malformed_post_ends_only_that_session(twin: Client, body: str, reason: str) -> None:
    victim, bystander = LongPoller(twin), LongPoller(twin, "token=good-token&user=bo&vsn=2.0.0")
    await victim.open()
    await bystander.open()
    await bystander.join()
    await victim.join()
    status, answer = await victim.post(body)
    assert status == 400 and answer["status"] == 400 and reason in answer["reason"]
    # The session is gone (as a WebSocket would close with 1011) ...
    assert await victim.post(JOIN) == (200, {"status": 410})
    assert await victim.get() == STALE
    # ... and the other client's session works as before.
    assert (await bystander.post('["3","9","room:lobby","ping",{}]'))[0] == 200
    assert (await bystander.reply("9"))[4]["status"] == "ok"


async def test_body_that_is_not_utf8_is_400(twin: Client) -> None:
    poller = LongPoller(twin)
    await poller.open()
    response = await twin.post(poller.url(), data=b"[\xff\xfe]", headers=NDJSON)
    assert response.status == 400
    assert await response.json() == {"status": 400, "reason": "body is not UTF-8"}


async def test_oversized_body_is_413_and_the_session_lives(
    aiohttp_client: AiohttpClient, clock: FakeClock
) -> None:
    client = await aiohttp_client(
        create_app(endpoint=Endpoint(clock=clock), longpoll_max_body=1024)
    )
    poller = LongPoller(client)
    await poller.open()
    big = '["3","9","room:lobby","ping",{"pad":"' + "x" * 2000 + '"}]'
    status, body = await poller.post(big)
    assert status == 413
    assert body == {"status": 413, "reason": "body larger than 1024 bytes"}

    # Also without a Content-Length (chunked): the limit is counted while reading.
    async def chunks() -> Any:
        for _ in range(4):
            yield b"x" * 512

    response = await client.post(poller.url(), data=chunks(), headers=NDJSON)
    assert response.status == 413
    await poller.join()


async def test_a_frame_slower_than_the_window_is_408(
    aiohttp_client: AiohttpClient, clock: FakeClock
) -> None:
    release = asyncio.Event()
    handled: list[str] = []

    class Slow(Channel):
        async def join(self, payload: Any) -> Reply:
            await release.wait()
            return Ok()

        async def handle_in(self, event: str, payload: Any) -> Reply:
            handled.append(event)
            return Ok()

    class SlowSocket(Socket):
        channels = [("slow:*", Slow)]

    app = web.Application()
    phxpy.mount(
        app,
        "/socket",
        SlowSocket,
        endpoint=Endpoint(clock=clock),
        longpoll=True,
        check_origin=False,
    )
    client = await aiohttp_client(app)
    poller = LongPoller(client, "vsn=2.0.0")
    await poller.open()
    session = session_of(client, poller)
    idle = clock.sleepers
    post = asyncio.create_task(
        poller.post('["1","1","slow:a","phx_join",{}]', '["1","2","slow:a","late",{}]')
    )
    await until(lambda: clock.sleepers > idle)  # the join's window is armed
    clock.advance(10)
    assert await post == (200, {"status": 408})
    release.set()
    await until(lambda: session.session.channels.get("slow:a") is not None)
    assert handled == []  # the line after the slow one was never dispatched


async def test_binary_frames_in_and_a_binary_reply_refused_cleanly(twin: Client) -> None:
    poller = LongPoller(twin)
    await poller.open()
    await poller.join()
    parts = [b"3", b"8", LOBBY.encode(), b"binary"]
    frame = bytes((0, *map(len, parts))) + b"".join(parts) + b"\xde\xad\xbe\xef"
    assert (await poller.post(base64.b64encode(frame).decode()))[0] == 200
    # The channel answered with bytes, which no LongPoll response can carry: the client
    # gets an error reply to its push at once instead of a timeout.
    reply = await poller.reply("8")
    assert reply == [
        "3",
        "8",
        LOBBY,
        "phx_reply",
        {"response": {"reason": "binary payloads cannot be sent over longpoll"}, "status": "error"},
    ]
    # A binary broadcast is dropped for this client; the session goes on.
    await transport_of(twin).endpoint.broadcast(LOBBY, "image", b"\x00\x01")
    await poller.post('["3","9","room:lobby","ping",{}]')
    seen: list[Any] = []
    await poller.receive(lambda m: m[1] == "9", seen)
    assert all(m[3] != "image" for m in seen)


async def test_origin_is_checked(aiohttp_client: AiohttpClient) -> None:
    client = await aiohttp_client(create_app(check_origin=["https://good.example"]))
    evil = {"Origin": "https://evil.example"}
    for method in ("GET", "POST", "OPTIONS"):
        response = await client.request(method, f"/socket/longpoll?{QUERY}", headers=evil)
        assert (response.status, await response.json()) == (200, {"status": 403})
    response = await client.get(
        f"/socket/longpoll?{QUERY}", headers={"Origin": "https://good.example"}
    )
    assert (await response.json())["status"] == 410


async def test_refused_connects_are_403(twin: Client) -> None:
    for query in ("token=bad&vsn=2.0.0", "token=good-token&vsn=9.9.9", "token=good-token&vsn[a]=1"):
        assert await LongPoller(twin, query).get() == {"status": 403}


async def test_options_preflight(twin: Client) -> None:
    response = await twin.options(
        f"/socket/longpoll?{QUERY}",
        headers={"Access-Control-Request-Headers": "content-type, x-phoenix-authtoken, x-evil"},
    )
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    # What phoenix.js sends, never what the request asks for.
    assert response.headers["Access-Control-Allow-Headers"] == (
        "accept, content-type, x-phoenix-authtoken, x-phoenix-longpoll-token"
    )
    assert response.headers["Access-Control-Allow-Methods"] == "get, post, options"
    assert response.headers["Access-Control-Max-Age"] == "3600"


async def test_other_methods_are_400(twin: Client) -> None:
    assert (await twin.put(f"/socket/longpoll?{QUERY}")).status == 400


async def test_auth_token_header_reaches_connect(aiohttp_client: AiohttpClient) -> None:
    tokens: list[str | None] = []

    class TokenSocket(Socket):
        async def connect(self, params: dict[str, Any], connect_info: ConnectInfo) -> bool:
            tokens.append(connect_info.auth_token)
            assert connect_info.transport == "longpoll"
            return connect_info.auth_token == "s3cret/token"

    app = web.Application()
    phxpy.mount(app, "/socket", TokenSocket, check_origin=False, longpoll=True)
    client = await aiohttp_client(app)
    poller = LongPoller(client, "vsn=2.0.0")
    assert (await poller.get(**{"X-Phoenix-AuthToken": "s3cret/token"}))["status"] == 410
    assert await poller.get() == {"status": 403}
    assert tokens == ["s3cret/token", None]


async def test_v1_client_posts_one_json_object(twin: Client) -> None:
    poller = LongPoller(twin, "token=good-token&vsn=1.0.0")
    await poller.open()
    join = '{"topic":"room:lobby","event":"phx_join","payload":{},"ref":"1"}'
    status, body = await poller.post(join, headers={"Content-Type": "application/json"})
    assert (status, body) == (200, {"status": 200})
    assert (await poller.messages())[0] == {
        "event": "phx_reply",
        "payload": {"response": {"joined": True, "echo": {}}, "status": "ok"},
        "ref": "1",
        "topic": LOBBY,
    }


async def test_phoenix_1_7_22_content_type_still_splits_lines(twin: Client) -> None:
    """phoenix.js 1.7.22 sends ``Content-Type: [object Object]``; Phoenix then takes the
    whole multi-line body as one frame and crashes. phxpy splits the lines."""
    poller = LongPoller(twin)
    await poller.open()
    await poller.join()
    lines = ['["3","5","room:lobby","ping",{}]', '["3","6","room:lobby","ping",{}]']
    status, _ = await poller.post(*lines, headers={"Content-Type": "[object Object]"})
    assert status == 200
    await poller.reply("5")
    await poller.reply("6")


# ------------------------------------------------------------------ session end


async def test_session_expires_when_no_poll_starts_for_15s(twin: Client, clock: FakeClock) -> None:
    poller = LongPoller(twin)
    old = await poller.open()
    await poller.join()
    await poller.receive(lambda m: m[3] == "presence_diff")
    presence = transport_of(twin).endpoint.presence
    assert LOBBY in presence.state.topics()
    clock.advance(14.9)
    await asyncio.sleep(0)
    assert transport_of(twin).sessions
    clock.advance(0.1)
    await until(lambda: not transport_of(twin).sessions)
    await until(lambda: LOBBY not in presence.state.topics())  # the channel terminated
    assert await poller.get() == STALE
    poller.token = None
    assert await poller.open() != old


async def test_a_client_that_stops_polling_is_dropped_when_its_buffer_overflows(
    aiohttp_client: AiohttpClient, clock: FakeClock
) -> None:
    client = await aiohttp_client(
        create_app(endpoint=Endpoint(clock=clock), max_outbound_bytes=4096)
    )
    poller = LongPoller(client)
    await poller.open()
    await poller.join()
    for _ in range(10):
        await client.post(f"/admin/broadcast?topic={LOBBY}&event=news", json={"pad": "x" * 600})
    # The session and its backlog are gone, as in Phoenix.
    assert await poller.get() == STALE


async def test_disconnect_ends_the_session(twin: Client) -> None:
    poller = LongPoller(twin)
    old = await poller.open()
    await poller.join()
    await poller.receive(lambda m: m[3] == "presence_diff")
    session = session_of(twin, poller)
    pending = asyncio.create_task(poller.get())
    await until(lambda: session.polling)
    await twin.post("/admin/disconnect?user=al")
    # As in Phoenix: the waiting poll ends empty (204), the session is gone.
    assert (await pending)["status"] == 204
    assert await poller.get() == STALE
    assert await poller.post(JOIN) == (200, {"status": 410})
    poller.token = None
    assert await poller.open() != old


async def test_a_dead_session_is_replaced_when_connect_does_not_read_token(
    aiohttp_client: AiohttpClient, clock: FakeClock
) -> None:
    """As in Phoenix: for an app that does not authenticate with a ``token``
    param, a poll with an expired session's token gets a new session (410, new token)."""

    class Open(Socket):
        pass

    app = web.Application()
    phxpy.mount(
        app, "/socket", Open, longpoll=True, check_origin=False, endpoint=Endpoint(clock=clock)
    )
    client = await aiohttp_client(app)
    poller = LongPoller(client, "user_token=abc&vsn=2.0.0")
    old = await poller.open()
    clock.advance(15)
    await until(lambda: not transport_of(client).sessions)
    body = await poller.get()
    assert body["messages"] == [] and body["status"] == 410 and body["token"] != old
