"""The chat as several real ``python -m server`` nodes sharing PostgreSQL and a real Redis,
with the real phoenix.js clients spread over them: every user sees one chat.

Waits are for events (a frame, a presence list, an answer); timeouts bound failures only.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

from tests.balancer import HttpBalancer, TcpBalancer
from tests.phoenixjs import Client, PhoenixJS, phoenix_version, phoenixjs, ws_url
from tests.redis_proxy import DroppingRedisProxy
from tests.server.chat_support import assert_presence_readable, presence_frames
from tests.server.cluster_support import (
    DOWN_AFTER,
    ClusterWorld,
    cluster,
    fmt,
    healthz,
    now,
    seqs,
)
from tests.waiting import until

__all__ = ["cluster", "phoenix_version", "phoenixjs"]


def topic_of(event: dict[str, Any]) -> str:
    return f"event:{event['id']}"


async def post_many(client: Client, topic: str, count: int, tag: str) -> None:
    for n in range(count):
        await client.push_nowait(topic, "new_message", {"content": f"{tag} {n}"})


async def all_seen(clients: list[Client], topic: str, last: int, timeout: float = 20) -> None:
    for client in clients:
        await until(lambda c=client: len(seqs(c, topic)) >= last, timeout, f"{client} got {last}")
    await asyncio.sleep(0)
    for client in clients:
        assert seqs(client, topic) == list(range(1, last + 1)), client


async def test_every_client_gets_every_message_once_in_order(
    cluster: ClusterWorld, phoenixjs: PhoenixJS
) -> None:
    """Clients on A and C; B's client and A's client write one room at once."""
    a, b, c = await cluster.node(), await cluster.node(), await cluster.node()
    event = await cluster.open_event(a)
    topic = topic_of(event)
    on_a, _ = await cluster.member(phoenixjs, a, event["id"])
    on_b, _ = await cluster.member(phoenixjs, b, event["id"])
    on_c, _ = await cluster.member(phoenixjs, c, event["id"], version="1.7")
    await asyncio.gather(post_many(on_b, topic, 150, "b"), post_many(on_a, topic, 150, "a"))
    await all_seen([on_a, on_b, on_c], topic, 300)
    # Typing and history work from any node.
    assert (await on_c.push(topic, "typing", {"typing": True}))["status"] == "ok"
    typing = await on_a.expect(event="message", topic=topic, name="typing")
    assert typing["payload"]["typing"] is True
    history = await on_b.push(topic, "history", {"before": 11, "limit": 10})
    assert [m["seq"] for m in history["response"]["messages"]] == list(range(1, 11))


async def test_lost_broadcasts_are_filled_from_the_database(
    cluster: ClusterWorld, phoenixjs: PhoenixJS
) -> None:
    """One node's publishes pass through a proxy that loses 1 in 50 of them: its room
    messages still reach the other node's clients, complete and in order."""
    proxy = DroppingRedisProxy(cluster.redis.port, every=50)
    await proxy.start()
    try:
        a = await cluster.node()
        lossy = await cluster.node(REDIS_URL=proxy.url)
        event = await cluster.open_event(a)
        topic = topic_of(event)
        on_a, _ = await cluster.member(phoenixjs, a, event["id"])
        writer, _ = await cluster.member(phoenixjs, lossy, event["id"])
        await asyncio.gather(post_many(writer, topic, 150, "w"), post_many(on_a, topic, 150, "a"))
        await all_seen([on_a, writer], topic, 300)
        assert proxy.dropped > 0
    finally:
        await proxy.close()


