"""The real phoenix.js (1.7 and 1.8, unmodified, under Node) against the twin: the same channel
scenarios over each transport, WebSocket (``ws``) and LongPoll (xhr2), for each phoenix.js
line. Every channel must behave the same on both; where phoenix.js itself tells the two apart
(the close code of a dropped connection), the test says so per transport. What only one
transport has is in test_phoenixjs_websocket.py and test_phoenixjs_longpoll.py, the raw
edge cases in test_websocket_raw.py and test_longpoll_raw.py.

Back-offs are configured short (``reconnectAfterMs``/``rejoinAfterMs``), so reconnects and
rejoins happen within milliseconds; every wait is for an event, never for time to pass (a
held poll answers as soon as the server has something, so nothing waits for its window).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.phoenixjs import Client, PhoenixJS, Twin

GOOD = {"token": "good-token"}
FAST = {"reconnectAfterMs": [10, 20, 50], "rejoinAfterMs": [10, 20, 50]}
LOBBY = "room:lobby"
TRANSPORTS = ("websocket", "longpoll")


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    """Parametrizes a test over phoenix.js's transports ("websocket", "longpoll")."""
    return str(request.param)


def other_version(version: str) -> str:
    return "1.7" if version == "1.8" else "1.8"


def other_transport(transport: str) -> str:
    return "longpoll" if transport == "websocket" else "websocket"


async def connect(
    js: PhoenixJS, twin: Twin, version: str, transport: str, user: str, **options: Any
) -> Client:
    return await js.connect(
        twin.url,
        version=version,
        params={**GOOD, "user": user},
        transport=transport,
        **{**FAST, **options},
    )


async def joined(client: Client, topic: str, payload: dict[str, Any] | None = None) -> Any:
    reply = await client.join(topic, payload)
    assert reply["status"] == "ok", reply
    return reply


async def test_connect_and_join_echoes_the_join_params(
    phoenixjs: PhoenixJS, twin_server: Twin, phoenix_version: str, transport: str
) -> None:
    client = await connect(phoenixjs, twin_server, phoenix_version, transport, "al")

    lobby = await client.join(LOBBY, {"hello": ["world", 1]})
    other = await client.join("room:other")

    assert lobby["status"] == "ok"
    assert lobby["response"] == {"joined": True, "echo": {"hello": ["world", 1]}}
    assert other["status"] == "ok"
    assert other["response"] == {}
    state = await client.state()
    assert state["connection_state"] == "open"
    assert state["transport"] == transport
    assert state["channels"] == {LOBBY: "joined", "room:other": "joined"}


async def test_refused_join_is_retried_and_leaves_the_socket_up(
    phoenixjs: PhoenixJS, twin_server: Twin, phoenix_version: str, transport: str
) -> None:
    client = await connect(phoenixjs, twin_server, phoenix_version, transport, "al")
    mark = phoenixjs.mark()

    refused = await client.join("room:private", {})

    assert refused["status"] == "error"
    assert refused["response"] == {"reason": "unauthorized"}
    # phoenix.js retries a refused join with its rejoin back-off, and is refused again.
    again = await client.expect(event="join", topic="room:private", since=mark)
    assert again["status"] == "error"
    assert again["response"] == {"reason": "unauthorized"}
    # The socket and other topics are unaffected.
    await joined(client, LOBBY)
    assert (await client.push(LOBBY, "ping", {"n": 1}))["status"] == "ok"
    assert client.events_since(mark, event="close") == []


async def test_push_gets_ok_and_error_replies(
    phoenixjs: PhoenixJS, twin_server: Twin, phoenix_version: str, transport: str
) -> None:
    client = await connect(phoenixjs, twin_server, phoenix_version, transport, "al")
    await joined(client, LOBBY)
    payload = {"text": "héllo ✓", "n": [1, 2.5, None, True], "nested": {"a": {}}}

    ok = await client.push(LOBBY, "ping", payload)
    error = await client.push(LOBBY, "error_reply", {"x": 1})

    assert (ok["status"], ok["response"]) == ("ok", payload)
    assert (error["status"], error["response"]) == ("error", {"reason": "nope"})
    # An error reply is an answer, not a failure: the channel stays joined, the socket up.
    assert (await client.state())["channels"] == {LOBBY: "joined"}
    assert client.events_since(0, event="close") == []


