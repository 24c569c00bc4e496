"""One node of a cluster: phxpy processes sharing one Redis.

::

    cluster = RedisCluster("redis://127.0.0.1:6379/0", name="chat")
    endpoint = phxpy.Endpoint(pubsub=cluster.pubsub)
    cluster.attach(endpoint)                      # Presence replicated across nodes
    phxpy.mount(app, "/socket", UserSocket, endpoint=endpoint, longpoll=True,
                longpoll_relay=cluster.longpoll_relay, secret_key=SHARED_SECRET)
    await cluster.start()    ...    await cluster.stop()

**Broadcasts.** :class:`ClusterPubSub` delivers to this node's subscribers at once (so
``broadcast_from`` and single-node timing stay as they are), then queues one envelope for
the others on the cluster's shared channel. The payload is encoded once for the whole
cluster and each node splices it, unchanged, into the one frame per serializer it builds
(the fastlane); it is decoded only for a channel that intercepts the event. A node ignores
its own envelopes. Disconnecting a socket id is a broadcast on it, so it reaches every node.

**Presence.** :meth:`RedisCluster.attach` makes the node the endpoint Presence's
``replicator``: the node's own coalesced changes go to the others as one envelope each, every
node applies them to its replica of the sender (:mod:`phxpy.cluster.presence_sync`) and tells
its own clients, through the application's ``on_diff`` hook as for its own changes.

**Membership.** Every node sends a heartbeat (``heartbeat`` seconds) carrying its envelope
count; a receiver that sees the count jump missed envelopes (Redis pub/sub is at most once:
a restart loses what was in flight) and asks that node for its presences; so does a node
that hears of another for the first time. A node not heard of for ``down_after`` seconds is
down: its presences leave, everywhere. Not while this node's own link to Redis is down, nor
for ``down_after`` after it came back: an outage of Redis silences everyone at once, and
nobody should leave for that. A node that stops cleanly says goodbye: its presences leave
at once. A node also hears its own heartbeats: when they stop coming back, its subscription
went silent and is made again.

**LongPoll.** :attr:`RedisCluster.longpoll_relay` carries a request for another node's
session to that node's own channel and brings back the answer (see
:mod:`phxpy.longpoll_relay`).

Counters: :attr:`RedisCluster.stats` and :meth:`RedisCluster.snapshot`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import logging
import secrets
from collections.abc import Awaitable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from ..clock import SystemClock
from ..endpoint import Endpoint
from ..errors import EncodeError, InvalidMessage
from ..longpoll_relay import ForwardedHandler, ForwardedRequest, ForwardedResponse
from ..message import RawJSON
from ..presence_state import Diff
from ..pubsub import Broadcast, LocalPubSub, Subscriber
from ..serializer import json_dumps
from ..types import Clock, Event, Payload, Topic
from . import envelope as env
from .link import RedisLink
from .presence_sync import Entry, PresenceReplicas

log = logging.getLogger("phxpy.cluster")

DEFAULT_HEARTBEAT = 1.0
DEFAULT_DOWN_AFTER = 5.0
FORWARD_ACK_TIMEOUT = 2.0
"""How long a node waits for the owner to confirm a forwarded LongPoll session (Phoenix's
``pubsub_timeout_ms``)."""
FORWARD_TIMEOUT = 60.0
"""How long it waits for the owner's answer after that (a poll is held up to its window)."""
STATE_RETRY = 1.0
"""Least time between two requests for one node's presences."""