async def test_presence_is_one_list_and_a_killed_node_leaves_it(
    cluster: ClusterWorld, phoenixjs: PhoenixJS
) -> None:
    a, b = await cluster.node(), await cluster.node()
    balancer = TcpBalancer([a.port, b.port])
    await balancer.start()
    try:
        event = await cluster.open_event(a)
        topic = topic_of(event)
        on_a = [await cluster.member(phoenixjs, a, event["id"]) for _ in range(4)]
        # b's clients come through the balancer, which sends them all to b for now.
        balancer.take_out(a.port)
        on_b = [await cluster.member(phoenixjs, balancer.url, event["id"]) for _ in range(4)]
        everyone = {user.id for _, user in on_a + on_b}
        for client, _ in on_a + on_b:
            await client.expect(
                lambda e: set(e["list"]) == everyone, event="presence_sync", topic=topic
            )
        posted = await on_a[0][0].push(topic, "new_message", {"content": "before"})
        last = posted["response"]["message"]["seq"]
        for client, _ in on_b:
            await until(lambda c=client: last in seqs(c, topic), 10)
            await client.set_var(topic, last)
        # kill -9 of b: a's clients see b's users leave within heartbeat + down_after + 1 s.
        balancer.down.clear()
        balancer.take_out(b.port)
        killed = time.monotonic()
        b.kill()
        survivors = {user.id for _, user in on_a}
        await on_a[0][0].expect(
            lambda e: set(e["list"]) == survivors,
            event="presence_sync",
            topic=topic,
            timeout=1 + DOWN_AFTER + 1 + 2,
        )
        assert time.monotonic() - killed < 1 + DOWN_AFTER + 1 + 1
        # Meanwhile a writes; b's clients reconnect through the balancer to a and rejoin
        # with after_seq: they miss nothing.
        for n in range(5):
            await on_a[0][0].push(topic, "new_message", {"content": f"after {n}"})
        for client, _ in on_b:
            rejoined = await client.expect(event="join", topic=topic, status="ok", timeout=15)
            got = [m["seq"] for m in rejoined["response"]["messages"]]
            assert got == list(range(last + 1, last + 1 + len(got)))
    finally:
        await balancer.close()


async def test_redis_restarted_under_load(cluster: ClusterWorld, phoenixjs: PhoenixJS) -> None:
    a, b = await cluster.node(), await cluster.node()
    event = await cluster.open_event(a)
    topic = topic_of(event)
    on_a, alice = await cluster.member(phoenixjs, a, event["id"])
    on_b, bob = await cluster.member(phoenixjs, b, event["id"])
    for client in (on_a, on_b):
        await client.expect(
            lambda e: set(e["list"]) == {alice.id, bob.id}, event="presence_sync", topic=topic
        )
    mark = phoenixjs.mark()
    writing = asyncio.gather(post_many(on_a, topic, 100, "a"), post_many(on_b, topic, 100, "b"))
    await cluster.redis.kill()
    await until_health(cluster, a, 503)
    await cluster.redis.start()
    restarted = time.monotonic()
    await writing
    for node in (a, b):
        await until_health(cluster, node, 200)
    assert time.monotonic() - restarted < 3
    await all_seen([on_a, on_b], topic, 200, timeout=30)
    more = await on_b.push(topic, "new_message", {"content": "after the restart"})
    assert more["status"] == "ok"
    await all_seen([on_a, on_b], topic, 201)
    assert not phoenixjs.events_since(mark, event="presence_leave")


async def until_health(cluster: ClusterWorld, node: Any, status: int, timeout: float = 5) -> None:
    await until_async(lambda: healthz(cluster.http, node), status, timeout)


async def until_async(probe: Any, wanted: int, timeout: float) -> None:
    """Until ``await probe()`` answers ``wanted`` (each answer is a round trip, so this
    waits for the service, not for time)."""
    async with asyncio.timeout(timeout):
        while await probe() != wanted:
            pass


async def test_sign_out_closes_the_users_sockets_on_every_node(
    cluster: ClusterWorld, phoenixjs: PhoenixJS
) -> None:
    a, b, c = await cluster.node(), await cluster.node(), await cluster.node()
    event = await cluster.open_event(a)
    user = await cluster.holder(a, event["id"])
    ws, session = await cluster.member(phoenixjs, a, event["id"], user=user)
    lp, _ = await cluster.member(phoenixjs, b, event["id"], user=user, transport="longpoll")
    mark = phoenixjs.mark()
    signed_out = time.monotonic()
    await cluster.api(c).post("/api/users/sign_out", token=session.token, expected=204)
    for client in (ws, lp):
        await client.expect(event="close", since=mark, timeout=2)
    assert time.monotonic() - signed_out < 1.5


