"""phxpy.cluster with a real redis-server: two nodes (two twins, each its own endpoint and
RedisCluster) in this process, the real phoenix.js clients on either.

Every wait is for an event (a frame, a presence list, a counter); timeouts only bound
failures.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import phxpy
from phxpy.cluster import RedisCluster
from phxpy.cluster import envelope as env
from phxpy.cluster.link import Address, RedisLink
from tests.balancer import HttpBalancer
from tests.phoenixjs import Client, MakeTwin, PhoenixJS, Twin, ws_url
from tests.redis_server import RedisServer, redis_server, shared_redis_url
from tests.waiting import until

GOOD = {"token": "good-token"}
FAST = {"reconnectAfterMs": [10, 20, 50], "rejoinAfterMs": [10, 20, 50]}
SECRET = b"a shared secret for every node of the test cluster"
HEARTBEAT = 0.1
DOWN_AFTER = 0.6


@dataclass
class Node:
    twin: Twin
    cluster: RedisCluster
    endpoint: phxpy.Endpoint

    @property
    def url(self) -> str:
        return self.twin.url


@pytest.fixture
async def redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    async with redis_server(tmp_path) as server:
        yield server


@pytest.fixture
async def redis_url(tmp_path: Path) -> AsyncIterator[str]:
    async with shared_redis_url(tmp_path) as url:
        yield url


NodeFactory = Callable[[], Awaitable[Node]]


def node_factory(make_twin: MakeTwin, url: str, stack: AsyncExitStack) -> NodeFactory:
    name = f"test-{uuid.uuid4().hex}"  # apart from other tests on a shared Redis

    async def make() -> Node:
        cluster = RedisCluster(url, name=name, heartbeat=HEARTBEAT, down_after=DOWN_AFTER)
        endpoint = phxpy.Endpoint(pubsub=cluster.pubsub)
        cluster.attach(endpoint)
        twin = await make_twin(
            presence=True,
            endpoint=endpoint,
            longpoll_relay=cluster.longpoll_relay,
            secret_key=SECRET,
        )
        await cluster.start()
        stack.push_async_callback(cluster.stop)
        await until(lambda: cluster.connected)
        return Node(twin, cluster, endpoint)

    return make


@pytest.fixture
async def nodes(make_twin: MakeTwin, redis_url: str) -> AsyncIterator[NodeFactory]:
    async with AsyncExitStack() as stack:
        yield node_factory(make_twin, redis_url, stack)


@pytest.fixture
async def own_nodes(make_twin: MakeTwin, redis: RedisServer) -> AsyncIterator[NodeFactory]:
    """Nodes on the test's own Redis, which it may stop."""
    async with AsyncExitStack() as stack:
        yield node_factory(make_twin, redis.url, stack)


async def two(nodes: NodeFactory) -> tuple[Node, Node]:
    a, b = await nodes(), await nodes()
    await until(lambda: b.cluster.node in a.cluster.peers() and a.cluster.node in b.cluster.peers())
    return a, b


async def member(
    js: PhoenixJS, node: Node | str, user: str, topic: str = "room:lobby", **options: Any
) -> Client:
    url = node.url if isinstance(node, Node) else node
    client = await js.connect(url, params={**GOOD, "user": user}, **{**FAST, **options})
    reply = await client.join(topic, presence=True)
    assert reply["status"] == "ok", reply
    return client


async def test_broadcasts_reach_every_node_once_in_order(
    nodes: NodeFactory, phoenixjs: PhoenixJS
) -> None:
    a, b = await two(nodes)
    on_a = await member(phoenixjs, a, "ann")
    on_b = await member(phoenixjs, b, "bob", version="1.7")
    # Fifty broadcasts in one go (as a busy node makes them): one pipeline carries them.
    for n in range(50):
        await a.endpoint.broadcast("room:lobby", "shout", {"n": n, "text": "é\u2028"})
    for client in (on_a, on_b):
        for n in range(50):
            got = await client.expect(event="message", name="shout")
            assert got["payload"] == {"n": n, "text": "é\u2028"}
    # A shout from b's client: broadcast (not broadcast_from), so both get it once.
    await on_b.push_nowait("room:lobby", "shout", {"from": "bob"})
    for client in (on_a, on_b):
        got = await client.expect(event="message", name="shout")
        assert got["payload"] == {"from": "bob"}
    await asyncio.sleep(0)
    assert b.cluster.stats.broadcasts_in >= 50
    assert a.cluster.link.stats.pipelines < a.cluster.link.stats.published
    assert a.cluster.stats.gaps == b.cluster.stats.gaps == 0