async def test_replies_come_back_in_order(
    phoenixjs: PhoenixJS, twin_server: Twin, phoenix_version: str, transport: str
) -> None:
    client = await connect(phoenixjs, twin_server, phoenix_version, transport, "al")
    await joined(client, LOBBY)

    ids = [await client.push_nowait(LOBBY, "ping", {"n": n}) for n in range(50)]

    for n, ident in enumerate(ids):
        reply = await client.expect(event="reply", id=ident)
        assert (reply["status"], reply["response"]) == ("ok", {"n": n})
    replies = phoenixjs.events_since(0, event="reply")
    assert [reply["response"]["n"] for reply in replies] == list(range(50))


async def test_broadcast_reaches_every_member_in_order_and_no_other_topic(
    phoenixjs: PhoenixJS, twin_server: Twin, phoenix_version: str, transport: str
) -> None:
    # Members on the other phoenix.js line and on the other transport see the same stream.
    alice = await connect(phoenixjs, twin_server, phoenix_version, transport, "alice")
    bob = await connect(phoenixjs, twin_server, other_version(phoenix_version), transport, "bob")
    cleo = await connect(
        phoenixjs, twin_server, other_version(phoenix_version), other_transport(transport), "cleo"
    )
    carol = await connect(phoenixjs, twin_server, phoenix_version, transport, "carol")
    await joined(alice, LOBBY)
    await joined(bob, LOBBY)
    await joined(cleo, LOBBY)
    await joined(carol, "room:other")

    for n in range(20):
        await alice.push_nowait(LOBBY, "shout", {"body": "hi", "n": n})

    for member in (alice, bob, cleo):
        for n in range(20):
            message = await member.expect(event="message", topic=LOBBY, name="shout")
            assert message["payload"] == {"body": "hi", "n": n}
    # A ping round trip on carol's connection comes after anything sent to it before.
    await carol.push("room:other", "ping", {})
    assert carol.events_since(0, event="message", name="shout") == []


async def test_admin_broadcast_from_http(
    phoenixjs: PhoenixJS, twin_server: Twin, phoenix_version: str, transport: str
) -> None:
    alice = await connect(phoenixjs, twin_server, phoenix_version, transport, "alice")
    bob = await connect(phoenixjs, twin_server, phoenix_version, transport, "bob")
    cleo = await connect(
        phoenixjs, twin_server, other_version(phoenix_version), other_transport(transport), "cleo"
    )
    for member in (alice, bob, cleo):
        await joined(member, LOBBY)

    await twin_server.broadcast(LOBBY, "announcement", {"text": "doors open", "at": 19})

    for member in (alice, bob, cleo):
        message = await member.expect(event="message", topic=LOBBY, name="announcement")
        assert message["payload"] == {"text": "doors open", "at": 19}


async def test_crashed_channel_rejoins_on_its_own(
    phoenixjs: PhoenixJS, twin_server: Twin, phoenix_version: str, transport: str
) -> None:
    client = await connect(phoenixjs, twin_server, phoenix_version, transport, "al")
    first = await client.join(LOBBY, {"seat": 7})
    await joined(client, "room:other")
    mark = phoenixjs.mark()

    await client.push_nowait(LOBBY, "crash", {}, timeout_ms=200)

    crashed = await client.expect(event="channel_error", topic=LOBBY, since=mark)
    # The server's phx_error (Phoenix 1.8.10+ payload), not a dropped socket.
    assert crashed["reason"] == {"reason": "channel_crash"}
    rejoin = await client.expect(event="join", topic=LOBBY, since=mark)
    assert rejoin["status"] == "ok"
    assert rejoin["response"] == {"joined": True, "echo": {"seat": 7}}
    assert rejoin["join_ref"] != first["join_ref"]
    # The rejoined channel works, the other channel never noticed, the socket stayed up.
    assert (await client.push(LOBBY, "ping", {"after": "crash"}))["response"] == {"after": "crash"}
    assert (await client.push("room:other", "ping", {}))["status"] == "ok"
    assert client.events_since(mark, event="channel_error", topic="room:other") == []
    assert client.events_since(mark, event="close") == []