async def test_longpoll_through_a_round_robin_balancer(
    cluster: ClusterWorld, phoenixjs: PhoenixJS, phoenix_version: str
) -> None:
    a, b = await cluster.node(), await cluster.node()
    balancer = HttpBalancer([a.port, b.port])
    await balancer.start()
    try:
        event = await cluster.open_event(a)
        topic = topic_of(event)
        polling, _ = await cluster.member(
            phoenixjs, balancer.url, event["id"], transport="longpoll", version=phoenix_version
        )
        on_a, _ = await cluster.member(phoenixjs, a, event["id"])
        await post_many(on_a, topic, 20, "a")
        reply = await polling.push(topic, "new_message", {"content": "from longpoll"})
        assert reply["status"] == "ok", reply
        await all_seen([polling, on_a], topic, 21)
        assert min(balancer.served.values()) > 2, balancer.served
        assert not phoenixjs.events_since(0, event="close", client=polling.name)
    finally:
        await balancer.close()


async def test_the_message_limit_holds_across_nodes(
    cluster: ClusterWorld, phoenixjs: PhoenixJS
) -> None:
    limits = {"CHAT_MESSAGES_PER_SECOND": "1", "CHAT_MESSAGE_BURST": "10"}
    a, b = await cluster.node(**limits), await cluster.node(**limits)
    event = await cluster.open_event(a)
    topic = topic_of(event)
    user = await cluster.holder(a, event["id"])
    tab_a, _ = await cluster.member(phoenixjs, a, event["id"], user=user)
    tab_b, _ = await cluster.member(phoenixjs, b, event["id"], user=user)
    started = time.monotonic()
    replies = []
    for n in range(10):
        for tab in (tab_a, tab_b):
            replies.append(await tab.push(topic, "new_message", {"content": f"{n}"}))
    elapsed = time.monotonic() - started
    accepted = sum(1 for reply in replies if reply["status"] == "ok")
    refused = [r["response"] for r in replies if r["status"] != "ok"]
    # One budget for both tabs: the burst, plus what the rate refilled meanwhile.
    assert 10 <= accepted <= 10 + int(elapsed) + 1, (accepted, elapsed)
    assert refused and all(r == {"reason": "too many messages"} for r in refused)


async def test_a_room_opens_once_with_every_nodes_scheduler_running(
    cluster: ClusterWorld, phoenixjs: PhoenixJS
) -> None:
    a, b, c = await cluster.node(), await cluster.node(), await cluster.node()
    later = now() + timedelta(hours=5)
    event = await cluster.api(a).create_event(
        name="Gig", start_time=fmt(later), end_time=fmt(later + timedelta(hours=4))
    )
    topic = topic_of(event)
    members = []
    for node in (a, b, c):
        client, user = await cluster.member(phoenixjs, node, event["id"])
        assert (await client.join(f"user:{user.id}"))["status"] == "ok"
        members.append((client, user))
    mark = phoenixjs.mark()
    # Moved, through every node, to start within two hours: its room is due now, and every
    # node's schedule runs a pass for it.
    soon = {"id": event["id"], "event": {"start_time": fmt(now() + timedelta(hours=1))}}
    await asyncio.gather(
        *(
            cluster.api(node).post("/api/events/update_event", soon, service=True, expected=200)
            for node in (a, b, c)
        )
    )
    opened = "The chat for Gig is open"
    for client, user in members:
        await client.expect(event="message", topic=topic, name="room_status", since=mark)
        await client.expect(
            lambda e: e["payload"]["message"] == opened,
            event="message",
            topic=f"user:{user.id}",
            name="notification",
        )
    # A round trip through every node after the passes: nothing more was sent.
    for client, _ in members:
        assert (await client.push(topic, "history", {"limit": 1}))["status"] == "ok"
    for client, user in members:
        assert len(client.events_since(mark, event="message", name="room_status")) == 1
        notes = client.events_since(
            mark, lambda e: e["payload"]["message"] == opened, event="message", name="notification"
        )
        assert len(notes) == 1
        stored = await cluster.api(a).get("/api/notifications", token=user.token, expected=200)
        assert [n["message"] for n in stored["data"]].count(opened) == 1