@dataclass(slots=True)
class ClusterStats:
    """What one node counted (the link's counters: ``RedisCluster.link.stats``)."""

    broadcasts_out: int = 0
    """Broadcasts published for the other nodes."""
    broadcasts_in: int = 0
    """Broadcasts received from other nodes."""
    presence_out: int = 0
    """Presence diffs (this node's own changes, coalesced) published for the others."""
    presence_in: int = 0
    """Presence diffs received from other nodes."""
    gaps: int = 0
    """Envelopes of other nodes that never arrived (jumps in their counts)."""
    state_requests: int = 0
    """Full presence transfers asked for (a gap, or a node heard of for the first time)."""
    transfers: int = 0
    """Full presence transfers applied."""
    nodes_down: int = 0
    """Nodes declared down after ``down_after`` of silence."""
    goodbyes: int = 0
    """Nodes that stopped cleanly."""
    invalid: int = 0
    """Messages on the cluster's channels that were not envelopes of this version."""
    forwarded: int = 0
    """LongPoll requests carried to their owner node."""
    forward_misses: int = 0
    """Of those, the owner did not confirm the session (gone, or its node is)."""
    served: int = 0
    """LongPoll requests served for another node."""


@dataclass(slots=True)
class _Peer:
    seq: int
    heard: float
    needs_state: bool = True
    asked: float | None = None


@dataclass(slots=True)
class _Forward:
    ack: asyncio.Future[bool]
    answer: asyncio.Future[ForwardedResponse]


def new_node_name() -> str:
    """12 URL-safe characters, fresh for every start of a process."""
    return base64.urlsafe_b64encode(secrets.token_bytes(9)).decode("ascii")


class ClusterPubSub:
    """The :class:`~phxpy.pubsub.PubSub` of a node: local subscribers, every node's
    broadcasts."""

    def __init__(self, cluster: RedisCluster) -> None:
        self._cluster = cluster
        self._local = LocalPubSub()

    def subscribe(self, topic: Topic, subscriber: Subscriber) -> None:
        self._local.subscribe(topic, subscriber)

    def unsubscribe(self, topic: Topic, subscriber: Subscriber) -> None:
        self._local.unsubscribe(topic, subscriber)

    def subscriber_count(self, topic: Topic) -> int:
        """Subscribers on this node."""
        return self._local.subscriber_count(topic)

    async def broadcast(
        self, topic: Topic, event: Event, payload: Payload, origin: Any = None
    ) -> None:
        if isinstance(payload, bytes | RawJSON):
            local = payload
        else:
            try:
                local = RawJSON(json_dumps(payload))
            except EncodeError as error:
                log.warning("broadcast %r on %r not sent: %s", event, topic, error)
                return
        self._local.deliver_local(Broadcast(topic, event, local, origin))
        self._cluster.publish_broadcast(topic, event, local)

    def deliver_local(self, broadcast: Broadcast) -> None:
        """To this node's subscribers only (what a relay does after reordering, say)."""
        self._local.deliver_local(broadcast)


