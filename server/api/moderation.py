"""The organisers' moderation of an event's chat room, for the reservation system (service key),
which acts for the event's staff and names who acted with an optional ``actor`` label.

Every action is one transaction that changes something or nothing (asking again for what is
already so is answered ``changed: false`` and not logged), answered with the room's
moderation as it now stands; what changed is then enforced by the chat and told to the room.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from aiohttp import web

from server import render
from server.api.live import announce
from server.api.render import data_response
from server.api.validation import Fields, path_id, query_int, read_json_object
from server.db import events as event_store
from server.db import moderation as moderation_store
from server.db import notifications as notification_store
from server.db.database import Connection, Database
from server.db.moderation import Outcome
from server.domain import (
    DEFAULT_ACTOR,
    AuthorRole,
    Conflict,
    DomainError,
    EventId,
    Invalid,
    MemberMuted,
    MemberReinstated,
    MemberRemoved,
    MessageDraft,
    MessageHidden,
    ModerationChange,
    NewNotification,
    NotFound,
    Notification,
    NotificationKind,
    SlowModeSet,
    StoredMessage,
    UserId,
)
from server.keys import CLOCK, DB, REALTIME, SETTINGS
from server.limits import (
    CLIENT_ID_MAX_LENGTH,
    MESSAGE_MAX_LENGTH,
    MODERATION_ACTOR_MAX_LENGTH,
    MODERATION_LOG_DEFAULT_LIMIT,
    MODERATION_LOG_MAX_LIMIT,
    MODERATION_REASON_MAX_LENGTH,
    MUTE_MAX_SECONDS,
    SEQ_MAX,
    SLOW_MODE_MAX_SECONDS,
)
from server.realtime import Realtime

ROOM_NOT_ACTIVE = "the chat room is not active"
NOT_STORED = "the announcement could not be stored, please retry"


def _actor(fields: Fields) -> str:
    return fields.optional_text("actor", max_length=MODERATION_ACTOR_MAX_LENGTH) or DEFAULT_ACTOR


def _reason(fields: Fields) -> str | None:
    return fields.optional_text("reason", max_length=MODERATION_REASON_MAX_LENGTH)


def removal_notice(event_name: str, reason: str | None) -> str:
    notice = f"The organisers removed you from the chat for {event_name}"
    return f"{notice}: {reason}" if reason else notice


def reinstatement_notice(event_name: str) -> str:
    return f"The organisers let you back into the chat for {event_name}"


async def _notify_member(
    request: web.Request,
    conn: Connection,
    outcome: Outcome,
    user_id: UserId,
    kind: NotificationKind,
    notice: Callable[[str], str],
) -> list[Notification]:
    """A notification for the member an action was about, stored in the action's transaction
    (queued for the webhook too) when the action changed something. Its dedupe key names the
    action (the room's new moderation version): one notification per action, whatever
    happens."""
    if not outcome.changed:
        return []
    state = outcome.state
    event = await event_store.get_event(conn, state.event_id)
    item = NewNotification(
        user_id=user_id,
        event_id=event.id,
        kind=kind.value,
        message=notice(event.name),
        dedupe_key=f"moderation:{state.room_id}:{state.version}",
    )
    return await notification_store.insert_notifications(
        conn,
        [item],
        now=request.app[CLOCK].now(),
        webhook=request.app[SETTINGS].webhook is not None,
    )


async def _finish(
    request: web.Request,
    outcome: Outcome,
    change: ModerationChange,
    notified: Sequence[Notification] = (),
) -> web.Response:
    """After the commit: the chat enforces the new state and tells the room what changed,
    then the member concerned hears of it on their own channel (``user:<id>``)."""
    realtime = request.app[REALTIME]
    told = change if outcome.changed else None
    await announce(realtime.room_moderated(outcome.state, told), "moderation")
    if notified:
        await announce(realtime.notifications_created(notified), "push moderation notices")
    now = request.app[CLOCK].now()
    return data_response(
        {"changed": outcome.changed, "moderation": render.moderation(outcome.state, now)}
    )


# ----------------------------------------------------------------------------- reading


async def show_moderation(request: web.Request) -> web.Response:
    event_id = path_id(request, "id")
    async with request.app[DB].read() as conn:
        state = await moderation_store.event_moderation(conn, event_id)
    return data_response(render.moderation(state, request.app[CLOCK].now()))


async def moderation_log(request: web.Request) -> web.Response:
    """The room's audit log, newest first; ``before`` a version to page back."""
    errors: dict[str, list[str]] = {}
    before = query_int(request, "before", errors, minimum=1, maximum=SEQ_MAX)
    limit = query_int(request, "limit", errors, minimum=1, maximum=MODERATION_LOG_MAX_LIMIT)
    if errors:
        raise Invalid(errors)
    event_id = path_id(request, "id")
    async with request.app[DB].read() as conn:
        state = await moderation_store.event_moderation(conn, event_id)
        entries = await moderation_store.moderation_log(
            conn, state.room_id, before=before, limit=limit or MODERATION_LOG_DEFAULT_LIMIT
        )
    return data_response([render.moderation_log_entry(entry) for entry in entries])


# ----------------------------------------------------------------------------- actions


async def set_slow_mode(request: web.Request) -> web.Response:
    fields = Fields(await read_json_object(request))
    seconds = fields.integer("seconds", minimum=0, maximum=SLOW_MODE_MAX_SECONDS)
    actor = _actor(fields)
    fields.check()
    assert seconds is not None
    event_id = path_id(request, "id")
    async with request.app[DB].write() as conn:
        outcome = await moderation_store.set_slow_mode(
            conn, event_id=event_id, seconds=seconds, actor=actor, now=request.app[CLOCK].now()
        )
    return await _finish(request, outcome, SlowModeSet(seconds))


async def mute(request: web.Request) -> web.Response:
    """Mute a member for ``duration_seconds`` from now, or until ``until`` (a retry with the
    same ``until`` changes nothing)."""
    now = request.app[CLOCK].now()
    fields = Fields(await read_json_object(request))
    user_id = fields.uuid("user_id")
    until = _mute_end(fields, now)
    reason = _reason(fields)
    actor = _actor(fields)
    fields.check()
    assert until is not None
    event_id = path_id(request, "id")
    async with request.app[DB].write() as conn:
        outcome = await moderation_store.mute(
            conn,
            event_id=event_id,
            user_id=user_id,
            until=until,
            reason=reason,
            actor=actor,
            now=now,
        )
    return await _finish(request, outcome, MemberMuted(user_id, until))


def _mute_end(fields: Fields, now: datetime) -> datetime | None:
    """Exactly one of ``duration_seconds`` (1 to MUTE_MAX_SECONDS) and ``until`` (a time
    within as long from now)."""
    if fields.present("until"):
        until = fields.optional_timestamp("until")
        if until is None:
            return None
        if fields.present("duration_seconds"):
            fields.add_error("duration_seconds", "cannot be given together with until")
        elif until <= now:
            fields.add_error("until", "must be in the future")
        elif until > now + timedelta(seconds=MUTE_MAX_SECONDS):
            fields.add_error("until", f"must be within {MUTE_MAX_SECONDS} seconds from now")
        else:
            return until
        return None
    seconds = fields.integer("duration_seconds", minimum=1, maximum=MUTE_MAX_SECONDS)
    return None if seconds is None else now + timedelta(seconds=seconds)


async def unmute(request: web.Request) -> web.Response:
    fields = Fields(await read_json_object(request))
    user_id = fields.uuid("user_id")
    actor = _actor(fields)
    fields.check()
    event_id = path_id(request, "id")
    async with request.app[DB].write() as conn:
        outcome = await moderation_store.unmute(
            conn, event_id=event_id, user_id=user_id, actor=actor, now=request.app[CLOCK].now()
        )
    return await _finish(request, outcome, MemberMuted(user_id, None))


async def remove(request: web.Request) -> web.Response:
    """Remove a member from the room: their channels close, and their joins are refused
    until they are reinstated."""
    fields = Fields(await read_json_object(request))
    user_id = fields.uuid("user_id")
    reason = _reason(fields)
    actor = _actor(fields)
    fields.check()
    event_id = path_id(request, "id")
    async with request.app[DB].write() as conn:
        outcome = await moderation_store.remove(
            conn,
            event_id=event_id,
            user_id=user_id,
            reason=reason,
            actor=actor,
            now=request.app[CLOCK].now(),
        )
        notified = await _notify_member(
            request,
            conn,
            outcome,
            user_id,
            NotificationKind.REMOVED,
            functools.partial(removal_notice, reason=reason),
        )
    return await _finish(request, outcome, MemberRemoved(user_id, reason), notified)


async def reinstate(request: web.Request) -> web.Response:
    fields = Fields(await read_json_object(request))
    user_id = fields.uuid("user_id")
    actor = _actor(fields)
    fields.check()
    event_id = path_id(request, "id")
    async with request.app[DB].write() as conn:
        outcome = await moderation_store.reinstate(
            conn, event_id=event_id, user_id=user_id, actor=actor, now=request.app[CLOCK].now()
        )
        notified = await _notify_member(
            request, conn, outcome, user_id, NotificationKind.REINSTATED, reinstatement_notice
        )
    return await _finish(request, outcome, MemberReinstated(user_id), notified)


async def hide_message(request: web.Request) -> web.Response:
    """Hide a message of the room: members are told (``message_hidden``), and history and
    catch-up serve it without its content from now on."""
    fields = Fields(await read_json_object(request))
    message_id = fields.uuid("message_id")
    reason = _reason(fields)
    actor = _actor(fields)
    fields.check()
    event_id = path_id(request, "id")
    async with request.app[DB].write() as conn:
        outcome, seq = await moderation_store.hide_message(
            conn,
            event_id=event_id,
            message_id=message_id,
            reason=reason,
            actor=actor,
            now=request.app[CLOCK].now(),
        )
    return await _finish(request, outcome, MessageHidden(message_id, seq))


async def post_announcement(request: web.Request) -> web.Response:
    """An organiser's announcement: a message of the room with its own seq, marked as from
    the organiser (``author_role``), signed with the actor label. A retry with the same
    ``client_id`` is not posted twice (200 with the stored one; 201 when new)."""
    fields = Fields(await read_json_object(request))
    content = fields.text("content", max_length=MESSAGE_MAX_LENGTH)
    client_id = fields.optional_text("client_id", max_length=CLIENT_ID_MAX_LENGTH)
    actor = _actor(fields)
    fields.check()
    event_id = path_id(request, "id")
    db, realtime = request.app[DB], request.app[REALTIME]
    async with db.read() as conn:
        state = await moderation_store.event_moderation(conn, event_id)
    draft = MessageDraft(
        chat_room_id=state.room_id,
        user_id=None,
        username=actor,
        content=content,
        client_id=client_id,
        author_role=AuthorRole.ORGANISER,
    )
    # Shielded: once submitted, the message is stored and audited even if the caller goes.
    stored = await asyncio.shield(_announce(db, realtime, request, event_id, draft, actor))
    return data_response(render.message(stored.message), status=201 if stored.created else 200)


async def _announce(
    db: Database,
    realtime: Realtime,
    request: web.Request,
    event_id: EventId,
    draft: MessageDraft,
    actor: str,
) -> StoredMessage:
    outcome = await realtime.post_message(event_id, draft)
    if isinstance(outcome, NotFound):
        raise NotFound("event")
    if isinstance(outcome, DomainError):
        raise Conflict(ROOM_NOT_ACTIVE)
    if not isinstance(outcome, StoredMessage):
        raise web.HTTPServiceUnavailable(reason=NOT_STORED)
    if outcome.created:
        message = outcome.message
        async with db.write() as conn:
            logged = await moderation_store.log_announcement(
                conn,
                event_id=event_id,
                message_id=message.id,
                seq=message.seq,
                actor=actor,
                now=request.app[CLOCK].now(),
            )
        await announce(realtime.room_moderated(logged.state, None), "moderation")
    return outcome