async def test_a_node_without_redis_is_unhealthy_until_it_returns(
    cluster: ClusterWorld,
) -> None:
    node = await cluster.node()
    single = await cluster.node(REDIS_URL="")
    assert await healthz(cluster.http, node) == 200
    await cluster.redis.kill()
    await until_health(cluster, node, 503)
    assert await healthz(cluster.http, single) == 200  # one process needs no Redis
    await cluster.redis.start()
    await until_health(cluster, node, 200)


async def moderate(
    cluster: ClusterWorld, node: Any, event: dict[str, Any], action: str, body: dict[str, Any]
) -> Any:
    path = f"/api/events/{event['id']}/moderation/{action}"
    return (await cluster.api(node).post(path, body, service=True, expected=200))["data"]


async def test_an_organisers_action_on_one_node_holds_on_every_node(
    cluster: ClusterWorld, phoenixjs: PhoenixJS
) -> None:
    """Mute, slow mode and removal taken through A are enforced by B from its memory, and
    B's members are told once, only when B enforces them."""
    a, b = await cluster.node(), await cluster.node()
    event = await cluster.open_event(a)
    topic = topic_of(event)
    on_a, _ = await cluster.member(phoenixjs, a, event["id"])
    bob, bob_user = await cluster.member(phoenixjs, b, event["id"])
    carol, carol_user = await cluster.member(phoenixjs, b, event["id"])
    assert (await bob.push(topic, "new_message", {"content": "hi"}))["status"] == "ok"

    # A mute through A: Bob, on B, is told, and B refuses his next post.
    muted = await moderate(
        cluster, a, event, "mute", {"user_id": bob_user.id, "duration_seconds": 600}
    )
    until = muted["moderation"]["mutes"][0]["until"]
    told = await bob.expect(event="message", topic=topic, name="muted")
    assert told["payload"] == {"until": until}
    refused = await bob.push(topic, "new_message", {"content": "but why"})
    response = refused["response"]
    assert (response["reason"], response["until"]) == ("muted", until)
    assert 0 < response["retry_after"] <= 600

    # Slow mode through A: B's members are told, and B holds Carol to it.
    await moderate(cluster, a, event, "slow_mode", {"seconds": 60})
    for client in (carol, on_a):
        told = await client.expect(event="message", topic=topic, name="slow_mode")
        assert told["payload"] == {"seconds": 60}
    assert (await carol.push(topic, "new_message", {"content": "one"}))["status"] == "ok"
    too_soon = await carol.push(topic, "new_message", {"content": "two"})
    assert too_soon["response"]["reason"] == "slow mode"

    # A removal through A closes Carol's channel on B; B refuses her rejoin.
    await moderate(cluster, a, event, "remove", {"user_id": carol_user.id, "reason": "rude"})
    told = await carol.expect(event="message", topic=topic, name="removed")
    assert told["payload"] == {"reason": "rude"}
    await carol.expect(event="channel_close", topic=topic)
    await on_a.expect(event="presence_leave", key=carol_user.id)
    again = await carol.join(topic, {})
    assert (again["status"], again["response"]) == ("error", {"reason": "removed"})
    await carol.leave(topic)

    # Unmuted through B this time: A never heard of Bob's mute in its memory but enforces
    # the room's state all the same, and Bob posts again.
    await moderate(cluster, b, event, "unmute", {"user_id": bob_user.id})
    await bob.expect(event="message", topic=topic, name="unmuted")
    await moderate(cluster, b, event, "slow_mode", {"seconds": 0})
    await bob.expect(
        lambda e: e["payload"] == {"seconds": 0}, event="message", topic=topic, name="slow_mode"
    )
    assert (await bob.push(topic, "new_message", {"content": "thanks"}))["status"] == "ok"
    # Each notice reached each member once.
    for client, name, count in ((bob, "muted", 1), (bob, "unmuted", 1), (carol, "removed", 1)):
        assert len(client.events_since(0, event="message", topic=topic, name=name)) == count
    assert not on_a.events_since(0, event="message", name="muted")


