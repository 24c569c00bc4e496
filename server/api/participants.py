"""``GET /api/events/:id/participants``: everyone admitted to the event's chat room, online or
not, for the event's ticket holders and the reservation system.

Paged with a cursor: each page says ``next_cursor`` (null on the last one), passed back as
``after``. The order is the order in which people first joined, so pages stay consistent
while people keep joining (a new participant shows up on the last page). ``online`` says
whether the participant is in the room right now (this node's presence).
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

from aiohttp import web

from server import policy
from server.api.render import data_response
from server.api.validation import path_id, query_int
from server.auth.callers import UserCaller
from server.db import participants as participant_store
from server.db import rooms as room_store
from server.db.participants import Position
from server.domain import INVALID, Forbidden, Invalid, NotFound, canonical_uuid
from server.keys import CALLER, DB, REALTIME
from server.limits import PARTICIPANTS_DEFAULT_LIMIT, PARTICIPANTS_MAX_LIMIT
from server.render import timestamp

MAX_CURSOR_LENGTH = 200


async def list_participants(request: web.Request) -> web.Response:
    errors: dict[str, list[str]] = {}
    limit = (
        query_int(request, "limit", errors, minimum=1, maximum=PARTICIPANTS_MAX_LIMIT)
        or PARTICIPANTS_DEFAULT_LIMIT
    )
    after = _position(request.query.get("after"), errors)
    if errors:
        raise Invalid(errors)
    event_id = path_id(request, "id")
    caller = request[CALLER]
    async with request.app[DB].read() as conn:
        try:
            room = await room_store.get_room_for_event(conn, event_id)
        except NotFound:
            raise NotFound("event") from None
        if isinstance(caller, UserCaller) and not await policy.may_read_room(
            conn, caller.user_id, event_id
        ):
            raise Forbidden()
        page = await participant_store.participants(
            conn, event_id=event_id, room_id=room.id, after=after, limit=limit + 1
        )
        total = await participant_store.count_participants(conn, event_id=event_id, room_id=room.id)
    more = len(page) > limit
    page = page[:limit]
    realtime = request.app[REALTIME]
    online = realtime.online_among(event_id, [p.user_id for p in page])
    last = page[-1] if page else None
    return data_response(
        [
            {
                "user_id": p.user_id,
                "username": p.username,
                "joined_at": timestamp(p.joined_at),
                "online": p.user_id in online,
            }
            for p in page
        ],
        total=total,
        online_count=realtime.online_count(event_id),
        next_cursor=_cursor(Position(last.joined_at, last.user_id)) if more and last else None,
    )


def _cursor(position: Position) -> str:
    raw = f"{position.joined_at.isoformat()}|{position.user_id}"
    return base64.urlsafe_b64encode(raw.encode("ascii")).decode("ascii").rstrip("=")


def _position(cursor: str | None, errors: dict[str, list[str]]) -> Position | None:
    """The position a ``next_cursor`` names; anything else is an invalid ``after``."""
    if cursor is None or cursor == "":
        return None
    try:
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise ValueError(cursor)
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        moment, _, user = raw.partition("|")
        user_id = canonical_uuid(user)
        if user_id is None:
            raise ValueError(cursor)
        joined_at = datetime.fromisoformat(moment)
        if joined_at.tzinfo is not None:
            raise ValueError(cursor)
        return Position(joined_at, user_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        errors.setdefault("after", []).append(INVALID)
        return None
