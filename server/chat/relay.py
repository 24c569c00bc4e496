"""``new_message`` in seq order on every node, nothing lost: the rooms' relay in cluster mode.

A room's seqs are dense and commit order is seq order (the database allocates them in the
insert's transaction), but two nodes storing into one room broadcast independently, so their
broadcasts interleave on the way; and Redis may lose a broadcast (it is at most once: a
restart loses what was in flight). So in cluster mode a stored message is not broadcast on
the room's topic. Its node publishes it on the room's relay topic (``seq:event:<id>``, the
seq as the event name); on every node with members in the room a :class:`MessageRelay`
takes it there and delivers to the room's local clients in order:

* the next seq goes out at once (one frame per serializer, shared by every member: the
  fastlane), and with it whatever was held behind it;
* a later seq is held; if the gap is still open ``fill_after`` seconds later, the missing
  messages are read from the database and delivered;
* every ``check_every`` seconds the rooms' ``last_seq`` is read (one query for all rooms):
  a lost broadcast of a room's newest message has nothing behind it to reveal it;
* an earlier seq (delivered already, from the database) is dropped.

Every stored message takes this way, an organiser's announcement (stored through the node's
writer with the room's next seq) as much as a member's post.

**Hidden messages.** An organiser's hiding reaches each node's relay (``hide``, from the
node's moderation, see ``server.chat.moderation_sync``) and is told in the room's order: a
message delivered already is followed by ``message_hidden``; one held, or still to come, is
delivered without its content (as the database serves it, and as a gap fill reads it). So
no member receives the content of a message after it was hidden on any node.

A room is relayed on a node from its first member's join there until no member is left. The
node that stored a message hands it to its own relay at once, with no trip through Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from phxpy import Endpoint, RawJSON
from phxpy.pubsub import Broadcast
from phxpy.serializer import json_dumps
from server import render
from server.chat.announce import MESSAGE_HIDDEN, NEW_MESSAGE
from server.db import messages as message_store
from server.db import rooms as room_store
from server.db.database import Database
from server.domain import MessageId, RoomId

log = logging.getLogger(__name__)

RELAY_PREFIX = "seq:"
FILL_AFTER = 0.15
CHECK_EVERY = 1.0
FILL_PAGE = 200


@dataclass(slots=True)
class RelayStats:
    delivered: int = 0
    """Messages handed to the local members of a room, in order."""
    duplicates: int = 0
    """Arrivals of a seq already delivered (filled from the database before it came)."""
    held: int = 0
    """Arrivals ahead of a gap, held until it closed."""
    fills: int = 0
    """Database reads that closed a gap."""
    filled: int = 0
    """Messages delivered from the database rather than from their broadcast."""
    hidden: int = 0
    """Messages an organiser hid, told to the room's members on this node."""


class _Room:
    """One relayed room on this node; the subscriber of its relay topic."""

    __slots__ = (
        "closed",
        "filler",
        "held",
        "hidden",
        "joining",
        "next",
        "relay",
        "room_id",
        "topic",
    )

    def __init__(self, relay: MessageRelay, topic: str, room_id: RoomId, next_seq: int) -> None:
        self.relay = relay
        self.topic = topic
        self.room_id = room_id
        self.next = next_seq
        self.held: dict[int, bytes] = {}
        self.hidden: set[int] = set()
        """Seqs of the room hidden from then on (delivered without their content)."""
        self.filler: asyncio.Task[None] | None = None
        self.closed = False
        self.joining = 0
        """Joins under way on this node: the room is kept even before anyone subscribed."""

    def deliver(self, broadcast: Broadcast) -> None:
        payload = broadcast.payload
        if isinstance(payload, RawJSON) and broadcast.event.isdigit():
            self.relay.arrived(self, int(broadcast.event), payload.data)


