"""The real phoenix.js (1.7 and 1.8, unmodified, under Node with ``ws``) against the twin over
WebSocket: what an application's users see. The raw-frame edge cases phoenix.js never sends
are in test_websocket_raw.py.

Back-offs are configured short (``reconnectAfterMs``/``rejoinAfterMs``), so reconnects and
rejoins happen within milliseconds; every wait is for an event, never for time to pass.
"""

from __future__ import annotations

from typing import Any

from tests.phoenixjs import Client, PhoenixJS, Twin, binary

GOOD = {"token": "good-token"}
FAST = {"reconnectAfterMs": [10, 20, 50], "rejoinAfterMs": [10, 20, 50]}
LOBBY = "room:lobby"


async def connect(js: PhoenixJS, twin: Twin, version: str, user: str, **options: Any) -> Client:
    return await js.connect(
        twin.url, version=version, params={**GOOD, "user": user}, **{**FAST, **options}
    )


async def joined(client: Client, topic: str, payload: dict[str, Any] | None = None) -> None:
    reply = await client.join(topic, payload)
    assert reply["status"] == "ok", reply


async def test_connect_and_join(
    phoenixjs: PhoenixJS, twin_server: Twin, phoenix_version: str
) -> None:
    client = await connect(phoenixjs, twin_server, phoenix_version, "al")

    lobby = await client.join(LOBBY, {"hello": ["world", 1]})
    other = await client.join("room:other")

    assert lobby["status"] == "ok"
    assert lobby["response"] == {"joined": True, "echo": {"hello": ["world", 1]}}
    assert other["status"] == "ok"
    assert other["response"] == {}
    state = await client.state()
    assert state["connection_state"] == "open"
    assert state["transport"] == "websocket"
    assert state["channels"] == {LOBBY: "joined", "room:other": "joined"}


async def test_refused_join_is_retried_and_leaves_the_socket_up(
    phoenixjs: PhoenixJS, twin_server: Twin, phoenix_version: str
) -> None:
    client = await connect(phoenixjs, twin_server, phoenix_version, "al")
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


async def test_push_replies(phoenixjs: PhoenixJS, twin_server: Twin, phoenix_version: str) -> None:
    client = await connect(phoenixjs, twin_server, phoenix_version, "al")
    await joined(client, LOBBY)
    payload = {"text": "héllo ✓", "n": [1, 2.5, None, True], "nested": {"a": {}}}

    ok = await client.push(LOBBY, "ping", payload)
    error = await client.push(LOBBY, "error_reply", {"x": 1})

    assert (ok["status"], ok["response"]) == ("ok", payload)
    assert (error["status"], error["response"]) == ("error", {"reason": "nope"})
    # An error reply is an answer, not a failure: the channel stays joined.
    assert (await client.state())["channels"] == {LOBBY: "joined"}


async def test_replies_come_back_in_order(
    phoenixjs: PhoenixJS, twin_server: Twin, phoenix_version: str
) -> None:
    client = await connect(phoenixjs, twin_server, phoenix_version, "al")
    await joined(client, LOBBY)

    ids = [await client.push_nowait(LOBBY, "ping", {"n": n}) for n in range(50)]

    for n, ident in enumerate(ids):
        reply = await client.expect(event="reply", id=ident)
        assert (reply["status"], reply["response"]) == ("ok", {"n": n})
    replies = phoenixjs.events_since(0, event="reply")
    assert [reply["response"]["n"] for reply in replies] == list(range(50))


async def test_binary_push_gets_binary_reply(
    phoenixjs: PhoenixJS, twin_server: Twin, phoenix_version: str
) -> None:
    client = await connect(phoenixjs, twin_server, phoenix_version, "al")
    await joined(client, LOBBY)
    data = bytes(range(256)) * 4

    reply = await client.push(LOBBY, "binary", binary=data)

    assert reply["status"] == "ok"
    assert binary(reply, "response") == data


async def test_broadcast_reaches_every_member_in_order(
    phoenixjs: PhoenixJS, twin_server: Twin, phoenix_version: str
) -> None:
    # The second member runs the other phoenix.js line: both must see the same stream.
    other_version = "1.7" if phoenix_version == "1.8" else "1.8"
    alice = await connect(phoenixjs, twin_server, phoenix_version, "alice")
    bob = await connect(phoenixjs, twin_server, other_version, "bob")
    carol = await connect(phoenixjs, twin_server, phoenix_version, "carol")
    await joined(alice, LOBBY)
    await joined(bob, LOBBY)
    await joined(carol, "room:other")

    for n in range(20):
        await alice.push_nowait(LOBBY, "shout", {"body": "hi", "n": n})

    for member in (alice, bob):
        for n in range(20):
            message = await member.expect(event="message", topic=LOBBY, name="shout")
            assert message["payload"] == {"body": "hi", "n": n}
    # A ping round trip on carol's connection comes after anything sent to it before.
    await carol.push("room:other", "ping", {})
    assert carol.events_since(0, event="message", name="shout") == []


async def test_admin_broadcast_from_http(
    phoenixjs: PhoenixJS, twin_server: Twin, phoenix_version: str
) -> None:
    alice = await connect(phoenixjs, twin_server, phoenix_version, "alice")
    bob = await connect(phoenixjs, twin_server, phoenix_version, "bob")
    await joined(alice, LOBBY)
    await joined(bob, LOBBY)

    await twin_server.broadcast(LOBBY, "announcement", {"text": "doors open", "at": 19})

    for member in (alice, bob):
        message = await member.expect(event="message", topic=LOBBY, name="announcement")
        assert message["payload"] == {"text": "doors open", "at": 19}