async def test_a_removal_and_a_reinstatement_are_told_once_whichever_node(
    cluster: ClusterWorld, phoenixjs: PhoenixJS
) -> None:
    """Taken through A, a removal and a reinstatement reach the member's own channel once
    per client (their tabs on B and on A), not once per node, and are stored once. Told of
    the reinstatement, the member rejoins through B at once."""
    a, b = await cluster.node(), await cluster.node()
    event = await cluster.open_event(a)
    topic = topic_of(event)
    carol, carol_user = await cluster.member(phoenixjs, b, event["id"])
    mine = f"user:{carol_user.id}"
    tab = await phoenixjs.connect(ws_url(a.url), params={"token": carol_user.token})
    for client in (carol, tab):
        assert (await client.join(mine))["status"] == "ok"

    await moderate(cluster, a, event, "remove", {"user_id": carol_user.id, "reason": "rude"})
    for client in (carol, tab):
        told = await client.expect(event="message", topic=mine, name="notification")
        assert (told["payload"]["kind"], told["payload"]["event_id"]) == ("removed", event["id"])
    await carol.expect(event="channel_close", topic=topic)

    await moderate(cluster, a, event, "reinstate", {"user_id": carol_user.id})
    await carol.expect(
        lambda e: e["payload"]["kind"] == "reinstated", event="message", topic=mine,
        name="notification",
    )  # fmt: skip
    back = await carol.join(topic, {})
    assert back["status"] == "ok", back
    await tab.expect(
        lambda e: e["payload"]["kind"] == "reinstated", event="message", topic=mine,
        name="notification",
    )  # fmt: skip

    # A later action through A reaches B after everything A published before it.
    await moderate(cluster, a, event, "mute", {"user_id": carol_user.id, "duration_seconds": 60})
    await carol.expect(event="message", topic=topic, name="muted")
    for client in (carol, tab):
        told = client.events_since(0, event="message", topic=mine, name="notification")
        assert [e["payload"]["kind"] for e in told] == ["removed", "reinstated"], client
    stored = await cluster.api(b).get("/api/notifications", token=carol_user.token, expected=200)
    assert sorted(n["kind"] for n in stored["data"]) == ["reinstated", "removed"]