class MessageRelay:
    def __init__(
        self,
        endpoint: Endpoint,
        deliver_local: Callable[[Broadcast], None],
        *,
        fill_after: float = FILL_AFTER,
        check_every: float = CHECK_EVERY,
    ) -> None:
        self._endpoint = endpoint
        self._deliver_local = deliver_local
        self.fill_after = fill_after
        self.check_every = check_every
        self.stats = RelayStats()
        self._rooms: dict[str, _Room] = {}
        self._by_id: dict[RoomId, _Room] = {}
        self._db: Database | None = None
        self._checker: asyncio.Task[None] | None = None
        self.on_moderation_version: Callable[[RoomId, int], None] | None = None
        """Told each relayed room's moderation version at every check (so a node that
        missed an organiser's action catches up)."""

    # ----------------------------------------------------------------- lifecycle

    def start(self, db: Database) -> None:
        self._db = db
        self._checker = asyncio.get_running_loop().create_task(self._check_forever())

    async def stop(self) -> None:
        checker, self._checker = self._checker, None
        if checker is not None:
            checker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await checker
        for room in list(self._rooms.values()):
            self._forget(room)

    # -------------------------------------------------------------------- rooms

    @contextlib.contextmanager
    def joining(
        self, topic: str, room_id: RoomId, last_seq: int, hidden_seqs: Iterable[int] = ()
    ) -> Iterator[None]:
        """Around a member's join of ``topic`` on this node, from before it reads the
        messages of its reply until it returns (the channel then subscribes at once):
        ``last_seq`` is the room's newest message as the join read it (the reply carries it
        and the older ones), and ``hidden_seqs`` what the node's moderation says is hidden.
        The room is relayed from then on, until no member is left (a join under way counts
        as one: the room's first member is not subscribed before its join returns)."""
        room = self._rooms.get(topic)
        if room is None:
            room = self._rooms[topic] = self._by_id[room_id] = _Room(
                self, topic, room_id, last_seq + 1
            )
            room.hidden.update(seq for seq in hidden_seqs if seq > last_seq)
            self._endpoint.pubsub.subscribe(RELAY_PREFIX + topic, room)
        room.joining += 1
        try:
            yield
        finally:
            room.joining -= 1

    def _forget(self, room: _Room) -> None:
        room.closed = True
        if self._rooms.get(room.topic) is room:
            del self._rooms[room.topic]
        if self._by_id.get(room.room_id) is room:
            del self._by_id[room.room_id]
        self._endpoint.pubsub.unsubscribe(RELAY_PREFIX + room.topic, room)
        if room.filler is not None:
            room.filler.cancel()

    async def publish(self, topic: str, seq: int, body: bytes) -> None:
        """A message this node stored: to its own members through its relay at once, and
        to every other node's."""
        await self._endpoint.broadcast(RELAY_PREFIX + topic, str(seq), RawJSON(body))

    def hide(self, room_id: RoomId, seq: int, message_id: MessageId) -> None:
        """An organiser hid the room's message ``seq``: tell this node's members in order."""
        room = self._by_id.get(room_id)
        if room is None or seq in room.hidden:
            return
        room.hidden.add(seq)
        if seq < room.next:
            self.stats.hidden += 1
            self._deliver_local(
                Broadcast(room.topic, MESSAGE_HIDDEN, {"id": message_id, "seq": seq})
            )
        elif seq in room.held:
            room.held[seq] = _without_content(room.held[seq])

    # ------------------------------------------------------------------ ordering

    def arrived(self, room: _Room, seq: int, body: bytes) -> None:
        if seq < room.next:
            self.stats.duplicates += 1
            return
        if seq in room.hidden:
            body = _without_content(body)
        if seq > room.next:
            if seq not in room.held:
                room.held[seq] = body
                self.stats.held += 1
            self._fill_soon(room)
            return
        self._send(room, body)
        self._drain(room)

    def _send(self, room: _Room, body: bytes) -> None:
        room.next += 1
        self.stats.delivered += 1
        self._deliver_local(Broadcast(room.topic, NEW_MESSAGE, RawJSON(body)))

    def _drain(self, room: _Room) -> None:
        held = room.held
        while room.next in held:
            self._send(room, held.pop(room.next))

    # --------------------------------------------------------------------- gaps

    def _fill_soon(self, room: _Room, up_to: int | None = None) -> None:
        if room.filler is None and not room.closed:
            room.filler = asyncio.get_running_loop().create_task(self._fill_later(room, up_to))

    async def _fill_later(self, room: _Room, up_to: int | None) -> None:
        try:
            await asyncio.sleep(self.fill_after)
            while not room.closed:
                target = max(room.held) - 1 if room.held else up_to
                if target is None or target < room.next:
                    return
                if not await self._fill(room, target):
                    return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("filling a gap of room %s from the database failed", room.room_id)
        finally:
            room.filler = None

    async def _fill(self, room: _Room, target: int) -> bool:
        """Deliver what the database has from ``room.next`` on; False if nothing moved."""
        assert self._db is not None
        before = room.next
        # Decided before any await: what arrives meanwhile moves room.next on.
        limit = min(FILL_PAGE, target - before + 1)
        async with self._db.read() as conn:
            missing = await message_store.list_messages(
                conn, room.room_id, after=before - 1, limit=limit
            )
        if room.closed:
            return False
        self.stats.fills += 1
        for message in missing:
            if message.seq == room.next:
                self.stats.filled += 1
                room.held.pop(message.seq, None)  # (arrived during the read)
                if message.seq in room.hidden:  # hidden since it was read
                    message = dataclasses.replace(message, hidden=True)
                self._send(room, json_dumps(render.message(message)))
        self._drain(room)
        if not missing and room.held:
            # Not in the database (cannot happen while seqs are dense): skip to what is
            # held rather than hold it forever.
            room.next = min(room.held)
            self._drain(room)
        return room.next > before

    async def _check_forever(self) -> None:
        while True:
            await asyncio.sleep(self.check_every)
            try:
                await self.check()
            except Exception:
                log.exception("checking the relayed rooms failed")

    async def check(self) -> None:
        """Forget rooms without local members; fill what their ``last_seq`` says is
        missing."""
        pubsub = self._endpoint.pubsub
        for room in list(self._rooms.values()):
            if pubsub.subscriber_count(room.topic) == 0 and not room.joining:
                self._forget(room)
        rooms = list(self._rooms.values())
        if not rooms or self._db is None:
            return
        async with self._db.read() as conn:
            marks = await room_store.room_marks(conn, [room.room_id for room in rooms])
        for room in rooms:
            mark = marks.get(room.room_id)
            if mark is None:
                continue
            if mark.last_seq >= room.next:
                self._fill_soon(room, mark.last_seq)
            if self.on_moderation_version is not None:
                self.on_moderation_version(room.room_id, mark.moderation_version)


def _without_content(body: bytes) -> bytes:
    """A stored message's JSON as a hidden one is served (``render.message``)."""
    message = json.loads(body)
    message["content"] = ""
    message["hidden"] = True
    return json_dumps(message)
