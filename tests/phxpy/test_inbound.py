"""What one connection may make the server do: frame sizes and JSON shapes checked before
decoding, a budget of frames and bytes per second (backpressure, not refusal), and
LongPoll POSTs held to the same bounds."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from examples.twin import create_app
from phxpy import Endpoint
from phxpy.inbound import InboundBudget, too_many_containers
from phxpy.telemetry import LimitHit
from phxpy.testing import FakeClock

from .test_longpoll_raw import NDJSON, LongPoller, session_of, until
from .test_websocket_raw import HEARTBEAT, WS, closed, frame, nothing_before_heartbeat

Client = TestClient[web.Request, web.Application]


def limits_seen(endpoint: Endpoint) -> list[LimitHit]:
    seen: list[LimitHit] = []
    endpoint.attach(LimitHit, seen.append)
    return seen


# ------------------------------------------------------------------------- the pure parts


def test_brackets_inside_strings_are_not_containers() -> None:
    message = json.dumps([None, "1", "room:1", "new_msg", {"body": "[{" * 3000}])
    assert not too_many_containers(message, 100)
    assert too_many_containers(json.dumps([[]] * 101), 100)
    assert not too_many_containers(json.dumps([[]] * 99), 100)  # the outer one counts
    escaped = json.dumps({"body": '\\"[' * 500, "rest": [[]] * 101})
    assert too_many_containers(escaped, 100)
    assert too_many_containers(json.dumps([{}] * 101).encode(), 100)


def test_the_budget_lets_a_burst_through_then_paces_the_rest() -> None:
    budget = InboundBudget(10, None, max_frame_size=1000, now=0.0)
    assert [budget.charge(1, 0.0) for _ in range(20)] == [0.0] * 20  # two seconds' worth
    assert budget.charge(1, 0.0) == pytest.approx(0.1)
    assert budget.charge(1, 0.1) == pytest.approx(0.1)  # the debt carried over
    assert budget.charge(1, 10.0) == 0.0  # refilled


def test_the_byte_budget_holds_at_least_one_whole_frame() -> None:
    budget = InboundBudget(None, 100, max_frame_size=1000, now=0.0)
    assert budget.charge(1000, 0.0) == 0.0
    assert budget.charge(100, 0.0) == pytest.approx(1.0)


# ------------------------------------------------------------------------------ WebSocket


async def test_a_frame_of_too_many_arrays_closes_with_1009_before_it_is_decoded(
    aiohttp_client: AiohttpClient,
) -> None:
    endpoint = Endpoint()
    seen = limits_seen(endpoint)
    client = await aiohttp_client(create_app(endpoint=endpoint, max_frame_containers=1000))
    async with client.ws_connect(WS) as ws:
        # The attack: a heartbeat whose payload is a heap of empty arrays.
        await ws.send_str(json.dumps([None, "1", "phoenix", "heartbeat", [[]] * 5000]))
        assert await closed(ws) == 1009
    assert seen == [LimitHit("max_frame_containers", "websocket")]
    async with client.ws_connect(WS) as ws:  # a text full of brackets is just text
        await ws.send_str(json.dumps(["1", "1", "room:lobby", "phx_join", {"b": "[" * 5000}]))
        assert (await frame(ws))[3] == "phx_reply"


async def test_a_frame_over_max_frame_size_is_reported(aiohttp_client: AiohttpClient) -> None:
    endpoint = Endpoint()
    seen = limits_seen(endpoint)
    client = await aiohttp_client(create_app(endpoint=endpoint, max_frame_size=1024))
    async with client.ws_connect(WS) as ws:
        await ws.send_str(json.dumps([None, "1", "phoenix", "heartbeat", {"x": "y" * 2000}]))
        assert await closed(ws) == 1009
    await until(lambda: bool(seen))
    assert seen == [LimitHit("max_frame_size", "websocket")]


async def test_frames_over_budget_wait_for_it_and_are_all_handled(
    aiohttp_client: AiohttpClient,
) -> None:
    """Two frames a second, bursts of four: the fifth heartbeat is answered only once the
    budget has refilled; nothing is refused and the connection lives on."""
    clock = FakeClock()
    endpoint = Endpoint(clock=clock)
    seen = limits_seen(endpoint)
    client = await aiohttp_client(create_app(endpoint=endpoint, inbound_frames_per_second=2))
    async with client.ws_connect(WS) as ws:
        for n in range(5):
            await ws.send_str(HEARTBEAT.replace('"hb"', f'"{n}"'))
        assert [(await frame(ws))[1] for _ in range(4)] == ["0", "1", "2", "3"]
        await until(lambda: bool(seen) and clock.sleepers > 0)
        assert seen == [LimitHit("inbound_budget", "websocket", pytest.approx(0.5))]
        clock.advance(0.5)
        assert (await frame(ws))[1] == "4"
        clock.advance(10)
        await nothing_before_heartbeat(ws)


# ------------------------------------------------------------------------------- LongPoll


async def lp_twin(aiohttp_client: AiohttpClient, **options: Any) -> tuple[Client, Endpoint]:
    endpoint = Endpoint(clock=FakeClock())
    return await aiohttp_client(create_app(endpoint=endpoint, **options)), endpoint


async def test_a_longpoll_frame_over_max_frame_size_is_refused_with_413(
    aiohttp_client: AiohttpClient,
) -> None:
    """The same bound as a WebSocket frame, whatever the body's own limit."""
    client, endpoint = await lp_twin(aiohttp_client, max_frame_size=1024)
    seen = limits_seen(endpoint)
    poller = LongPoller(client)
    await poller.open()
    big = json.dumps(["3", "4", "room:lobby", "ping", {"x": "y" * 2000}])
    status, body = await poller.post(big)
    assert status == 413 and body["status"] == 413
    assert seen == [LimitHit("max_frame_size", "longpoll")]
    await poller.join()  # the session is untouched


