"""The real phoenix.js (1.7 and 1.8, unmodified, under Node with ``ws``) against the twin: what
only the WebSocket transport has. The channel scenarios both transports share run over each
in test_phoenixjs_channels.py; the raw-frame edge cases phoenix.js never sends are in
test_websocket_raw.py.

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


async def test_binary_push_gets_binary_reply(
    phoenixjs: PhoenixJS, twin_server: Twin, phoenix_version: str
) -> None:
    # Over LongPoll the same push gets an error reply (test_phoenixjs_longpoll.py).
    client = await connect(phoenixjs, twin_server, phoenix_version, "al")
    assert (await client.join(LOBBY))["status"] == "ok"
    data = bytes(range(256)) * 4

    reply = await client.push(LOBBY, "binary", binary=data)

    assert reply["status"] == "ok"
    assert binary(reply, "response") == data


async def test_heartbeats_keep_the_connection_open(
    phoenixjs: PhoenixJS, twin_server: Twin, phoenix_version: str
) -> None:
    # WebSocket only: phoenix.js skips heartbeats over LongPoll (the polls are its pulse).
    client = await connect(
        phoenixjs, twin_server, phoenix_version, "al", heartbeatIntervalMs=100, frames=True
    )

    # phoenix.js closes and reconnects when a heartbeat goes unanswered; each is answered.
    for _ in range(3):
        reply = await client.expect(event="frame", topic="phoenix", name="phx_reply")
        assert reply["payload"] == {"status": "ok", "response": {}}
    assert client.events_since(0, event="close") == []
