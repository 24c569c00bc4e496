"""The rooms' relay on its own (one process, no Redis): messages out in seq order whatever
order they arrive in, and a hidden message never delivered with its content after the
hiding reached the relay."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

import phxpy
from phxpy.pubsub import Broadcast
from phxpy.serializer import json_dumps
from server import render
from server.chat.relay import MessageRelay
from server.clock import ManualClock
from tests.server.api_client import Api
from tests.waiting import until

TOPIC = "event:e1"
ROOM = "r1"


class Recorder:
    def __init__(self) -> None:
        self.got: list[tuple[str, Any]] = []

    def deliver(self, broadcast: Broadcast) -> None:
        self.got.append((broadcast.event, broadcast.decoded_payload()))

    def seen(self) -> list[tuple[str, int, str]]:
        """``(event, seq, content)``; content ``-`` for a ``message_hidden``."""
        return [(event, p["seq"], p.get("content", "-")) for event, p in self.got]


def message(seq: int) -> bytes:
    body = {"id": f"m{seq}", "seq": seq, "content": f"text {seq}", "hidden": False}
    return json.dumps(body, sort_keys=True).encode()


@pytest.fixture
async def relay() -> AsyncIterator[tuple[MessageRelay, Recorder]]:
    endpoint = phxpy.Endpoint()
    # Gaps are left open: filling them needs the database, not what is tested here.
    relay = MessageRelay(endpoint, endpoint.pubsub.deliver_local, fill_after=3600)
    recorder = Recorder()
    endpoint.pubsub.subscribe(TOPIC, recorder)  # (a member)
    with relay.joining(TOPIC, ROOM, last_seq=0):
        pass
    yield relay, recorder
    await relay.stop()


async def arrive(relay: MessageRelay, seq: int) -> None:
    await relay.publish(TOPIC, seq, message(seq))


async def test_messages_go_out_in_seq_order_once(
    relay: tuple[MessageRelay, Recorder],
) -> None:
    relay_, recorder = relay
    for seq in (2, 3, 1, 2, 4):
        await arrive(relay_, seq)
    assert [seq for _, seq, _ in recorder.seen()] == [1, 2, 3, 4]
    assert relay_.stats.duplicates == 1


async def test_a_hidden_message_is_told_in_order_and_never_sent_with_its_content(
    relay: tuple[MessageRelay, Recorder],
) -> None:
    relay_, recorder = relay
    await arrive(relay_, 1)
    await arrive(relay_, 3)  # held: 2 is missing
    relay_.hide(ROOM, 1, "m1")  # delivered already: told now
    relay_.hide(ROOM, 3, "m3")  # held: goes out without its content
    relay_.hide(ROOM, 4, "m4")  # still to come: likewise
    relay_.hide(ROOM, 1, "m1")  # told already
    relay_.hide("another room", 2, "x")  # not relayed here: nothing
    for seq in (2, 4):
        await arrive(relay_, seq)
    assert recorder.seen() == [
        ("new_message", 1, "text 1"),
        ("message_hidden", 1, "-"),
        ("new_message", 2, "text 2"),
        ("new_message", 3, ""),
        ("new_message", 4, ""),
    ]
    assert recorder.got[1][1] == {"id": "m1", "seq": 1}
    assert [p["hidden"] for _, p in recorder.got if "hidden" in p] == [False, False, True, True]


async def test_a_room_is_relayed_from_its_first_join_until_nobody_is_left() -> None:
    """The relay's periodic check forgets rooms without members on the node, but not one
    whose first member's join is still under way (not subscribed yet)."""
    endpoint = phxpy.Endpoint()
    relay = MessageRelay(endpoint, endpoint.pubsub.deliver_local)
    recorder = Recorder()
    with relay.joining(TOPIC, ROOM, last_seq=4):
        await relay.check()  # (the join reads the messages of its reply meanwhile)
        endpoint.pubsub.subscribe(TOPIC, recorder)  # the join returned
    await relay.check()
    await arrive(relay, 5)
    assert recorder.seen() == [("new_message", 5, "text 5")]
    endpoint.pubsub.unsubscribe(TOPIC, recorder)  # the member left
    await relay.check()
    await arrive(relay, 6)
    assert endpoint.pubsub.subscriber_count("seq:" + TOPIC) == 0
    await relay.stop()


async def test_a_gap_is_filled_from_the_database_in_order_while_messages_arrive(
    api: Api, clock: ManualClock
) -> None:
    """Seq 4 arrives before 1-3: they are read from the database (2 as hidden, as it was
    hidden meanwhile), while 1 arrives during the read; each goes out once, in order."""
    event = await api.create_event()
    room_id = event["chat_room"]["id"]
    author = await api.sign_up()
    stored = await api.post_messages(room_id, author, ["one", "two", "three", "four"], clock.now())
    bodies = {s.message.seq: json_dumps(render.message(s.message)) for s in stored}
    endpoint = phxpy.Endpoint()
    relay = MessageRelay(endpoint, endpoint.pubsub.deliver_local, fill_after=0)
    relay.start(api.db)
    recorder = Recorder()
    topic = f"event:{event['id']}"
    endpoint.pubsub.subscribe(topic, recorder)
    try:
        with relay.joining(topic, room_id, last_seq=0):
            pass
        relay.hide(room_id, 2, stored[1].message.id)
        await relay.publish(topic, 4, bodies[4])  # held; the fill starts
        await asyncio.sleep(0)  # the fill waits for its connection...
        await relay.publish(topic, 1, bodies[1])  # ...and 1 comes meanwhile
        await until(lambda: len(recorder.got) >= 4, timeout=5)
        assert recorder.seen() == [
            ("new_message", 1, "one"),
            ("new_message", 2, ""),
            ("new_message", 3, "three"),
            ("new_message", 4, "four"),
        ]
        assert relay.stats.fills >= 1
    finally:
        await relay.stop()