async def test_a_longpoll_frame_of_too_many_arrays_ends_the_session(
    aiohttp_client: AiohttpClient,
) -> None:
    client, _ = await lp_twin(aiohttp_client, max_frame_containers=100)
    poller = LongPoller(client)
    await poller.open()
    status, body = await poller.post(json.dumps([None, "1", "phoenix", "heartbeat", [[]] * 500]))
    assert status == 413 and body["status"] == 413
    assert (await poller.post(HEARTBEAT)) == (200, {"status": 410})


async def test_posts_beyond_the_bound_are_refused_before_their_body_is_read(
    aiohttp_client: AiohttpClient,
) -> None:
    client, endpoint = await lp_twin(aiohttp_client, longpoll_max_posts=1)
    seen = limits_seen(endpoint)
    poller = LongPoller(client)
    await poller.open()
    session = session_of(client, poller)
    # A POST whose body is still on its way holds the session's one slot.
    reader, writer = await asyncio.open_connection(client.host, client.port)
    body = HEARTBEAT.encode()
    writer.write(
        f"POST {poller.url()} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body[:5]
    )
    await until(lambda: session.posts == 1)
    status, answer = await poller.post(HEARTBEAT)
    assert (status, answer["status"]) == (429, 429)
    assert seen == [LimitHit("longpoll_max_posts", "longpoll")]
    writer.write(body[5:])  # the held one completes normally
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 200")
    writer.close()
    assert await poller.post(HEARTBEAT) == (200, {"status": 200})


async def test_longpoll_frames_over_budget_hold_their_post(
    aiohttp_client: AiohttpClient,
) -> None:
    """Backpressure over LongPoll: the POST is answered once its frames were handled at the
    budget's pace; phoenix.js sends its next batch only then."""
    clock = FakeClock()
    endpoint = Endpoint(clock=clock)
    client = await aiohttp_client(
        create_app(endpoint=endpoint, inbound_frames_per_second=1, longpoll_window=100)
    )
    seen = limits_seen(endpoint)
    poller = LongPoller(client)
    await poller.open()
    lines = [HEARTBEAT.replace('"hb"', f'"{n}"') for n in range(3)]
    post = asyncio.create_task(poller.post(*lines))
    await until(lambda: bool(seen))
    assert seen == [LimitHit("inbound_budget", "longpoll", pytest.approx(1.0))]
    assert not post.done()
    clock.advance(1)
    assert await post == (200, {"status": 200})
    replies = [m[1] for m in await poller.messages()]
    assert replies == ["0", "1", "2"]


async def test_a_raw_body_over_the_longpoll_limit_is_refused_unread(
    aiohttp_client: AiohttpClient,
) -> None:
    client, endpoint = await lp_twin(aiohttp_client, longpoll_max_body=4096)
    seen = limits_seen(endpoint)
    poller = LongPoller(client)
    await poller.open()
    response = await client.post(poller.url(), data=b"[" * 10_000, headers=NDJSON)
    assert response.status == 413
    assert seen == [LimitHit("longpoll_max_body", "longpoll")]
