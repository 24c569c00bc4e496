"""Which channels of this node are in which event's room, so a deleted event can close them.

phxpy delivers broadcasts straight to the clients (fastlane); channels never see them. To close
every channel of a room on every node, the deleting node broadcasts on the room's control
topic (not routable, so no client can join it); on each node a listener, subscribed while the
node has members in that room, stops its local channels the way a channel stops itself: a
message in the channel's own mailbox whose ``handle_in`` returns ``Stop("normal")`` — the
client gets ``phx_close`` and does not rejoin.
"""

from __future__ import annotations

from typing import Final

from phxpy import Broadcast, Endpoint
from phxpy.protocol import MessageReceived
from phxpy.runtime import ChannelRunner
from server.chat.topics import room_control_topic
from server.domain import EventId

CLOSE_EVENT: Final = "chat:close"
"""The control topic's event that closes the room's channels."""


class _CloseRoom:
    """The payload of the stop message: an object, so no client frame can ever carry it."""

    def __repr__(self) -> str:
        return "CLOSE_ROOM"


CLOSE_ROOM: Final = _CloseRoom()


class _ControlListener:
    def __init__(self, members: RoomMembers, event_id: EventId) -> None:
        self.members = members
        self.event_id = event_id

    def deliver(self, broadcast: Broadcast) -> None:
        if broadcast.event == CLOSE_EVENT:
            self.members.stop_local(self.event_id)


class RoomMembers:
    def __init__(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint
        self._rooms: dict[EventId, dict[ChannelRunner, None]] = {}
        self._listeners: dict[EventId, _ControlListener] = {}
        self._room_of: dict[ChannelRunner, EventId] = {}
        # Runs once for every channel end (leave, drop, crash, duplicate join, stop).
        endpoint.on_channel_exit(self._exited)

    def add(self, event_id: EventId, runner: ChannelRunner) -> None:
        runners = self._rooms.setdefault(event_id, {})
        runners[runner] = None
        self._room_of[runner] = event_id
        if event_id not in self._listeners:
            listener = _ControlListener(self, event_id)
            self._listeners[event_id] = listener
            self._endpoint.pubsub.subscribe(room_control_topic(event_id), listener)

    def count(self, event_id: EventId) -> int:
        return len(self._rooms.get(event_id, ()))

    async def close_room(self, event_id: EventId) -> None:
        """Close the room's channels on every node."""
        await self._endpoint.broadcast(room_control_topic(event_id), CLOSE_EVENT, {})

    def stop_local(self, event_id: EventId) -> None:
        for runner in list(self._rooms.get(event_id, ())):
            runner.enqueue(
                MessageReceived(runner.topic, CLOSE_EVENT, CLOSE_ROOM, None, runner.join_ref)
            )

    def _exited(self, runner: ChannelRunner) -> None:
        event_id = self._room_of.pop(runner, None)
        if event_id is None:
            return
        runners = self._rooms.get(event_id)
        if runners is None:
            return
        runners.pop(runner, None)
        if not runners:
            del self._rooms[event_id]
            listener = self._listeners.pop(event_id, None)
            if listener is not None:
                self._endpoint.pubsub.unsubscribe(room_control_topic(event_id), listener)
