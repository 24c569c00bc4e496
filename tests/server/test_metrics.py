"""``/metrics`` reflects what happened: a scripted session of real phoenix.js clients, then
the Prometheus text the service serves, parsed; and who may read it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from server.config import Settings
from tests.phoenixjs import PhoenixJS, phoenixjs
from tests.server.chat_support import (
    OPENS,
    AiohttpClient,
    World,
    build_app,
    stepping_clock,
    world,
)

__all__ = ["phoenixjs", "stepping_clock", "world"]

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(world: World, **headers: str) -> Samples:
    response = await world.client.get("/metrics", headers=headers)
    assert response.status == 200, await response.text()
    assert response.content_type == "text/plain"
    samples: Samples = {}
    for family in text_string_to_metric_families(await response.text()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((f"ticket_chat_{name}", tuple(sorted(labels.items()))), 0.0)


async def test_metrics_reflect_a_scripted_session(world: World, phoenixjs: PhoenixJS) -> None:
    event = await world.event()
    fan, friend = await world.api.sign_up(), await world.api.sign_up()
    fan_ticket, friend_ticket = await world.ticket(event["id"]), await world.ticket(event["id"])
    await world.move_to(OPENS)
    topic = f"event:{event['id']}"
    before = await scrape(world)

    # A refused connect, then two members in the room.
    refused = await phoenixjs.connect(world.url, params={"token": "forged"}, wait_open=False)
    await refused.expect(event="error")
    await refused.disconnect()
    alice = await phoenixjs.connect(world.url, params={"token": fan.token})
    bob = await phoenixjs.connect(world.url, transport="longpoll", params={"token": friend.token})
    assert (await alice.join(topic, {"ticket_number": "a guess"}))["status"] == "error"
    await alice.leave(topic)
    assert (await alice.join(topic, {"ticket_number": fan_ticket}))["status"] == "ok"
    assert (await bob.join(topic, {"ticket_number": friend_ticket}))["status"] == "ok"
    reply = await alice.push(topic, "new_message", {"content": "hello", "client_id": "c1"})
    assert reply["status"] == "ok"
    await bob.expect(event="message", topic=topic, name="new_message")
    assert (await alice.push(topic, "no such thing", {}))["status"] == "error"
    # Posting faster than the limit: the eleventh in a burst is refused.
    replies = [
        await alice.push(topic, "new_message", {"content": f"m{n}", "client_id": f"m{n}"})
        for n in range(11)
    ]
    assert [r["status"] for r in replies].count("error") >= 1

    after = await scrape(world)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("socket_connects_total", transport="websocket", result="refused", status="403") == 1
    assert grew("socket_connects_total", transport="websocket", result="ok", status="") == 1
    assert grew("socket_connects_total", transport="longpoll", result="ok", status="") == 1
    assert value(after, "sockets_open") == 2
    assert value(after, "longpoll_sessions_open") == 1
    assert grew("channel_joins_total", channel="event", result="ok", reason="") == 2
    refused_join = {"channel": "event", "result": "error", "reason": "invalid ticket"}
    assert grew("channel_joins_total", **refused_join) == 1
    assert value(after, "channels_open", channel="event") == 2
    stored = 1 + [r["status"] for r in replies].count("ok")
    assert grew("messages_stored_total") == stored
    assert grew("message_batches_total") >= 1
    posts = {"channel": "event", "event": "new_message"}
    assert grew("handle_in_seconds_count", **posts, result="noreply") == stored  # acked later
    assert grew("handle_in_seconds_count", **posts, result="error") == 12 - stored
    # A client's made-up event name is no label of its own.
    assert grew("handle_in_seconds_count", channel="event", event="other", result="error") == 1
    assert not any("no such thing" in str(key) for key in after)
    assert grew("broadcast_subscribers_count", event="new_message") >= 1
    assert grew("broadcast_subscribers_sum", event="new_message") >= 2  # both members
    assert grew("limits_hit_total", limit="messages_per_second") >= 1
    assert grew("database_seconds_count", operation="read") >= 3  # connects and joins
    assert grew("database_seconds_count", operation="transaction") >= 1  # the group commit

    await bob.leave(topic)
    await alice.disconnect()
    gone = await scrape(world)
    assert value(gone, "channels_open", channel="event") == 0
    assert value(gone, "sockets_open") == 1  # bob's LongPoll session lives on


async def test_who_may_read_the_metrics(
    aiohttp_client: AiohttpClient, settings: Settings, stepping_clock: Any, world: World
) -> None:
    # No token: this machine only, and not through a proxy.
    assert (await world.client.get("/metrics")).status == 200
    forwarded = await world.client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert forwarded.status == 403
    # With METRICS_TOKEN: the token, from anywhere; nothing without it.
    token = "metrics-token-" + "x" * 32
    client = await aiohttp_client(build_app(replace(settings, metrics_token=token), stepping_clock))
    assert (await client.get("/metrics")).status == 401
    wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401
    right = await client.get(
        "/metrics", headers={"Authorization": f"Bearer {token}", "X-Forwarded-For": "203.0.113.9"}
    )
    assert right.status == 200
    assert "ticket_chat_sockets_open" in await right.text()