async def test_announcements_and_hidden_messages_keep_the_rooms_order_on_every_node(
    cluster: ClusterWorld, phoenixjs: PhoenixJS
) -> None:
    """Announcements through A while members on A and B post: one seq order everywhere. A
    message hidden through A is announced on B once, and B's history serves it without its
    content."""
    a, b = await cluster.node(), await cluster.node()
    event = await cluster.open_event(a)
    topic = topic_of(event)
    on_a, _ = await cluster.member(phoenixjs, a, event["id"])
    on_b, reader = await cluster.member(phoenixjs, b, event["id"])
    watcher, _ = await cluster.member(phoenixjs, b, event["id"], version="1.7")
    spam = await on_a.push(topic, "new_message", {"content": "cheap tickets at example.com"})
    spam_message = spam["response"]["message"]
    await all_seen([on_a, on_b, watcher], topic, 1)

    path = f"/api/events/{event['id']}/announcements"
    api = cluster.api(a)
    announcing = asyncio.gather(
        *(
            api.post(
                path,
                {"content": f"notice {n}", "client_id": f"n{n}"},
                service=True,
                expected=201,
            )
            for n in range(10)
        )
    )
    await asyncio.gather(post_many(on_a, topic, 40, "a"), post_many(on_b, topic, 40, "b"))
    announced = await announcing
    await all_seen([on_a, on_b, watcher], topic, 91)
    organiser = [
        e["payload"]["seq"]
        for e in watcher.events_since(0, event="message", topic=topic, name="new_message")
        if e["payload"]["author_role"] == "organiser"
    ]
    assert sorted(organiser) == sorted(reply["data"]["seq"] for reply in announced)

    hidden = await moderate(cluster, a, event, "hide", {"message_id": spam_message["id"]})
    assert [h["seq"] for h in hidden["moderation"]["hidden_messages"]] == [1]
    for client in (on_a, on_b, watcher):
        told = await client.expect(event="message", topic=topic, name="message_hidden")
        assert told["payload"] == {"id": spam_message["id"], "seq": 1}
    # A round trip through B after it: nothing more was told.
    history = await on_b.push(topic, "history", {"before": 2})
    [first] = history["response"]["messages"]
    assert (first["seq"], first["hidden"], first["content"]) == (1, True, "")
    for client in (on_a, on_b, watcher):
        assert len(client.events_since(0, event="message", name="message_hidden")) == 1
    rest = await cluster.api(b).get(
        f"/api/events/{event['id']}/messages?before=2", token=reader.token, expected=200
    )
    assert [(m["seq"], m["hidden"], m["content"]) for m in rest["data"]] == [(1, True, "")]


async def test_a_big_rooms_count_is_the_clusters(
    cluster: ClusterWorld, phoenixjs: PhoenixJS
) -> None:
    """Above PRESENCE_LIST_LIMIT members online across the nodes, every member on every
    node switches to count mode once and hears the cluster's count, once per change."""
    small = {"PRESENCE_LIST_LIMIT": "2"}
    a, b = await cluster.node(**small), await cluster.node(**small)
    event = await cluster.open_event(a)
    topic = topic_of(event)
    first, alice = await cluster.member(phoenixjs, a, event["id"])
    second, bob = await cluster.member(phoenixjs, b, event["id"])
    for client in (first, second):
        await client.expect(
            lambda e: set(e["list"]) == {alice.id, bob.id}, event="presence_sync", topic=topic
        )
    third, carol = await cluster.member(phoenixjs, b, event["id"])
    for client in (first, second, third):
        await client.expect(
            lambda e: e["payload"] == {"online": 3}, event="message", name="presence_count"
        )
    fourth, dave = await cluster.member(phoenixjs, a, event["id"])
    for client in (first, second, third, fourth):
        await client.expect(
            lambda e: e["payload"] == {"online": 4}, event="message", name="presence_count"
        )
    for client in (first, second, third, fourth):
        modes = client.events_since(0, event="message", name="presence_mode")
        assert [m["payload"] for m in modes] == [{"mode": "count"}]
    # REST on either node counts the whole room.
    for node in (a, b):
        people = await cluster.api(node).get(
            f"/api/events/{event['id']}/participants", service=True, expected=200
        )
        assert people["online_count"] == 4, people
        assert all(person["online"] for person in people["data"])

    # The room shrinks to one member, on B: listed again, the mode before the list.
    mark = phoenixjs.mark()
    for client in (fourth, third, first):
        await client.leave(topic)
    await second.expect(
        lambda e: e["payload"] == {"mode": "list"}, event="message", name="presence_mode"
    )
    await second.expect(lambda e: set(e["list"]) == {bob.id}, event="presence_sync", since=mark)
    # Each member, on either node, could read every presence message as it came.
    for client, user in ((first, alice), (second, bob), (third, carol), (fourth, dave)):
        [joined] = client.events_since(0, event="join", topic=topic)
        frames = presence_frames(client, topic)
        assert_presence_readable(frames, joined["response"]["presence"], user.id, joined=True)
    assert [f[0] for f in presence_frames(second, topic)][-2:] == [
        "presence_mode",
        "presence_state",
    ]
