"""Chat messages (written by the chat, issue 5; read by the REST history too)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from server.db.common import AnyRow, is_foreign_key_violation, new_id, violates
from server.db.rooms import next_message_seq
from server.db.schema import messages
from server.domain import ChatMessage, Conflict, NotFound, RoomId, UserId

DUPLICATE_CLIENT_ID = "a message with this client_id is being stored"

MESSAGE_COLUMNS = (
    messages.c.id,
    messages.c.chat_room_id,
    messages.c.user_id,
    messages.c.username,
    messages.c.content,
    messages.c.content_type,
    messages.c.seq,
    messages.c.client_id,
    messages.c.inserted_at,
)


def _message_from_row(row: AnyRow) -> ChatMessage:
    return ChatMessage(
        id=row.id,
        chat_room_id=row.chat_room_id,
        user_id=row.user_id,
        username=row.username,
        content=row.content,
        content_type=row.content_type,
        seq=row.seq,
        client_id=row.client_id,
        inserted_at=row.inserted_at,
    )


async def find_by_client_id(
    conn: AsyncConnection, *, chat_room_id: RoomId, user_id: UserId, client_id: str
) -> ChatMessage | None:
    query = select(*MESSAGE_COLUMNS).where(
        messages.c.chat_room_id == chat_room_id,
        messages.c.user_id == user_id,
        messages.c.client_id == client_id,
    )
    row = (await conn.execute(query)).first()
    return None if row is None else _message_from_row(row)


async def insert_message(
    conn: AsyncConnection,
    *,
    chat_room_id: RoomId,
    user_id: UserId,
    username: str,
    content: str,
    content_type: str = "text",
    client_id: str | None = None,
    now: datetime,
    require_active: bool = True,
) -> tuple[ChatMessage, bool]:
    """Store a message with the room's next seq; returns it and whether it is new.

    A retry with a ``client_id`` this user already used in this room returns the stored message
    and False. Raises NotFound (no room), Conflict when the room is not active (with
    ``require_active``), or Conflict(DUPLICATE_CLIENT_ID) when a concurrent send with the same
    client_id won; the caller should then roll back and look it up with find_by_client_id.
    """
    if client_id is not None:
        existing = await find_by_client_id(
            conn, chat_room_id=chat_room_id, user_id=user_id, client_id=client_id
        )
        if existing is not None:
            return existing, False
    seq = await next_message_seq(conn, chat_room_id, require_active=require_active)
    message = ChatMessage(
        id=new_id(),
        chat_room_id=chat_room_id,
        user_id=user_id,
        username=username,
        content=content,
        content_type=content_type,
        seq=seq,
        client_id=client_id,
        inserted_at=now,
    )
    try:
        # The record's fields are the table's columns, one for one.
        await conn.execute(insert(messages).values(**asdict(message)))
    except IntegrityError as error:
        if violates(
            error,
            "uq_messages_chat_room_id_user_id_client_id",
            "messages.chat_room_id, messages.user_id, messages.client_id",
        ):
            raise Conflict(DUPLICATE_CLIENT_ID) from None
        if is_foreign_key_violation(error):
            raise NotFound("user") from None
        raise
    return message, True


async def list_messages(
    conn: AsyncConnection,
    chat_room_id: RoomId,
    *,
    before: int | None = None,
    after: int | None = None,
    limit: int = 50,
) -> list[ChatMessage]:
    """Up to ``limit`` messages, oldest first: the newest ones with ``seq < before`` (scrolling
    back, or the latest when ``before`` is None), or the oldest with ``seq > after`` (catching
    up after a reconnect)."""
    query = select(*MESSAGE_COLUMNS).where(messages.c.chat_room_id == chat_room_id)
    if after is not None:
        query = query.where(messages.c.seq > after).order_by(messages.c.seq).limit(limit)
        return [_message_from_row(row) for row in await conn.execute(query)]
    if before is not None:
        query = query.where(messages.c.seq < before)
    query = query.order_by(messages.c.seq.desc()).limit(limit)
    rows = list(await conn.execute(query))
    return [_message_from_row(row) for row in reversed(rows)]