async def test_rejoin_sends_the_params_of_the_moment(
    phoenixjs: PhoenixJS, twin_server: Twin, phoenix_version: str, transport: str
) -> None:
    # An app passes a params function to resume where it left off (e.g. a chat's
    # ``after_seq``): phoenix.js evaluates it again at each rejoin, and the server sees it.
    client = await connect(phoenixjs, twin_server, phoenix_version, transport, "al")
    first = await client.join(LOBBY, {"room": 1}, dynamic_key="after_seq", dynamic_value=3)
    assert first["response"]["echo"] == {"room": 1, "after_seq": 3}
    mark = phoenixjs.mark()

    await client.set_var(LOBBY, 10)
    await client.push_nowait(LOBBY, "crash", {}, timeout_ms=200)

    rejoin = await client.expect(event="join", topic=LOBBY, since=mark)
    assert rejoin["response"]["echo"] == {"room": 1, "after_seq": 10}


async def test_leave_stops_delivery_and_a_new_join_works(
    phoenixjs: PhoenixJS, twin_server: Twin, phoenix_version: str, transport: str
) -> None:
    alice = await connect(phoenixjs, twin_server, phoenix_version, transport, "alice")
    bob = await connect(phoenixjs, twin_server, phoenix_version, transport, "bob")
    await joined(alice, LOBBY)
    await joined(alice, "room:other")
    await joined(bob, LOBBY)

    left = await alice.leave(LOBBY)

    assert left["status"] == "ok"
    await alice.expect(event="channel_close", topic=LOBBY)
    # The server dropped alice from the topic: bob's shout reaches bob only. Alice's ping
    # on her other channel is answered after anything the server sent her before it.
    mark = phoenixjs.mark()
    await bob.push_nowait(LOBBY, "shout", {"body": "still there?"})
    await bob.expect(event="message", topic=LOBBY, name="shout", since=mark)
    assert (await alice.push("room:other", "ping", {}))["status"] == "ok"
    assert alice.events_since(mark, event="message", name="shout") == []
    # phoenix.js buffers a push on a left channel and never sends it: it times out.
    late = await alice.push(LOBBY, "ping", {}, timeout_ms=100)
    assert late["status"] == "timeout"
    # Joining again is a fresh join.
    again = await alice.join(LOBBY, {"back": True})
    assert again["response"] == {"joined": True, "echo": {"back": True}}


DROPPED_CODE = {"websocket": 1001, "longpoll": 1008}
"""The close code phoenix.js reports when the server ends the connection (socket-id
disconnect). WebSocket: the server's close frame, 1001 (going away). LongPoll: the
disconnect destroys the session, as in Phoenix; the client's next poll carries the dead
session's token, which connect sees as the app's ``token`` param (the last one wins) and
refuses (403), so phoenix.js closes with 1008 and reconnects with a fresh LongPoll — 1.7 too,
which would take a plain 410 for a new session and never rejoin."""


async def test_server_disconnect_reconnects_and_rejoins_every_channel(
    phoenixjs: PhoenixJS, twin_server: Twin, phoenix_version: str, transport: str
) -> None:
    dee = await connect(phoenixjs, twin_server, phoenix_version, transport, "dee")
    eve = await connect(phoenixjs, twin_server, phoenix_version, transport, "eve")
    await joined(dee, LOBBY, {"seat": 1})
    await joined(dee, "room:other")
    await joined(eve, LOBBY)
    mark = phoenixjs.mark()

    await twin_server.disconnect_user("dee")

    closed = await dee.expect(event="close", since=mark)
    assert closed["code"] == DROPPED_CODE[transport]
    opened = await dee.expect(event="open", since=mark)
    assert opened["transport"] == transport
    rejoins = [await dee.expect(event="join", since=mark) for _ in range(2)]
    assert {join["topic"] for join in rejoins} == {LOBBY, "room:other"}
    assert all(join["status"] == "ok" for join in dee.events_since(mark, event="join"))
    lobby = next(join for join in rejoins if join["topic"] == LOBBY)
    assert lobby["response"] == {"joined": True, "echo": {"seat": 1}}
    # Back in the topic: eve's shout reaches dee again; eve was never disconnected.
    await eve.push_nowait(LOBBY, "shout", {"body": "welcome back"})
    message = await dee.expect(event="message", topic=LOBBY, name="shout", since=mark)
    assert message["payload"] == {"body": "welcome back"}
    assert eve.events_since(mark, event="close") == []


