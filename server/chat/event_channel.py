"""``event:<event_id>``: an event's chat room, joined with a ticket.

Join (SPEC "Socket"): the ticket must exist for the event, be unassigned or the user's own,
and not used by someone else; the join assigns it and marks it used in one conditional
UPDATE (``server.db.tickets.claim_ticket``), so of two users racing for one number exactly one
is admitted. A user who already used a ticket for the event rejoins with no number. Any
state of the room may be joined (members see each other before it opens, and read the
history after it closes); posting needs ``active``.

Messages are stored before the ok reply and broadcast after it, under the room's lock, so this
node sends a room's messages in ``seq`` order.
"""

from __future__ import annotations

from typing import Any

from phxpy import Channel, Error, Ok, Reply, Stop
from server import render
from server.chat import payloads
from server.chat.announce import ROOM_DELETED
from server.chat.context import ChatContext, chat_of
from server.chat.presence import track
from server.chat.topics import EVENT_PREFIX, id_from_topic
from server.db import chat as chat_store
from server.db import events as event_store
from server.db import messages as message_store
from server.db import tickets as ticket_store
from server.db.engine import DbConnection, transaction
from server.domain import (
    ChatMessage,
    ChatRoom,
    Conflict,
    EventId,
    NotFound,
    RoomId,
    UserId,
)

# Join refusal reasons (SPEC).
EVENT_NOT_FOUND = "event not found"
TICKET_REQUIRED = "ticket required"
INVALID_TICKET = "invalid ticket"
TICKET_ALREADY_USED = "ticket already used"
# Other error reasons.
ROOM_NOT_ACTIVE = "room not active"
TOO_MANY_MESSAGES = "too many messages"
TOO_MANY_REQUESTS = "too many requests"
UNKNOWN_EVENT = "unknown event"