async def test_crashed_channel_rejoins_on_its_own(
    phoenixjs: PhoenixJS, twin_server: Twin, phoenix_version: str
) -> None:
    client = await connect(phoenixjs, twin_server, phoenix_version, "al")
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
    phoenixjs: PhoenixJS, twin_server: Twin, phoenix_version: str
) -> None:
    # An app passes a params function to resume where it left off (e.g. a chat's
    # ``after_seq``): phoenix.js evaluates it again at each rejoin, and the server sees it.
    client = await connect(phoenixjs, twin_server, phoenix_version, "al")
    first = await client.join(LOBBY, {"room": 1}, dynamic_key="after_seq", dynamic_value=3)
    assert first["response"]["echo"] == {"room": 1, "after_seq": 3}
    mark = phoenixjs.mark()

    await client.set_var(LOBBY, 10)
    await client.push_nowait(LOBBY, "crash", {}, timeout_ms=200)

    rejoin = await client.expect(event="join", topic=LOBBY, since=mark)
    assert rejoin["response"]["echo"] == {"room": 1, "after_seq": 10}


async def test_leave(phoenixjs: PhoenixJS, twin_server: Twin, phoenix_version: str) -> None:
    alice = await connect(phoenixjs, twin_server, phoenix_version, "alice")
    bob = await connect(phoenixjs, twin_server, phoenix_version, "bob")
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


async def test_server_disconnect_reconnects_and_rejoins_every_channel(
    phoenixjs: PhoenixJS, twin_server: Twin, phoenix_version: str
) -> None:
    dee = await connect(phoenixjs, twin_server, phoenix_version, "dee")
    eve = await connect(phoenixjs, twin_server, phoenix_version, "eve")
    await joined(dee, LOBBY, {"seat": 1})
    await joined(dee, "room:other")
    await joined(eve, LOBBY)
    mark = phoenixjs.mark()

    await twin_server.disconnect_user("dee")

    closed = await dee.expect(event="close", since=mark)
    assert closed["code"] == 1001
    await dee.expect(event="open", since=mark)
    rejoins = {
        (await dee.expect(event="join", since=mark))["topic"],
        (await dee.expect(event="join", since=mark))["topic"],
    }
    assert rejoins == {LOBBY, "room:other"}
    assert all(e["status"] == "ok" for e in dee.events_since(mark, event="join"))
    lobby = dee.events_since(mark, event="join", topic=LOBBY)[0]
    assert lobby["response"] == {"joined": True, "echo": {"seat": 1}}
    # Back in the topic: eve's shout reaches dee again; eve was never disconnected.
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
        wait_open=False,
        **FAST,
    )

    # Every attempt is refused (HTTP 403 on the upgrade) and phoenix.js tries again.
    for _ in range(3):
        error = await client.expect(event="error")
        assert "403" in error["error"]
        await client.expect(event="close")
    assert client.events_since(0, event="open") == []
    assert (await client.state())["connected"] is False

    # Once the app hands it a good token, the next retry gets in.
    await client.set_params({**GOOD, "user": "al"})
    await client.expect(event="open")
    await joined(client, LOBBY)


async def test_auth_token_connect(phoenixjs: PhoenixJS, twin_server: Twin) -> None:
    # authToken exists in phoenix.js 1.8 only: it travels in Sec-WebSocket-Protocol.
    client = await phoenixjs.connect(
        twin_server.url, version="1.8", params={"user": "al"}, auth_token="good-token", **FAST
    )
    reply = await client.join(LOBBY, {"via": "authToken"})
    assert reply["response"] == {"joined": True, "echo": {"via": "authToken"}}

    refused = await phoenixjs.connect(
        twin_server.url,
        version="1.8",
        params={"user": "al"},
        auth_token="wrong-token",
        wait_open=False,
        **FAST,
    )
    for _ in range(2):
        await refused.expect(event="close")
    assert refused.events_since(0, event="open") == []


async def test_heartbeats_keep_the_connection_open(
    phoenixjs: PhoenixJS, twin_server: Twin, phoenix_version: str
) -> None:
    client = await connect(
        phoenixjs, twin_server, phoenix_version, "al", heartbeatIntervalMs=100, frames=True
    )

    # phoenix.js closes and reconnects when a heartbeat goes unanswered; each is answered.
    for _ in range(3):
        reply = await client.expect(event="frame", topic="phoenix", name="phx_reply")
        assert reply["payload"] == {"status": "ok", "response": {}}
    assert client.events_since(0, event="close") == []


async def test_client_disconnect_and_connect_again(
    phoenixjs: PhoenixJS, twin_server: Twin, phoenix_version: str
) -> None:
    alice = await connect(phoenixjs, twin_server, phoenix_version, "alice")
    bob = await connect(phoenixjs, twin_server, phoenix_version, "bob")
    await joined(alice, LOBBY, {"seat": 3})
    await joined(bob, LOBBY)

    await alice.disconnect()

    assert [e["code"] for e in alice.events_since(0, event="close")] == [1000]
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