class RedisCluster:
    def __init__(
        self,
        url: str,
        *,
        name: str = "phxpy",
        heartbeat: float = DEFAULT_HEARTBEAT,
        down_after: float = DEFAULT_DOWN_AFTER,
        forward_ack_timeout: float = FORWARD_ACK_TIMEOUT,
        forward_timeout: float = FORWARD_TIMEOUT,
        clock: Clock | None = None,
        node: str | None = None,
    ) -> None:
        if down_after <= heartbeat:
            raise ValueError("down_after must be longer than the heartbeat interval")
        self.node = node or new_node_name()
        self.name = name
        self.heartbeat = heartbeat
        self.down_after = down_after
        self.forward_ack_timeout = forward_ack_timeout
        self.forward_timeout = forward_timeout
        self.clock: Clock = clock or SystemClock()
        self.stats = ClusterStats()
        self.pubsub = ClusterPubSub(self)
        self.longpoll_relay = ClusterLongPollRelay(self)
        self._shared = f"phxpy:{name}".encode()
        self._direct_prefix = f"phxpy:{name}:node:"
        self.link = RedisLink(
            url,
            [self._shared, self._direct(self.node)],
            self._on_message,
            self._link_up,
            self._link_down,
        )
        self._seq = 0
        self._peers: dict[str, _Peer] = {}
        self._replicas: PresenceReplicas | None = None
        self._up_since: float | None = None
        self._own_echo = 0.0
        """When this node last heard its own envelopes back (checked at each tick)."""
        self._echoed = False
        self._own_prefix = env.header_prefix(self.node)
        self._ticker: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._started = False

    # ------------------------------------------------------------------ lifecycle

    def attach(self, endpoint: Endpoint) -> None:
        """Replicate ``endpoint``'s Presence across the nodes (its pub/sub must be
        :attr:`pubsub`)."""
        if endpoint.pubsub is not self.pubsub:
            raise ValueError("the endpoint must use this cluster's pubsub")
        presence = endpoint.presence
        self._replicas = PresenceReplicas(presence)
        presence.replicator = self

    async def start(self) -> None:
        """Start listening and sending heartbeats. Returns at once: while Redis cannot be
        reached the node serves its own clients and keeps trying (see :attr:`connected`)."""
        if self._started:
            return
        self._started = True
        self.link.start()
        self._ticker = asyncio.get_running_loop().create_task(self._tick_forever())

    async def stop(self) -> None:
        """Say goodbye (this node's presences leave everywhere at once), then close."""
        if not self._started:
            return
        self._started = False
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self.link.connected:
            self._publish_shared(env.GOODBYE)
        for task in list(self._tasks):
            task.cancel()
        self.longpoll_relay.close()
        await self.link.stop()

    @property
    def connected(self) -> bool:
        """Subscribed to Redis right now."""
        return self.link.connected

    def peers(self) -> tuple[str, ...]:
        """The other nodes this one hears from."""
        return tuple(self._peers)

    def snapshot(self) -> dict[str, Any]:
        """Every counter, for a metrics or health endpoint."""
        return {
            "node": self.node,
            "connected": self.connected,
            "peers": len(self._peers),
            **asdict(self.link.stats),
            **asdict(self.stats),
        }

    # ----------------------------------------------------------------- publishing

    def _direct(self, node: str) -> bytes:
        return f"{self._direct_prefix}{node}".encode()

    def _publish_shared(self, kind: str, args: tuple[Any, ...] = (), body: bytes = b"") -> None:
        self._seq += 1
        self.link.publish(self._shared, env.encode(self.node, self._seq, kind, args, body))

    def _publish_direct(
        self, node: str, kind: str, args: tuple[Any, ...] = (), body: bytes = b"", seq: int = 0
    ) -> None:
        self.link.publish(self._direct(node), env.encode(self.node, seq, kind, args, body))

    def publish_broadcast(self, topic: Topic, event: Event, payload: bytes | RawJSON) -> None:
        self.stats.broadcasts_out += 1
        if isinstance(payload, RawJSON):
            self._publish_shared(env.BROADCAST, (topic, event, 0), payload.data)
        else:
            self._publish_shared(env.BROADCAST, (topic, event, 1), payload)

    def publish_diff(self, topic: Topic, diff: Diff) -> None:
        """This node's own presence changes, for the other nodes' replicas."""
        self.stats.presence_out += 1
        self._publish_shared(env.PRESENCE, (topic,), json_dumps(diff.payload()))

    def deliver_local(self, broadcast: Broadcast) -> None:
        self.pubsub.deliver_local(broadcast)

    # ------------------------------------------------------------------ receiving

    def _on_message(self, channel: bytes, data: bytes) -> None:
        if data.startswith(self._own_prefix):
            # This node's own envelope, back from Redis: proof that the subscription
            # listens, and nothing else (no need to decode it).
            self._echoed = True
            return
        try:
            envelope = env.decode(data)
        except InvalidMessage:
            self.stats.invalid += 1
            return
        node = envelope.node
        if node == self.node:
            self._echoed = True
            return
        kind = envelope.kind
        try:
            if kind in env.DIRECT_KINDS:
                self._on_direct(envelope)
                return
            self._heard(node, envelope.seq)
            if kind == env.BROADCAST:
                self._on_broadcast(envelope)
            elif kind == env.PRESENCE:
                self._on_presence(envelope)
            elif kind == env.GOODBYE:
                self._goodbye(node)
        except (ValueError, TypeError, IndexError) as error:
            self.stats.invalid += 1
            log.warning("unusable %r envelope from node %s: %s", kind, node, error)

    def _on_broadcast(self, envelope: env.Envelope) -> None:
        topic, event, binary = envelope.args[:3]
        if not isinstance(topic, str) or not isinstance(event, str):
            raise ValueError("topic and event must be strings")
        self.stats.broadcasts_in += 1
        payload: bytes | RawJSON = envelope.body if binary else RawJSON(envelope.body)
        self.pubsub.deliver_local(Broadcast(topic, event, payload))

    def _on_presence(self, envelope: env.Envelope) -> None:
        (topic,) = envelope.args[:1]
        if not isinstance(topic, str):
            raise ValueError("topic must be a string")
        self.stats.presence_in += 1
        if self._replicas is not None:
            self._replicas.apply_diff(envelope.node, topic, json.loads(envelope.body))

    def _heard(self, node: str, seq: int) -> None:
        now = self.clock.now()
        peer = self._peers.get(node)
        if peer is None:
            log.info("node %s joined the cluster", node)
            self._peers[node] = peer = _Peer(seq=seq, heard=now)
            self._ask_state(node, peer, now)
            return
        peer.heard = now
        if seq > peer.seq + 1:
            self.stats.gaps += seq - peer.seq - 1
            peer.needs_state = True
            self._ask_state(node, peer, now)
        peer.seq = max(peer.seq, seq)

    def _ask_state(self, node: str, peer: _Peer, now: float) -> None:
        if peer.asked is not None and now - peer.asked < STATE_RETRY:
            return
        peer.asked = now
        self.stats.state_requests += 1
        self._publish_direct(node, env.STATE_REQUEST)

    def _goodbye(self, node: str) -> None:
        self._peers.pop(node, None)
        self.stats.goodbyes += 1
        left = self._replicas.drop(node) if self._replicas is not None else 0
        log.info("node %s left the cluster (%d presences)", node, left)

    def _on_direct(self, envelope: env.Envelope) -> None:
        kind, node = envelope.kind, envelope.node
        if kind == env.STATE_REQUEST:
            entries = self._replicas.local_entries() if self._replicas is not None else []
            self._publish_direct(node, env.STATE, body=json_dumps(entries), seq=self._seq)
        elif kind == env.STATE:
            self._apply_state(node, envelope.seq, json.loads(envelope.body))
        elif kind == env.LONGPOLL_REQUEST:
            self.longpoll_relay.on_request(node, envelope)
        elif kind == env.LONGPOLL_ACK:
            self.longpoll_relay.on_ack(envelope)
        elif kind == env.LONGPOLL_ANSWER:
            self.longpoll_relay.on_answer(envelope)

    def _apply_state(self, node: str, seq: int, entries: Any) -> None:
        peer = self._peers.get(node)
        now = self.clock.now()
        if peer is None:
            self._peers[node] = peer = _Peer(seq=seq, heard=now)
        peer.heard = now
        peer.seq = max(peer.seq, seq)
        peer.needs_state = False
        peer.asked = None
        self.stats.transfers += 1
        if self._replicas is not None and isinstance(entries, list):
            self._replicas.replace(node, _entries(entries))

    # ------------------------------------------------------------------- the link

    def _link_up(self) -> None:
        now = self.clock.now()
        self._up_since = now
        self._own_echo = now
        # Whatever was missed meanwhile shows as gaps at the peers' next heartbeats; say
        # hello now so that they learn of this node without waiting.
        self._publish_shared(env.HEARTBEAT)

    def _link_down(self) -> None:
        self._up_since = None

    async def _tick_forever(self) -> None:
        while True:
            await self.clock.sleep(self.heartbeat)
            try:
                self._tick()
            except Exception:
                log.exception("cluster heartbeat failed")

    def _tick(self) -> None:
        now = self.clock.now()
        if not self.link.connected:
            return
        self._publish_shared(env.HEARTBEAT)
        if self._echoed:
            self._own_echo, self._echoed = now, False
        elif now - self._own_echo > 3 * self.heartbeat:
            log.warning("no echo of this node's heartbeats: subscribing again")
            self._own_echo = now
            self.link.recycle()
            return
        for node, peer in list(self._peers.items()):
            if peer.needs_state:
                self._ask_state(node, peer, now)
        # Nobody is declared down while this node's own view may be what is broken.
        if self._up_since is None or now - self._up_since < self.down_after:
            return
        for node, peer in list(self._peers.items()):
            if now - peer.heard >= self.down_after:
                del self._peers[node]
                self.stats.nodes_down += 1
                left = self._replicas.drop(node) if self._replicas is not None else 0
                log.warning(
                    "node %s silent for %.1f s: down (%d presences leave)",
                    node,
                    now - peer.heard,
                    left,
                )

    def spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class ClusterLongPollRelay:
    """:class:`~phxpy.longpoll_relay.LongPollRelay` over the nodes' own channels."""

    def __init__(self, cluster: RedisCluster) -> None:
        self._cluster = cluster
        self._handlers: dict[str, ForwardedHandler] = {}
        self._waiting: dict[int, _Forward] = {}
        self._ids = itertools.count(1)

    @property
    def node(self) -> str:
        return self._cluster.node

    def serve(self, path: str, handler: ForwardedHandler) -> None:
        self._handlers[path] = handler

    async def forward(self, node: str, request: ForwardedRequest) -> ForwardedResponse | None:
        cluster = self._cluster
        if not cluster.connected:
            return None
        cluster.stats.forwarded += 1
        loop = asyncio.get_running_loop()
        ident = next(self._ids)
        waiting = self._waiting[ident] = _Forward(loop.create_future(), loop.create_future())
        head = json_dumps(
            [request.path, request.method, request.session_id, request.token, request.content_type]
        )
        cluster._publish_direct(
            node, env.LONGPOLL_REQUEST, (ident,), b"".join((head, b"\n", request.body))
        )
        try:
            async with asyncio.timeout(cluster.forward_ack_timeout):
                found = await waiting.ack
            if not found:
                cluster.stats.forward_misses += 1
                return None
            async with asyncio.timeout(cluster.forward_timeout):
                return await waiting.answer
        except TimeoutError:
            cluster.stats.forward_misses += 1
            return None
        finally:
            del self._waiting[ident]

    def on_request(self, node: str, envelope: env.Envelope) -> None:
        cluster = self._cluster
        ident = envelope.args[0]
        head, _, body = envelope.body.partition(b"\n")
        path, method, session_id, token, content_type = json.loads(head)
        handler = self._handlers.get(path)
        request = ForwardedRequest(path, method, session_id, token, content_type, body)
        answer = handler(request) if handler is not None else None
        cluster._publish_direct(node, env.LONGPOLL_ACK, (ident, answer is not None))
        if answer is not None:
            cluster.stats.served += 1
            cluster.spawn(self._answer(node, ident, answer))

    async def _answer(self, node: str, ident: int, answer: Awaitable[ForwardedResponse]) -> None:
        response = await answer
        self._cluster._publish_direct(
            node,
            env.LONGPOLL_ANSWER,
            (ident, response.status, response.content_type),
            response.body,
        )

    def on_ack(self, envelope: env.Envelope) -> None:
        ident, found = envelope.args[:2]
        waiting = self._waiting.get(ident)
        if waiting is not None and not waiting.ack.done():
            waiting.ack.set_result(bool(found))

    def on_answer(self, envelope: env.Envelope) -> None:
        ident, status, content_type = envelope.args[:3]
        waiting = self._waiting.get(ident)
        if waiting is not None and not waiting.answer.done():
            waiting.answer.set_result(ForwardedResponse(status, envelope.body, content_type))

    def close(self) -> None:
        for waiting in self._waiting.values():
            for future in (waiting.ack, waiting.answer):
                future.cancel()


def _entries(raw: Iterable[Any]) -> Iterable[Entry]:
    for item in raw:
        if (
            isinstance(item, list)
            and len(item) == 3
            and isinstance(item[0], str)
            and isinstance(item[1], str)
            and isinstance(item[2], dict)
        ):
            yield item[0], item[1], item[2]