async def test_disconnect_by_socket_id_closes_sockets_on_other_nodes(
    nodes: NodeFactory, phoenixjs: PhoenixJS
) -> None:
    a, b = await two(nodes)
    on_b = await member(phoenixjs, b, "carol")
    mark = phoenixjs.mark()
    await a.twin.disconnect_user("carol")
    closed = await on_b.expect(event="close", since=mark)
    assert closed["code"] == 1001


async def test_presence_is_one_list_and_a_dead_node_leaves_it(
    nodes: NodeFactory, phoenixjs: PhoenixJS
) -> None:
    a, b = await two(nodes)
    on_a = [await member(phoenixjs, a, f"a{i}") for i in range(3)]
    on_b = [await member(phoenixjs, b, f"b{i}") for i in range(3)]
    everyone = {f"a{i}" for i in range(3)} | {f"b{i}" for i in range(3)}
    for client in on_a + on_b:
        await client.expect(lambda e: set(e["list"]) == everyone, event="presence_sync")
    # A node joining later gets the list from a full transfer.
    c = await nodes()
    late = await member(phoenixjs, c, "late")
    await late.expect(lambda e: set(e["list"]) == everyone | {"late"}, event="presence_sync")
    # a leaves without a word (its link goes silent, as after kill -9): after down_after its
    # members leave everywhere, and nobody else does.
    a.cluster._ticker.cancel()  # type: ignore[union-attr]
    await a.cluster.link.stop()
    survivors = everyone - {f"a{i}" for i in range(3)} | {"late"}
    for client in [*on_b, late]:
        await client.expect(lambda e: set(e["list"]) == survivors, event="presence_sync")
    assert b.cluster.stats.nodes_down == 1
    # c stops cleanly: its member leaves at once (a goodbye, not a timeout).
    await c.cluster.stop()
    for client in on_b:
        await client.expect(
            lambda e: set(e["list"]) == survivors - {"late"}, event="presence_sync", timeout=2
        )
    assert b.cluster.stats.goodbyes == 1


async def test_an_on_diff_hook_sees_every_nodes_changes_and_replication_goes_on(
    nodes: NodeFactory, phoenixjs: PhoenixJS
) -> None:
    """Each node runs the application's hook for every change of a topic, its own and the
    others', and tells only its own clients; a hook that keeps diffs from its clients (as a
    count does) keeps nothing from the other nodes' replicas."""
    a, b = await two(nodes)
    heard: dict[str, list[set[str]]] = {"a": [], "b": []}

    def hook(name: str) -> Any:
        async def on_diff(topic: str, diff: Any) -> bool:
            heard[name].append(set(diff.joins))
            return False  # tell clients nothing

        return on_diff

    a.twin.endpoint.presence.on_diff = hook("a")
    b.twin.endpoint.presence.on_diff = hook("b")
    on_a = await member(phoenixjs, a, "ann")
    await member(phoenixjs, b, "bob")
    await until(lambda: {"ann", "bob"} <= set().union(*heard["a"]), timeout=5)
    await until(lambda: {"ann", "bob"} <= set().union(*heard["b"]), timeout=5)
    for node in (a, b):
        assert node.twin.endpoint.presence.count("room:lobby") == 2
    # Nothing reached the clients but their own presence_state: no diff from either node.
    assert not on_a.events_since(0, event="message", name="presence_diff")
    assert a.cluster.stats.presence_out >= 1 and b.cluster.stats.presence_in >= 1


async def test_redis_restart_loses_nobody(
    own_nodes: NodeFactory, phoenixjs: PhoenixJS, redis: RedisServer
) -> None:
    a, b = await two(own_nodes)
    on_a = await member(phoenixjs, a, "ann")
    on_b = await member(phoenixjs, b, "bob")
    for client in (on_a, on_b):
        await client.expect(lambda e: set(e["list"]) == {"ann", "bob"}, event="presence_sync")
    mark = phoenixjs.mark()
    await redis.kill()
    await until(lambda: not a.cluster.connected and not b.cluster.connected)
    # An outage longer than down_after (its length is what is tested, hence a sleep):
    # nobody is declared down for an outage of Redis itself.
    await asyncio.sleep(DOWN_AFTER * 2)
    late = await member(phoenixjs, b, "late")  # joins during the outage
    await redis.start()
    await until(lambda: a.cluster.connected and b.cluster.connected)
    everyone = {"ann", "bob", "late"}
    await on_a.expect(lambda e: set(e["list"]) == everyone, event="presence_sync", since=mark)
    await late.expect(lambda e: set(e["list"]) == everyone, event="presence_sync")
    assert not phoenixjs.events_since(mark, event="presence_leave")
    assert a.cluster.stats.nodes_down == b.cluster.stats.nodes_down == 0
    assert a.cluster.link.stats.reconnects >= 1
    # And broadcasts flow again.
    await a.twin.broadcast("room:lobby", "shout", {"after": "restart"})
    for client in (on_b, late):
        got = await client.expect(event="message", name="shout", since=mark)
        assert got["payload"] == {"after": "restart"}


