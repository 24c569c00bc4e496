"""Events (the reservation system's), their chat rooms, and a room's history."""

from __future__ import annotations

from aiohttp import web

from server import policy, render
from server.api.live import announce
from server.api.render import data_response
from server.api.validation import Fields, nested_object, path_id, query_int, read_json_object
from server.auth.guard import signed_in_user
from server.db import events as event_store
from server.db import messages as message_store
from server.db import notifications as notification_store
from server.db import rooms as room_store
from server.domain import (
    BLANK,
    SCHEDULE_FIELDS,
    Event,
    EventChanges,
    Forbidden,
    Invalid,
    NewEvent,
    NotFound,
    NotificationKind,
    canonical_uuid,
)
from server.keys import CLOCK, DB, REALTIME, SETTINGS
from server.limits import (
    EVENT_DESCRIPTION_MAX_LENGTH,
    EVENT_LOCATION_MAX_LENGTH,
    EVENT_NAME_MAX_LENGTH,
    HISTORY_DEFAULT_LIMIT,
    HISTORY_MAX_LIMIT,
    MAX_REPLY_BYTES,
    SEQ_MAX,
)

# Changes that matter to someone holding a ticket, who is then notified.
HOLDER_RELEVANT_FIELDS = frozenset({"start_time", "end_time", "location"})


async def create_event(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    fields = Fields(nested_object(body, "event"))
    new = NewEvent(
        name=fields.text("name", max_length=EVENT_NAME_MAX_LENGTH),
        description=fields.text("description", max_length=EVENT_DESCRIPTION_MAX_LENGTH),
        location=fields.text("location", max_length=EVENT_LOCATION_MAX_LENGTH),
        start_time=fields.timestamp("start_time"),
        end_time=fields.timestamp("end_time"),
    )
    fields.check()
    async with request.app[DB].write() as conn:
        event = await event_store.create_event(conn, new, now=request.app[CLOCK].now())
    await announce(request.app[REALTIME].event_created(event), "event created")
    # The schedule may have opened (or archived) the room already: answer with its state now.
    return data_response(render.event(await _reload(request, event)), status=201)


async def update_event(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    if body.get("id") is None:
        raise Invalid.field("id", BLANK)
    event_id = canonical_uuid(body["id"])
    if event_id is None:
        raise NotFound("event")
    fields = Fields(nested_object(body, "event"))
    changes = EventChanges(
        name=fields.optional_text("name", max_length=EVENT_NAME_MAX_LENGTH),
        description=fields.optional_text("description", max_length=EVENT_DESCRIPTION_MAX_LENGTH),
        location=fields.optional_text("location", max_length=EVENT_LOCATION_MAX_LENGTH),
        start_time=fields.optional_timestamp("start_time"),
        end_time=fields.optional_timestamp("end_time"),
    )
    fields.check()

    now = request.app[CLOCK].now()
    async with request.app[DB].write() as conn:
        update = await event_store.update_event(conn, event_id, changes, now=now)
        notified = []
        if update.changed_fields & HOLDER_RELEVANT_FIELDS:
            notified = await notification_store.notify_event_holders(
                conn,
                event_id=event_id,
                kind=NotificationKind.EVENT_UPDATED.value,
                message=_change_notice(update.event),
                dedupe_key=None,
                now=now,
                webhook=request.app[SETTINGS].webhook is not None,
            )
    realtime = request.app[REALTIME]
    event = update.event
    if update.changed_fields:
        await announce(realtime.event_updated(event, update.changed_fields), "event updated")
    if update.changed_fields & SCHEDULE_FIELDS:
        event = await _reload(request, event)  # the room may have moved to another state
    if notified:
        await announce(realtime.notifications_created(notified), "push event notifications")
    return data_response(render.event(event))


async def _reload(request: web.Request, event: Event) -> Event:
    try:
        async with request.app[DB].read() as conn:
            return await event_store.get_event(conn, event.id)
    except NotFound:
        return event  # deleted meanwhile: answer with what was stored


async def delete_event(request: web.Request) -> web.Response:
    event_id = path_id(request, "id")
    async with request.app[DB].write() as conn:
        event = await event_store.get_event(conn, event_id)
        # Stored before the delete (which takes the tickets, hence the holders, with it) and
        # not linked to the event, so the notice outlives it.
        notified = await notification_store.notify_event_holders(
            conn,
            event_id=event_id,
            kind=NotificationKind.EVENT_CANCELLED.value,
            message=f"{event.name} has been cancelled",
            dedupe_key=None,
            now=request.app[CLOCK].now(),
            outlives_event=True,
            webhook=request.app[SETTINGS].webhook is not None,
        )
        await event_store.delete_event(conn, event_id)
    realtime = request.app[REALTIME]
    await announce(realtime.event_deleted(event_id), "event deleted")
    if notified:
        await announce(realtime.notifications_created(notified), "push cancellation notices")
    return web.Response(status=204)


async def show_event(request: web.Request) -> web.Response:
    event_id = path_id(request, "id")
    async with request.app[DB].read() as conn:
        event = await event_store.get_event(conn, event_id)
    return data_response(render.event(event))


async def list_events(request: web.Request) -> web.Response:
    async with request.app[DB].read() as conn:
        events = await event_store.list_upcoming_events(conn, now=request.app[CLOCK].now())
    return data_response([render.event(event) for event in events])


async def get_chat_room(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    raw_id = body.get("event_id")
    if raw_id is None or raw_id == "":
        raise Invalid.field("event_id", BLANK)
    event_id = canonical_uuid(raw_id)
    if event_id is None:
        raise NotFound("chat room")
    async with request.app[DB].read() as conn:
        room = await room_store.get_room_for_event(conn, event_id)
    return data_response(render.chat_room(room))


async def list_messages(request: web.Request) -> web.Response:
    """A room's history for its ticket holders, paged backwards by ``seq``."""
    caller = signed_in_user(request)
    errors: dict[str, list[str]] = {}
    before = query_int(request, "before", errors, minimum=1, maximum=SEQ_MAX)
    limit = query_int(request, "limit", errors, minimum=1, maximum=HISTORY_MAX_LIMIT)
    if errors:
        raise Invalid(errors)
    event_id = path_id(request, "id")
    async with request.app[DB].read() as conn:
        event = await event_store.get_event(conn, event_id)
        if not await policy.may_read_room(conn, caller.user_id, event_id):
            raise Forbidden()
        messages = await message_store.list_messages(
            conn, event.chat_room.id, before=before, limit=limit or HISTORY_DEFAULT_LIMIT
        )
    # As many of the newest as fit in one reply; the client pages back from the oldest.
    encoded, _ = render.messages_within(messages, MAX_REPLY_BYTES)
    return data_response([render.message(message) for message in messages[-len(encoded) :]])


def _change_notice(event: Event) -> str:
    start = render.timestamp(event.start_time)
    end = render.timestamp(event.end_time)
    return f"{event.name} has changed: {start} to {end} (UTC) at {event.location}"