async def test_refused_connect_keeps_retrying_until_allowed(
    phoenixjs: PhoenixJS, twin_server: Twin, phoenix_version: str, transport: str
) -> None:
    client = await phoenixjs.connect(
        twin_server.url,
        version=phoenix_version,
        params={"token": "bad-token", "user": "al"},
        transport=transport,
        wait_open=False,
        **FAST,
    )

    # Every attempt is refused — HTTP 403 on the WebSocket upgrade, {"status": 403} from
    # the LongPoll — and phoenix.js tries again. Over LongPoll it closes with 1008 (1.7
    # also reports the teardown of the closed transport before each retry, with no code).
    for _ in range(3):
        error = await client.expect(event="error")
        assert "403" in error["error"]
        if transport == "longpoll":
            assert error["error"] == "403"
            await client.expect(event="close", code=1008)
        else:
            await client.expect(event="close")
    assert client.events_since(0, event="open") == []
    assert (await client.state())["connected"] is False

    # Once the app hands it a good token, the next retry gets in.
    await client.set_params({**GOOD, "user": "al"})
    await client.expect(event="open")
    await joined(client, LOBBY)


async def test_auth_token_connect(phoenixjs: PhoenixJS, twin_server: Twin, transport: str) -> None:
    # authToken exists in phoenix.js 1.8 only. It travels in Sec-WebSocket-Protocol over
    # WebSocket, in X-Phoenix-AuthToken on every LongPoll request.
    client = await phoenixjs.connect(
        twin_server.url,
        version="1.8",
        params={"user": "al"},
        auth_token="good-token",
        transport=transport,
        **FAST,
    )
    reply = await client.join(LOBBY, {"via": "authToken"})
    assert reply["response"] == {"joined": True, "echo": {"via": "authToken"}}

    refused = await phoenixjs.connect(
        twin_server.url,
        version="1.8",
        params={"user": "al"},
        auth_token="wrong-token",
        transport=transport,
        wait_open=False,
        **FAST,
    )
    for _ in range(2):
        await refused.expect(event="close")
    assert refused.events_since(0, event="open") == []


async def test_client_disconnect_and_connect_again(
    phoenixjs: PhoenixJS, twin_server: Twin, phoenix_version: str, transport: str
) -> None:
    alice = await connect(phoenixjs, twin_server, phoenix_version, transport, "alice")
    bob = await connect(phoenixjs, twin_server, phoenix_version, transport, "bob")
    await joined(alice, LOBBY, {"seat": 3})
    await joined(bob, LOBBY)

    await alice.disconnect()

    # One close, and phoenix.js does not reconnect on its own. Over WebSocket it is the
    # close frame phoenix.js sends, 1000; a LongPoll close has no frame, and phoenix.js
    # makes its own code up (none in 1.7, 1005 in 1.8).
    closes = [e["code"] for e in alice.events_since(0, event="close")]
    assert len(closes) == 1
    if transport == "websocket":
        assert closes == [1000]
    assert (await alice.state())["connected"] is False
    # The server dropped alice's channel; bob carries on.
    await bob.push_nowait(LOBBY, "shout", {"body": "anyone?"})
    await bob.expect(event="message", topic=LOBBY, name="shout")
    # The app connects again: phoenix.js rejoins the channel it still holds.
    mark = phoenixjs.mark()
    await alice.reconnect()
    await alice.expect(event="open", since=mark)
    rejoin = await alice.expect(event="join", topic=LOBBY, since=mark)
    assert rejoin["response"] == {"joined": True, "echo": {"seat": 3}}
    assert (await alice.push(LOBBY, "ping", {}))["status"] == "ok"