async def test_longpoll_through_a_round_robin_balancer(
    nodes: NodeFactory, phoenixjs: PhoenixJS, phoenix_version: str
) -> None:
    a, b = await two(nodes)
    balancer = HttpBalancer([a.twin.client.server.port, b.twin.client.server.port])  # type: ignore[list-item]
    await balancer.start()
    try:
        client = await member(
            phoenixjs, ws_url(balancer.url), "lp", transport="longpoll", version=phoenix_version
        )
        for n in range(10):
            node = (a, b)[n % 2]
            await node.twin.broadcast("room:lobby", "shout", {"n": n})
        # Each once; from two nodes, in no particular order between them.
        got = [(await client.expect(event="message", name="shout"))["payload"] for _ in range(10)]
        assert sorted(item["n"] for item in got) == list(range(10))
        reply = await client.push("room:lobby", "ping", {"echo": 1})
        assert reply["response"] == {"echo": 1}
        assert all(count > 2 for count in balancer.served.values()), balancer.served
        assert a.cluster.stats.forwarded + b.cluster.stats.forwarded > 0
        assert not phoenixjs.events_since(0, event="close")
    finally:
        await balancer.close()


def test_envelopes_round_trip() -> None:
    data = env.encode("node", 7, env.BROADCAST, ("room:x", "shout", 0), b'{"a":"\\n"}')
    decoded = env.decode(data)
    assert (decoded.node, decoded.seq, decoded.kind) == ("node", 7, env.BROADCAST)
    assert decoded.args == ("room:x", "shout", 0)
    assert decoded.body == b'{"a":"\\n"}'


def test_redis_urls() -> None:
    assert Address.parse("redis://127.0.0.1:6390/0") == Address("127.0.0.1", 6390)
    assert Address.parse("redis://:s%40cret@cache.internal/3") == Address(
        "cache.internal", 6379, password="s@cret"
    )
    assert Address.parse("rediss://chat:pw@cache.internal:6380") == Address(
        "cache.internal", 6380, tls=True, username="chat", password="pw"
    )
    assert Address.parse("unix:///run/redis.sock?password=pw") == Address(
        path="/run/redis.sock", password="pw"
    )
    with pytest.raises(ValueError, match="not a Redis URL"):
        Address.parse("http://user:pw@cache.internal")


async def test_a_link_to_a_redis_that_wants_a_password(tmp_path: Path) -> None:
    """The right password: messages flow. A wrong one: the link never comes up, what is
    published is counted as lost, and nothing raises."""
    async with redis_server(tmp_path, "--requirepass", "open sesame") as server:
        got: list[bytes] = []

        def link(url: str) -> RedisLink:
            nothing = lambda: None  # noqa: E731
            return RedisLink(url, [b"ch"], lambda _, data: got.append(data), nothing, nothing)

        url = f"redis://:open%20sesame@127.0.0.1:{server.port}/0"
        good = link(url)
        good.start()
        await until(lambda: good.connected)
        for n in range(3):
            good.publish(b"ch", b"message %d" % n)
        await until(lambda: len(got) == 3)
        assert got == [b"message 0", b"message 1", b"message 2"]
        assert good.stats.published == 3 and good.stats.pipelines == 1

        bad = link(url.replace("open%20sesame", "guess"))
        bad.start()
        bad.publish(b"ch", b"never")
        await bad.flushed()
        assert (bad.connected, bad.stats.published, bad.stats.publish_failures) == (False, 0, 1)
        await good.stop()
        await bad.stop()
        assert got == [b"message 0", b"message 1", b"message 2"]


async def test_what_is_not_an_envelope_is_counted_and_dropped(
    nodes: NodeFactory, phoenixjs: PhoenixJS
) -> None:
    a, b = await two(nodes)
    on_b = await member(phoenixjs, b, "bob")
    for garbage in (b"", b"no header", b'[2,"x",1,"b"]\n', b"\xff\xfe\n", b'[1,"x",1,"b"]\n'):
        a.cluster.link.publish(a.cluster._shared, garbage)
    await a.twin.broadcast("room:lobby", "shout", {"still": "here"})
    got = await on_b.expect(event="message", name="shout")
    assert got["payload"] == {"still": "here"}
    assert b.cluster.stats.invalid == 5
