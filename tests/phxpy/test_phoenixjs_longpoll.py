"""The real phoenix.js (1.7 and 1.8, unmodified, under Node with xhr2) against the twin: what
only the LongPoll transport has, and the WebSocket → LongPoll fallback. The channel
scenarios both transports share run over each in test_phoenixjs_channels.py; the raw HTTP
edge cases are in test_longpoll_raw.py.

Every wait is for an event, never for time to pass: a held poll answers as soon as the
server has something, so nothing here waits for the 10 s poll window.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from pytest_aiohttp import AiohttpClient

from examples.twin import create_app
from tests.phoenixjs import Client, PhoenixJS, Twin

GOOD = {"token": "good-token"}
FAST = {"reconnectAfterMs": [10, 20, 50], "rejoinAfterMs": [10, 20, 50]}
LOBBY = "room:lobby"


async def connect(js: PhoenixJS, twin: Twin, version: str, user: str, **options: Any) -> Client:
    return await js.connect(
        twin.url,
        version=version,
        params={**GOOD, "user": user},
        transport="longpoll",
        **{**FAST, **options},
    )


async def joined(client: Client, topic: str, payload: dict[str, Any] | None = None) -> Any:
    reply = await client.join(topic, payload)
    assert reply["status"] == "ok", reply
    return reply


async def test_a_burst_of_pushes_is_batched_and_answered_in_order(
    phoenixjs: PhoenixJS, aiohttp_client: AiohttpClient, phoenix_version: str
) -> None:
    app = create_app()
    posts: list[int | None] = []

    async def count_posts(request: web.Request, _: web.StreamResponse) -> None:
        if request.method == "POST" and request.path == "/socket/longpoll":
            posts.append(request.content_length)

    app.on_response_prepare.append(count_posts)
    twin = Twin(await aiohttp_client(app))
    client = await connect(phoenixjs, twin, phoenix_version, "al")
    await joined(client, LOBBY)
    posts.clear()

    # 150 pushes sent at once: they pile up while a POST is in flight and go in batches,
    # which 1.7.22+/1.8.6+ split into POSTs of 100 frames (typically ~20, 100, ~30).
    pushes = (client.push_nowait(LOBBY, "ping", {"n": n}) for n in range(150))
    ids = await asyncio.gather(*pushes)

    for n, ident in enumerate(ids):
        reply = await client.expect(event="reply", id=ident)
        assert (reply["status"], reply["response"]) == ("ok", {"n": n})
    replies = phoenixjs.events_since(0, event="reply")
    assert [reply["response"]["n"] for reply in replies] == list(range(150))
    assert 2 <= len(posts) <= 10, posts
    assert client.events_since(0, event="close") == []


async def test_binary_push_is_refused_cleanly(
    phoenixjs: PhoenixJS, twin_server: Twin, phoenix_version: str
) -> None:
    client = await connect(phoenixjs, twin_server, phoenix_version, "al")
    await joined(client, LOBBY)

    # The binary frame goes up (base64 in the POST); the channel answers with bytes, which
    # a poll cannot carry: phoenix.js gets an error reply, not a timeout or a dead session.
    reply = await client.push(LOBBY, "binary", binary=bytes(range(256)))

    assert reply["status"] == "error"
    assert reply["response"] == {"reason": "binary payloads cannot be sent over longpoll"}
    assert (await client.push(LOBBY, "ping", {"after": "binary"}))["status"] == "ok"
    assert client.events_since(0, event="close") == []
    assert (await client.state())["channels"] == {LOBBY: "joined"}


# ----------------------------------------------------------------------- fallback


async def refusing_twin(aiohttp_client: AiohttpClient, status: int) -> Twin:
    """A twin behind something that refuses WebSocket upgrades: ``/socket/websocket``
    answers ``status`` (a 404 when the transport is simply off)."""
    app = create_app(websocket=False)
    if status != 404:

        async def refuse(_: web.Request) -> web.Response:
            return web.Response(status=status, text="upgrades blocked")

        app.router.add_get("/socket/websocket", refuse)
    return Twin(await aiohttp_client(app))


async def test_websocket_refused_falls_back_to_longpoll(
    phoenixjs: PhoenixJS, aiohttp_client: AiohttpClient, phoenix_version: str
) -> None:
    for status in (403, 404):
        twin = await refusing_twin(aiohttp_client, status)
        client = await phoenixjs.connect(
            twin.url,
            version=phoenix_version,
            params={**GOOD, "user": f"u{status}"},
            longPollFallbackMs=300,
            session_storage=f"tab-{status}",
            wait_open=False,
            **FAST,
        )
        opened = await client.expect(event="open")
        assert opened["transport"] == "longpoll"
        await joined(client, LOBBY)
        assert (await client.push(LOBBY, "ping", {"via": "fallback"}))["response"] == {
            "via": "fallback"
        }
        # The same tab's next page load remembers the fallback: LongPoll straight away.
        again = await phoenixjs.connect(
            twin.url,
            version=phoenix_version,
            params={**GOOD, "user": f"v{status}"},
            longPollFallbackMs=300,
            session_storage=f"tab-{status}",
            wait_open=False,
            **FAST,
        )
        assert (await again.expect(event="open"))["transport"] == "longpoll"
        assert again.events_since(0, event="error") == []
