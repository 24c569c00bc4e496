"""The real phoenix.js (1.7 and 1.8, unmodified, under Node with xhr2) against the twin over
LongPoll: the channel scenarios of test_phoenixjs_websocket.py, and the WebSocket → LongPoll
fallback. The raw HTTP edge cases are in test_longpoll_raw.py.

Every wait is for an event, never for time to pass: a held poll answers as soon as the
server has something, so nothing here waits for the 10 s poll window.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pytest_aiohttp import AiohttpClient

from examples.twin import create_app
from tests.phoenixjs import Client, PhoenixJS, Twin

GOOD = {"token": "good-token"}
FAST = {"reconnectAfterMs": [10, 20, 50], "rejoinAfterMs": [10, 20, 50]}
LOBBY = "room:lobby"


def other(version: str) -> str:
    return "1.7" if version == "1.8" else "1.8"


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


async def test_connect_and_join(
    phoenixjs: PhoenixJS, twin_server: Twin, phoenix_version: str
) -> None:
    client = await connect(phoenixjs, twin_server, phoenix_version, "al")

    lobby = await client.join(LOBBY, {"hello": ["world", 1]})
    other_room = await client.join("room:other")

    assert lobby["response"] == {"joined": True, "echo": {"hello": ["world", 1]}}
    assert other_room["status"] == "ok"
    state = await client.state()
    assert state["transport"] == "longpoll"
    assert state["connection_state"] == "open"
    assert state["channels"] == {LOBBY: "joined", "room:other": "joined"}


async def test_push_replies_in_order(
    phoenixjs: PhoenixJS, twin_server: Twin, phoenix_version: str
) -> None:
    client = await connect(phoenixjs, twin_server, phoenix_version, "al")
    await joined(client, LOBBY)
    payload = {"text": "héllo ✓", "n": [1, 2.5, None, True], "nested": {"a": {}}}

    ok = await client.push(LOBBY, "ping", payload)
    error = await client.push(LOBBY, "error_reply", {"x": 1})
    # 150 pushes in one JS tick: one batch, which 1.7.22+/1.8.6+ split into POSTs of 100.
    ids = [await client.push_nowait(LOBBY, "ping", {"n": n}) for n in range(150)]

    assert (ok["status"], ok["response"]) == ("ok", payload)
    assert (error["status"], error["response"]) == ("error", {"reason": "nope"})
    for n, ident in enumerate(ids):
        reply = await client.expect(event="reply", id=ident)
        assert (reply["status"], reply["response"]) == ("ok", {"n": n})
    assert client.events_since(0, event="close") == []


async def test_broadcast_reaches_members_on_both_transports(
    phoenixjs: PhoenixJS, twin_server: Twin, phoenix_version: str
) -> None:
    alice = await connect(phoenixjs, twin_server, phoenix_version, "alice")
    bob = await phoenixjs.connect(
        twin_server.url, version=other(phoenix_version), params={**GOOD, "user": "bob"}, **FAST
    )
    await joined(alice, LOBBY)
    await joined(bob, LOBBY)

    for n in range(20):
        await bob.push_nowait(LOBBY, "shout", {"n": n})
    await twin_server.broadcast(LOBBY, "announcement", {"text": "doors open"})

    for member in (alice, bob):
        for n in range(20):
            message = await member.expect(event="message", topic=LOBBY, name="shout")
            assert message["payload"] == {"n": n}
        announcement = await member.expect(event="message", topic=LOBBY, name="announcement")
        assert announcement["payload"] == {"text": "doors open"}


async def test_leave(phoenixjs: PhoenixJS, twin_server: Twin, phoenix_version: str) -> None:
    alice = await connect(phoenixjs, twin_server, phoenix_version, "alice")
    bob = await connect(phoenixjs, twin_server, phoenix_version, "bob")
    await joined(alice, LOBBY)
    await joined(alice, "room:other")
    await joined(bob, LOBBY)

    left = await alice.leave(LOBBY)

    assert left["status"] == "ok"
    await alice.expect(event="channel_close", topic=LOBBY)
    mark = phoenixjs.mark()
    await bob.push_nowait(LOBBY, "shout", {"body": "still there?"})
    await bob.expect(event="message", topic=LOBBY, name="shout", since=mark)
    assert (await alice.push("room:other", "ping", {}))["status"] == "ok"
    assert alice.events_since(mark, event="message", name="shout") == []
    again = await alice.join(LOBBY, {"back": True})
    assert again["response"] == {"joined": True, "echo": {"back": True}}


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


async def test_crashed_channel_rejoins_on_its_own(
    phoenixjs: PhoenixJS, twin_server: Twin, phoenix_version: str
) -> None:
    client = await connect(phoenixjs, twin_server, phoenix_version, "al")
    first = await client.join(LOBBY, {"seat": 7})
    mark = phoenixjs.mark()

    await client.push_nowait(LOBBY, "crash", {}, timeout_ms=200)

    crashed = await client.expect(event="channel_error", topic=LOBBY, since=mark)
    assert crashed["reason"] == {"reason": "channel_crash"}
    rejoin = await client.expect(event="join", topic=LOBBY, since=mark)
    assert rejoin["status"] == "ok" and rejoin["join_ref"] != first["join_ref"]
    assert (await client.push(LOBBY, "ping", {"after": "crash"}))["response"] == {"after": "crash"}
    assert client.events_since(mark, event="close") == []


async def test_server_ends_the_session_and_the_client_comes_back(
    phoenixjs: PhoenixJS, twin_server: Twin, phoenix_version: str
) -> None:
    """Socket-id disconnect destroys the LongPoll session, as in Phoenix. The client's next
    poll carries the dead session's token, which connect sees as the app's ``token`` param
    (the last one wins) and refuses: phoenix.js closes (1008), reconnects with a fresh
    LongPoll and rejoins every channel — 1.7 too, which would take a plain 410 for a new
    session and never rejoin."""
    dee = await connect(phoenixjs, twin_server, phoenix_version, "dee")
    eve = await connect(phoenixjs, twin_server, phoenix_version, "eve")
    await joined(dee, LOBBY, {"seat": 1})
    await joined(dee, "room:other")
    await joined(eve, LOBBY)
    mark = phoenixjs.mark()

    await twin_server.disconnect_user("dee")

    close = await dee.expect(event="close", since=mark)
    assert close["code"] == 1008
    rejoins = [await dee.expect(event="join", since=mark) for _ in range(2)]
    assert {join["topic"] for join in rejoins} == {LOBBY, "room:other"}
    assert all(join["status"] == "ok" for join in rejoins)
    lobby = next(join for join in rejoins if join["topic"] == LOBBY)
    assert lobby["response"] == {"echo": {"seat": 1}, "joined": True}
    await eve.push_nowait(LOBBY, "shout", {"body": "welcome back"})
    message = await dee.expect(event="message", topic=LOBBY, name="shout", since=mark)
    assert message["payload"] == {"body": "welcome back"}
    assert eve.events_since(mark, event="close") == []


async def test_refused_connect_keeps_retrying_until_allowed(
    phoenixjs: PhoenixJS, twin_server: Twin, phoenix_version: str
) -> None:
    client = await phoenixjs.connect(
        twin_server.url,
        version=phoenix_version,
        params={"token": "bad-token", "user": "al"},
        transport="longpoll",
        wait_open=False,
        **FAST,
    )

    # {"status":403}: phoenix.js closes with 1008 and tries again (1.7 also reports the
    # teardown of the closed transport before each retry, with no code).
    for _ in range(2):
        await client.expect(event="error", error="403")
        await client.expect(event="close", code=1008)
    assert client.events_since(0, event="open") == []

    await client.set_params({**GOOD, "user": "al"})
    await client.expect(event="open")
    await joined(client, LOBBY)


async def test_auth_token_over_longpoll(phoenixjs: PhoenixJS, twin_server: Twin) -> None:
    # 1.8 only: the authToken travels in X-Phoenix-AuthToken on every LongPoll request.
    client = await phoenixjs.connect(
        twin_server.url,
        version="1.8",
        params={"user": "al"},
        auth_token="good-token",
        transport="longpoll",
        **FAST,
    )
    reply = await client.join(LOBBY, {"via": "authToken"})
    assert reply["response"] == {"joined": True, "echo": {"via": "authToken"}}


async def test_client_disconnect_and_connect_again(
    phoenixjs: PhoenixJS, twin_server: Twin, phoenix_version: str
) -> None:
    alice = await connect(phoenixjs, twin_server, phoenix_version, "alice")
    await joined(alice, LOBBY, {"seat": 3})
    await alice.disconnect()
    assert (await alice.state())["connected"] is False
    mark = phoenixjs.mark()

    await alice.reconnect()

    await alice.expect(event="open", since=mark)
    rejoin = await alice.expect(event="join", topic=LOBBY, since=mark)
    assert rejoin["response"] == {"joined": True, "echo": {"seat": 3}}
    assert (await alice.push(LOBBY, "ping", {}))["status"] == "ok"


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
