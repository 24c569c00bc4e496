"""``event:<event_id>``: an event's chat room, joined with a ticket.

Join: a user who already joined this event's chat with a ticket rejoins with no number and no
write (phoenix.js resends the join after every reconnect). Otherwise the join claims a ticket
with a conditional UPDATE (``server.db.tickets``): the numbered one if it is free or already
the user's, or, with no number, the one the reservation system assigned to the user; of two
users racing for one number exactly one is admitted. Every number the user may not claim is
refused alike (``invalid ticket``), so refusals tell nothing about which numbers exist. Any
state of the room may be joined (members see each other before it opens, and read the
history after it closes); posting needs ``active``. The joins waiting at one step share its
query (:mod:`server.chat.joins`).

Posts go to the node's :class:`~server.chat.writer.MessageWriter`, which stores everything
waiting at once and then replies and broadcasts in seq order.

The organisers' moderation is enforced from this node's memory (:mod:`server.chat.moderation`):
a removed member's join is refused before any ticket is claimed (once the database confirms the
removal: a member reinstated through another node may rejoin before this node heard of it); a
muted member's post, or a post too soon in slow mode, is refused before it reaches the writer.
What an organiser does to one member reaches that member's channels as an intercepted
``member_moderated`` broadcast: the member is told (``muted``, ``unmuted``), or told and closed
(``removed``, then ``phx_close``, so phoenix.js does not rejoin); the other members' channels
drop it.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any

from phxpy import Channel, Error, Ok, RawJSON, Reply, ReplyRef, Stop
from phxpy.serializer import json_dumps
from server import render
from server.chat import payloads
from server.chat.announce import MEMBER_MODERATED, ROOM_DELETED, ROOM_STATUS
from server.chat.context import CHAT_CONTEXT, ChatContext
from server.chat.moderation import REMOVED_REASON, RoomRules
from server.chat.presence import online_count
from server.chat.topics import EVENT_PREFIX, id_from_topic
from server.chat.writer import Outcome
from server.db import messages as message_store
from server.db.messages import Page
from server.db.tickets import Claim
from server.domain import (
    ChatRoom,
    EventId,
    MessageDraft,
    NotFound,
    RoomId,
    StoredMessage,
    UserId,
)

# Join refusal reasons.
EVENT_NOT_FOUND = "event not found"
TICKET_REQUIRED = "ticket required"
INVALID_TICKET = "invalid ticket"
TOO_MANY_ATTEMPTS = "too many attempts"
# Other error reasons.
ROOM_NOT_ACTIVE = "room not active"
TOO_MANY_MESSAGES = "too many messages"
TOO_MANY_REQUESTS = "too many requests"
UNKNOWN_EVENT = "unknown event"


class EventChannel(Channel):
    # These pass through handle_out (rare, so the fastlane loses nothing that matters). When
    # the event is deleted the channel forwards room_status and closes itself, on every
    # node, and the client gets phx_close and does not rejoin; member_moderated is for one
    # member's channels only (see the module docstring).
    intercept = frozenset({ROOM_STATUS, MEMBER_MODERATED})

    event_id: EventId
    room_id: RoomId
    user_id: UserId
    username: str
    presence_told: str
    """The presence mode the join reply said."""

    @property
    def chat(self) -> ChatContext:
        return self.app[CHAT_CONTEXT]

    # ------------------------------------------------------------------ join

    async def join(self, payload: Any) -> Reply:
        event_id = id_from_topic(self.topic, EVENT_PREFIX)
        if event_id is None:
            return Error({"reason": EVENT_NOT_FOUND})
        request = payloads.parse_join(payload)
        user_id: UserId = self.socket.assigns["user_id"]
        chat = self.chat
        # Each database step is shared with the joins waiting at the same step
        # (server.chat.joins): one query for all of them.
        facts = await chat.joins.facts(event_id, user_id)
        if facts is None:
            return Error({"reason": EVENT_NOT_FOUND})
        if facts.username is None:  # deleted meanwhile; its sockets are being closed
            return Error({"reason": INVALID_TICKET})
        rules = await chat.moderation.rules(chat.db, facts.room.id)
        if user_id in rules.removed:
            # Told of a reinstatement (user:<id>) before this node heard of it? The database
            # decides a removed member's refusal: a query for their joins only.
            rules = await chat.moderation.confirm(chat.db, facts.room.id)
            if user_id in rules.removed:
                return Error({"reason": REMOVED_REASON})
        if not facts.holds_used_ticket:
            refusal = await self._claim(event_id, user_id, request)
            if refusal is not None:
                return Error(refusal)
        # In cluster mode, what is stored after the facts reaches this node's members in
        # order through the room's relay, from before the messages are read on.
        relay = chat.relay
        with (
            relay.joining(self.topic, facts.room.id, facts.room.last_seq, rules.hidden_seqs)
            if relay is not None
            else contextlib.nullcontext()
        ):
            page = _join_page(facts.room, request.after_seq)
            encoded: list[bytes] = []
            more = False
            if page is not None:
                found = await chat.joins.messages(page)
                encoded = found.encoded
                more = found.cut or _older_left_out(page, found.oldest_seq, request.after_seq)
            # Removed while this join was reading? (From here to the subscription nothing
            # awaits, so the removal's broadcast cannot slip between the two.)
            rules = chat.moderation.cached(facts.room.id) or rules
            if user_id in rules.removed:
                return Error({"reason": REMOVED_REASON})
            self.event_id, self.room_id = event_id, facts.room.id
            self.user_id, self.username = user_id, facts.username
            room = render.live_room(facts.room)
            room["slow_mode_seconds"] = rules.slow_mode_seconds
            return Ok(_messages_reply(encoded, more, room=room, extra=self._standing(rules)))

    def _standing(self, rules: RoomRules) -> dict[str, Any]:
        """What the join reply tells beside the messages: how many members are online (this
        one included) and whether presence lists them or counts them, until when this member
        is muted, and which messages are hidden (a client that kept messages from before a
        reconnect drops those)."""
        self.presence_told = self.chat.presence.mode(self.topic)
        return {
            "online": online_count(self, self.user_id),
            "presence": self.presence_told,
            "muted_until": render.end_timestamp(
                rules.muted_until(self.user_id, self.chat.clock.now())
            ),
            "hidden_seqs": list(rules.hidden_seqs),
        }

    async def _claim(
        self, event_id: EventId, user_id: UserId, request: payloads.JoinRequest
    ) -> dict[str, Any] | None:
        """Claim a ticket for a first join; the refusal, or None when admitted."""
        chat = self.chat
        if request.invalid_ticket or request.ticket_number is not None:
            wait = chat.claim_guard.retry_after(user_id, event_id)
            if wait is not None:
                return {"reason": TOO_MANY_ATTEMPTS, "retry_after": wait}
        if request.invalid_ticket:
            chat.claim_guard.failed(user_id, event_id)
            return {"reason": INVALID_TICKET}
        # One conditional UPDATE, shared with the claims of the joins waiting with this one.
        claimed = await chat.joins.claim(Claim(event_id, user_id, request.ticket_number))
        if claimed:
            return None
        if request.ticket_number is None:
            return {"reason": TICKET_REQUIRED}
        chat.claim_guard.failed(user_id, event_id)
        return {"reason": INVALID_TICKET}

    async def after_join(self) -> None:
        chat = self.chat
        await chat.presence.track(
            self, self.user_id, self.username, chat.clock.now(), told=self.presence_told
        )

    async def handle_out(self, event: str, payload: Any) -> Stop | None:
        if event == MEMBER_MODERATED:
            return await self._moderated(payload)
        await self.push(event, payload)
        if event == ROOM_STATUS and payload.get("status") == ROOM_DELETED:
            return Stop("normal")
        return None

    async def _moderated(self, payload: dict[str, Any]) -> Stop | None:
        """An organiser acted on one member: tell that member's channels, drop elsewhere."""
        if payload.get("user_id") != self.user_id:
            return None
        action = payload["action"]
        if action == "removed":
            await self.push("removed", {"reason": payload.get("reason")})
            return Stop("normal")
        if action == "muted":
            await self.push("muted", {"until": payload.get("until")})
        elif action == "unmuted":
            await self.push("unmuted", {})
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
        if not await chat.message_limit.allow(self.user_id):
            return Error({"reason": TOO_MANY_MESSAGES})
        # The organisers' rules, from memory (loaded again only if this node dropped them).
        rules = chat.moderation.cached(self.room_id) or await chat.moderation.rules(
            chat.db, self.room_id
        )
        refusal = chat.moderation.refuse_post(rules, self.user_id)
        if refusal is not None:
            return Error(refusal)
        draft = MessageDraft(
            chat_room_id=self.room_id,
            user_id=self.user_id,
            username=self.username,
            content=parsed.content,
            content_type=parsed.content_type,
            client_id=parsed.client_id,
        )
        # Replied to once stored; meanwhile this channel goes on with its next message.
        await chat.writer.submit(draft, functools.partial(self._stored, self.reply_ref()))
        return None

    async def _stored(self, ref: ReplyRef, outcome: Outcome) -> None:
        """After the commit: the sender learns the outcome first, then everyone (the sender's
        other tabs included) gets the broadcast; a retried client_id is not broadcast again."""
        if isinstance(outcome, StoredMessage):
            # Encoded once, for the reply and the broadcast alike.
            body = json_dumps(render.message(outcome.message))
            await self.reply(ref, Ok(RawJSON(b'{"message":' + body + b"}")))
            if not outcome.created:
                return
            relay = self.chat.relay
            if relay is None:
                await self.broadcast("new_message", RawJSON(body))
            else:
                await relay.publish(self.topic, outcome.message.seq, body)
        elif isinstance(outcome, NotFound):
            await self.reply(ref, Error({"reason": EVENT_NOT_FOUND}))
        elif isinstance(outcome, str):
            await self.reply(ref, Error({"reason": outcome}))
        else:
            await self.reply(ref, Error({"reason": ROOM_NOT_ACTIVE}))

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
        async with chat.db.read() as conn:
            messages = await message_store.list_messages(
                conn, self.room_id, before=request.before, limit=request.limit
            )
        encoded, cut = render.messages_within(messages, payloads.MAX_REPLY_BYTES)
        return Ok(_messages_reply(encoded, cut))