class _Refused(Exception):
    """Leaves the join's transaction (rolling it back) with a refusal reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class EventChannel(Channel):
    # room_status passes through handle_out (rare, so the fastlane loses nothing that
    # matters): when the event is deleted the channel forwards it and closes itself, on
    # every node, and the client gets phx_close and does not rejoin.
    intercept = frozenset({"room_status"})

    event_id: EventId
    room_id: RoomId
    user_id: UserId
    username: str

    @property
    def chat(self) -> ChatContext:
        return chat_of(self.socket)

    # ------------------------------------------------------------------ join

    async def join(self, payload: Any) -> Reply:
        event_id = id_from_topic(self.topic, EVENT_PREFIX)
        if event_id is None:
            return Error({"reason": EVENT_NOT_FOUND})
        request = payloads.parse_join(payload)
        user_id: UserId = self.socket.assigns["user_id"]
        chat = self.chat
        try:
            async with transaction(chat.db) as conn:
                room, username = await self._admit(conn, event_id, user_id, request)
                messages, more = await _join_messages(conn, room, request.after_seq)
        except _Refused as refusal:
            return Error({"reason": refusal.reason})
        self.event_id, self.room_id = event_id, room.id
        self.user_id, self.username = user_id, username
        return Ok(
            {
                "room": render.live_room(room),
                "messages": [render.message(message) for message in messages],
                "more": more,
            }
        )

    async def _admit(
        self,
        conn: DbConnection,
        event_id: EventId,
        user_id: UserId,
        request: payloads.JoinRequest,
    ) -> tuple[ChatRoom, str]:
        try:
            event = await event_store.get_event(conn, event_id)
        except NotFound:
            raise _Refused(EVENT_NOT_FOUND) from None
        username = await chat_store.username_of(conn, user_id)
        if username is None:  # deleted meanwhile; its sockets are being closed
            raise _Refused(INVALID_TICKET)
        if request.invalid_ticket:
            raise _Refused(INVALID_TICKET)
        if request.ticket_number is not None:
            try:
                await ticket_store.claim_ticket(
                    conn,
                    event_id=event_id,
                    ticket_number=request.ticket_number,
                    user_id=user_id,
                    now=self.chat.clock.now(),
                )
            except NotFound:
                raise _Refused(INVALID_TICKET) from None
            except Conflict as conflict:
                # Used by someone else: "already used". Assigned to someone else but not yet
                # used: not this user's ticket, so "invalid".
                if conflict.detail == ticket_store.ALREADY_USED:
                    raise _Refused(TICKET_ALREADY_USED) from None
                raise _Refused(INVALID_TICKET) from None
        elif not await chat_store.holds_used_ticket(conn, user_id=user_id, event_id=event_id):
            raise _Refused(TICKET_REQUIRED)
        return event.chat_room, username

    async def after_join(self) -> None:
        await track(self, self.user_id, self.username, self.chat.clock.now())

    async def handle_out(self, event: str, payload: Any) -> Stop | None:
        await self.push(event, payload)
        if event == "room_status" and payload.get("status") == ROOM_DELETED:
            return Stop("normal")
        return None

    # ------------------------------------------------------------- messages

    async def handle_in(self, event: str, payload: Any) -> Reply | Stop | None:
        if event == "new_message":
            return await self._new_message(payload)
        if event == "typing":
            return await self._typing(payload)
        if event == "history":
            return await self._history(payload)
        return Error({"reason": UNKNOWN_EVENT})

    async def _new_message(self, payload: Any) -> Reply | None:
        parsed = payloads.parse_new_message(payload)
        if isinstance(parsed, str):
            return Error({"reason": parsed})
        chat = self.chat
        # Before any database work: a flood costs its sender an error reply, nobody else.
        if not chat.message_limiter.allow(self.user_id):
            return Error({"reason": TOO_MANY_MESSAGES})
        async with chat.room_locks.hold(self.room_id):
            try:
                message, created = await self._store(parsed)
            except NotFound:
                return Error({"reason": EVENT_NOT_FOUND})
            except Conflict:
                return Error({"reason": ROOM_NOT_ACTIVE})
            body = render.message(message)
            # The sender learns the outcome first, then everyone (the sender's other tabs
            # included) gets the broadcast; a retried client_id is not broadcast again.
            await self.reply(self.reply_ref(), Ok({"message": body}))
            if created:
                await self.broadcast("new_message", body)
        return None

    async def _store(self, new: payloads.NewMessage) -> tuple[ChatMessage, bool]:
        chat = self.chat
        try:
            async with transaction(chat.db) as conn:
                return await message_store.insert_message(
                    conn,
                    chat_room_id=self.room_id,
                    user_id=self.user_id,
                    username=self.username,
                    content=new.content,
                    content_type=new.content_type,
                    client_id=new.client_id,
                    now=chat.clock.now(),
                )
        except Conflict as conflict:
            if conflict.detail != message_store.DUPLICATE_CLIENT_ID or new.client_id is None:
                raise
        # A concurrent send with the same client_id (another tab, a retry) stored it first.
        async with transaction(chat.db) as conn:
            existing = await message_store.find_by_client_id(
                conn, chat_room_id=self.room_id, user_id=self.user_id, client_id=new.client_id
            )
        if existing is None:
            raise Conflict(message_store.DUPLICATE_CLIENT_ID)
        return existing, False

    async def _typing(self, payload: Any) -> Reply:
        typing = payloads.parse_typing(payload)
        if isinstance(typing, str):
            return Error({"reason": typing})
        # Throttled per user and state: a held key sends "typing" often; others need it once.
        if self.chat.typing_throttle.allow((self.user_id, self.event_id, typing)):
            await self.broadcast_from(
                "typing", {"user_id": self.user_id, "username": self.username, "typing": typing}
            )
        return Ok({})

    async def _history(self, payload: Any) -> Reply:
        request = payloads.parse_history(payload)
        if isinstance(request, str):
            return Error({"reason": request})
        chat = self.chat
        if not chat.history_limiter.allow(self.user_id):
            return Error({"reason": TOO_MANY_REQUESTS})
        async with chat.db.connect() as conn:
            messages = await message_store.list_messages(
                conn, self.room_id, before=request.before, limit=request.limit
            )
        return Ok({"messages": [render.message(message) for message in messages]})


async def _join_messages(
    conn: DbConnection, room: ChatRoom, after_seq: int | None
) -> tuple[list[ChatMessage], bool]:
    """The messages of a join's reply, oldest first, and whether there are more.

    A plain join gets the latest ones (``more``: older history exists). A rejoin with
    ``after_seq`` gets exactly those with a greater seq — all of them, or, when there are more
    than MAX_CATCH_UP, the newest MAX_CATCH_UP with ``more`` true: the client pages back over
    the gap (``history`` or REST ``before=<first seq>``) until it reaches its ``after_seq``.
    """
    if after_seq is None:
        latest = await message_store.list_messages(conn, room.id, limit=payloads.LATEST_MESSAGES)
        return latest, bool(latest) and latest[0].seq > 1
    if after_seq >= room.last_seq:
        return [], False
    latest = await message_store.list_messages(conn, room.id, limit=payloads.MAX_CATCH_UP + 1)
    missed = [message for message in latest if message.seq > after_seq]
    if len(missed) > payloads.MAX_CATCH_UP:
        return missed[-payloads.MAX_CATCH_UP :], True
    return missed, False