def _messages_reply(
    encoded: list[bytes],
    more: bool,
    room: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> RawJSON:
    """``{"messages": [...], "more": ..., "room": ...}`` around messages already encoded
    (and cut to MAX_REPLY_BYTES, ``more`` then true: older ones wait for the client's next
    page)."""
    parts = [b'{"messages":[', b",".join(encoded), b'],"more":', b"true" if more else b"false"]
    if room is not None:
        parts += [b',"room":', render.encode(room)]
    for key, value in (extra or {}).items():
        parts += [b',"', key.encode("ascii"), b'":', render.encode(value)]
    parts.append(b"}")
    return RawJSON(b"".join(parts))


def _join_page(room: ChatRoom, after_seq: int | None) -> Page | None:
    """The messages a join's reply carries, oldest first (None: none).

    A plain join gets the latest ones. A rejoin with ``after_seq`` gets exactly those with a
    greater seq — all of them, or, when there are more than MAX_CATCH_UP, the newest
    MAX_CATCH_UP with ``more`` true: the client pages back over the gap (``history`` or REST
    ``before=<first seq>``) until it reaches its ``after_seq``.
    """
    if after_seq is None:
        return Page(room.id, None, payloads.LATEST_MESSAGES)
    if after_seq >= room.last_seq:
        return None
    if room.last_seq - after_seq <= payloads.MAX_CATCH_UP:
        return Page(room.id, after_seq, payloads.MAX_CATCH_UP)
    return Page(room.id, None, payloads.MAX_CATCH_UP)


def _older_left_out(page: Page, oldest_seq: int | None, after_seq: int | None) -> bool:
    """Whether the reply's ``more`` says there is more before its messages: for a plain
    join, older history; for a rejoin, a gap longer than the catch-up."""
    if after_seq is None:
        return oldest_seq is not None and oldest_seq > 1
    return page.after is None
