"""Chat messages: stored in batches by the chat, read back by the chat and the REST history.

:func:`store_messages` stores any number of messages, of any rooms, in the caller's
transaction, in a fixed number of statements: it is what lets the chat commit everything
that is waiting at one moment at once (group commit). Each room's seqs are allocated in the
same transaction (one ``last_seq`` update per room), so they are dense and commit order is
seq order; a message whose ``client_id`` its sender already used in the room is not stored
again (the stored one is returned, marked not created).

:func:`list_messages_many` reads what several joins' replies need (each room's latest
messages, or those after a seq) in one query: the chat asks it for the joins that arrive
together. :func:`page_marks` says, in one cheap query, whether a room's latest messages
still read as they did (see :class:`PageMark`), so the chat can keep them between joins.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from server.db.common import new_ordered_id
from server.db.database import Connection, PostgresConnection, Row, SqliteConnection
from server.db.sql import POSTGRESQL, Sql, sqlite_timestamp
from server.domain import (
    AuthorRole,
    ChatMessage,
    Conflict,
    DomainError,
    MessageDraft,
    NotFound,
    RoomId,
    StoredMessage,
)

ROOM_NOT_ACTIVE = "chat room is not active"

_COLUMNS = (
    "id, chat_room_id, user_id, username, content, content_type, seq, client_id, inserted_at, "
    "author_role"
)
# A message as read: its columns, and whether an organiser hid it.
_READ = f"""
    {", ".join("messages." + c.strip() for c in _COLUMNS.split(","))},
    hidden_messages.seq IS NOT NULL AS hidden
"""
_HIDDEN = """
    LEFT JOIN hidden_messages ON hidden_messages.chat_room_id = messages.chat_room_id
                             AND hidden_messages.seq = messages.seq
"""

# SQLite: the messages a batch's (room, author, client_id) keys name, in one statement; the
# keys come as one JSON array of [room, author, client_id] triples.
_SQLITE_FIND_BY_CLIENT_IDS = Sql(
    f"""
    SELECT {_READ}
    FROM json_each($1) AS k
    JOIN messages ON messages.chat_room_id = k.value ->> 0 AND messages.user_id = k.value ->> 1
     AND messages.client_id = k.value ->> 2
    {_HIDDEN}
    """
)
# The announcements a batch's [room, client_id] pairs name (rare: only batches holding an
# announcement with a client_id ask).
_SQLITE_FIND_ANNOUNCEMENTS = Sql(
    f"""
    SELECT {_READ}
    FROM json_each($1) AS k
    JOIN messages ON messages.chat_room_id = k.value ->> 0 AND messages.author_role = 'organiser'
     AND messages.client_id = k.value ->> 1
    {_HIDDEN}
    """
)
_ROOM_EXISTS = Sql("SELECT 1 FROM chat_rooms WHERE id = $1")
_ALLOCATE_ACTIVE = Sql(
    "UPDATE chat_rooms SET last_seq = last_seq + $1 WHERE id = $2 AND status = 'active' "
    "RETURNING last_seq"
)
_ALLOCATE_ANY = Sql(
    "UPDATE chat_rooms SET last_seq = last_seq + $1 WHERE id = $2 RETURNING last_seq"
)
# A message keeps its author's id only while the author exists: a user deleted while their
# message was on its way leaves it with the username snapshot, like their older messages.
_INSERT = Sql(
    f"""
    INSERT INTO messages ({_COLUMNS})
    VALUES ($1, $2, (SELECT users.id FROM users WHERE users.id = $3), $4, $5, $6, $7, $8, $9,
            $10)
    """
)
_LATEST = Sql(
    f"""
    SELECT {_READ} FROM messages {_HIDDEN} WHERE messages.chat_room_id = $1
    ORDER BY messages.seq DESC LIMIT $2
    """
)
_BEFORE = Sql(
    f"""
    SELECT {_READ} FROM messages {_HIDDEN}
    WHERE messages.chat_room_id = $1 AND messages.seq < $2
    ORDER BY messages.seq DESC LIMIT $3
    """
)
_AFTER = Sql(
    f"""
    SELECT {_READ} FROM messages {_HIDDEN}
    WHERE messages.chat_room_id = $1 AND messages.seq > $2
    ORDER BY messages.seq LIMIT $3
    """
)
_GET = Sql(f"SELECT {_READ} FROM messages {_HIDDEN} WHERE messages.id = $1")
# Many rooms' pages at once, each asked with its position: the latest $3 of the room when
# its "after" is NULL, else the oldest $3 after that seq. Both read the room's seq index in
# its order (the NULL test is decided once per page, not per row).
_PAGES_PG = Sql(
    f"""
    SELECT k.i, page.*
    FROM unnest($1::text[], $2::int[], $3::int[]) WITH ORDINALITY AS k(room, after_seq, n, i)
    CROSS JOIN LATERAL (
        (SELECT {_READ} FROM messages {_HIDDEN}
         WHERE k.after_seq IS NULL AND messages.chat_room_id = k.room
         ORDER BY messages.seq DESC LIMIT k.n)
        UNION ALL
        (SELECT {_READ} FROM messages {_HIDDEN}
         WHERE k.after_seq IS NOT NULL AND messages.chat_room_id = k.room
           AND messages.seq > k.after_seq
         ORDER BY messages.seq LIMIT k.n)
    ) AS page
    """
)

# Where each room's latest page stands (see PageMark), in one statement: the room's last seq
# and moderation version, and how many messages of the page have lost their author.
_PAGE_MARK = """
    SELECT {position} chat_rooms.last_seq, chat_rooms.moderation_version,
           (SELECT count(*) FROM (SELECT messages.user_id FROM messages
                                  WHERE messages.chat_room_id = chat_rooms.id
                                  ORDER BY messages.seq DESC LIMIT {limit}) AS page
            WHERE page.user_id IS NULL) AS authorless
"""
_PAGE_MARKS_PG = Sql(
    _PAGE_MARK.format(position="k.i,", limit="k.n")
    + """
    FROM unnest($1::text[], $2::int[]) WITH ORDINALITY AS k(room, n, i)
    JOIN chat_rooms ON chat_rooms.id = k.room
    """
)
_PAGE_MARK_ONE = Sql(_PAGE_MARK.format(position="", limit="$2") + " FROM chat_rooms WHERE id = $1")

# PostgreSQL: a whole batch in two statements, whatever its size and number of rooms.
_PG_FIND_BY_CLIENT_IDS = Sql(
    f"""
    SELECT {_READ}
    FROM messages
    JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(room, author, client_id)
      ON messages.chat_room_id = k.room AND messages.user_id = k.author
     AND messages.client_id = k.client_id
    {_HIDDEN}
    """
)
_PG_FIND_ANNOUNCEMENTS = Sql(
    f"""
    SELECT {_READ}
    FROM messages
    JOIN unnest($1::text[], $2::text[]) AS k(room, client_id)
      ON messages.chat_room_id = k.room AND messages.author_role = 'organiser'
     AND messages.client_id = k.client_id
    {_HIDDEN}
    """
)
# Allocate each room's seqs and insert the messages of the rooms that could allocate, in one
# statement: a message is the k-th new one of its room in the batch ($8), the room takes n
# ($10/$11) seqs, so its seq is last_seq - n + k.
_PG_STORE = """
    WITH wanted AS (
        SELECT * FROM unnest($10::text[], $11::int[]) AS w(room, n)
    ), allocated AS (
        UPDATE chat_rooms SET last_seq = chat_rooms.last_seq + wanted.n
        FROM wanted
        WHERE chat_rooms.id = wanted.room {active}
        RETURNING chat_rooms.id, chat_rooms.last_seq, wanted.n
    ), stored AS (
        INSERT INTO messages ({columns})
        SELECT v.id, v.room, (SELECT users.id FROM users WHERE users.id = v.author),
               v.username, v.content, v.content_type,
               allocated.last_seq - allocated.n + v.k, v.client_id, $9, v.author_role
        FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                    $7::text[], $8::int[], $12::text[])
             AS v(id, room, author, username, content, content_type, client_id, k, author_role)
        JOIN allocated ON allocated.id = v.room
    )
    SELECT id, last_seq FROM allocated
"""
_PG_STORE_ACTIVE = Sql(
    _PG_STORE.format(active="AND chat_rooms.status = 'active'", columns=_COLUMNS)
)
_PG_STORE_ANY = Sql(_PG_STORE.format(active="", columns=_COLUMNS))
_PG_EXISTING_ROOMS = Sql("SELECT id FROM chat_rooms WHERE id = ANY($1::text[])")


def message_from_row(row: Row) -> ChatMessage:
    return ChatMessage(
        id=row["id"],
        chat_room_id=row["chat_room_id"],
        user_id=row["user_id"],
        username=row["username"],
        content=row["content"],
        content_type=row["content_type"],
        seq=row["seq"],
        client_id=row["client_id"],
        inserted_at=row["inserted_at"],
        author_role=AuthorRole(row["author_role"]),
        hidden=bool(row["hidden"]),
    )


ANNOUNCER = ""
"""The author part of an announcement's dedupe key (no user has an empty id)."""

_Key = tuple[str, str, str]


def _dedupe_key(draft: MessageDraft) -> _Key | None:
    """(room, author, client_id) for a draft whose retry must not be stored twice."""
    if draft.client_id is None:
        return None
    if draft.author_role is AuthorRole.ORGANISER:
        return (draft.chat_room_id, ANNOUNCER, draft.client_id)
    if draft.user_id is None:
        return None
    return (draft.chat_room_id, draft.user_id, draft.client_id)


def _key_of(message: ChatMessage) -> _Key:
    author = ANNOUNCER if message.author_role is AuthorRole.ORGANISER else str(message.user_id)
    return (message.chat_room_id, author, str(message.client_id))


Outcome = StoredMessage | DomainError
"""Per draft: the stored message, or why it was not stored (NotFound: no such room;
Conflict(ROOM_NOT_ACTIVE): the room is not open)."""


@dataclass(slots=True)
class _Plan:
    """What the drafts of a batch need, worked out before the writes."""

    outcomes: list[Outcome | None]
    same_as: dict[int, int]
    """A draft repeating an earlier draft's (room, author, client_id): index -> earlier index."""
    new: dict[RoomId, list[int]]
    """Per room, the indexes of the drafts to store, in order."""


def _plan(drafts: Sequence[MessageDraft], existing: dict[_Key, ChatMessage]) -> _Plan:
    plan = _Plan([None] * len(drafts), {}, {})
    first: dict[_Key, int] = {}
    for index, draft in enumerate(drafts):
        key = _dedupe_key(draft)
        if key is not None:
            if key in first:
                plan.same_as[index] = first[key]
                continue
            first[key] = index
            stored = existing.get(key)
            if stored is not None:
                plan.outcomes[index] = StoredMessage(stored, created=False)
                continue
        plan.new.setdefault(draft.chat_room_id, []).append(index)
    return plan


def _finish(plan: _Plan) -> list[Outcome]:
    for index, earlier in plan.same_as.items():
        outcome = plan.outcomes[earlier]
        if isinstance(outcome, StoredMessage):
            outcome = StoredMessage(outcome.message, created=False)
        plan.outcomes[index] = outcome
    assert all(outcome is not None for outcome in plan.outcomes)
    return [outcome for outcome in plan.outcomes if outcome is not None]


def _refusal(room_exists: bool) -> DomainError:
    return Conflict(ROOM_NOT_ACTIVE) if room_exists else NotFound("chat room")


def _message(draft: MessageDraft, seq: int, now: datetime) -> ChatMessage:
    return ChatMessage(
        id=new_ordered_id(),
        chat_room_id=draft.chat_room_id,
        user_id=draft.user_id,
        username=draft.username,
        content=draft.content,
        content_type=draft.content_type,
        seq=seq,
        client_id=draft.client_id,
        inserted_at=now,
        author_role=draft.author_role,
    )


async def store_messages(
    conn: Connection,
    drafts: Sequence[MessageDraft],
    *,
    now: datetime,
    require_active: bool = True,
) -> list[Outcome]:
    """Store the drafts in the caller's transaction; one outcome per draft, in order.

    Within each room the new messages get consecutive seqs in the order given. On
    PostgreSQL two nodes storing the same ``client_id`` at the same moment make one of them
    fail with an IntegrityError: roll back and store the batch again (it then finds the
    stored message)."""
    if not drafts:
        return []
    if isinstance(conn, SqliteConnection):
        return await conn.run(_store_sqlite, drafts, now, require_active)
    assert isinstance(conn, PostgresConnection)
    return await _store_postgres(conn, drafts, now, require_active)


def _store_sqlite(
    conn: sqlite3.Connection, drafts: Sequence[MessageDraft], now: datetime, require_active: bool
) -> list[Outcome]:
    existing: dict[_Key, ChatMessage] = {}
    keys = [key for key in map(_dedupe_key, drafts) if key is not None]
    members = [key for key in keys if key[1] != ANNOUNCER]
    if members:
        for row in conn.execute(_SQLITE_FIND_BY_CLIENT_IDS.sqlite, (json.dumps(members),)):
            found = message_from_row(row)
            existing[_key_of(found)] = found
    announcements = [(room, client_id) for room, author, client_id in keys if author == ANNOUNCER]
    if announcements:
        for row in conn.execute(_SQLITE_FIND_ANNOUNCEMENTS.sqlite, (json.dumps(announcements),)):
            found = message_from_row(row)
            existing[_key_of(found)] = found
    plan = _plan(drafts, existing)
    allocate = _ALLOCATE_ACTIVE if require_active else _ALLOCATE_ANY
    stamp = sqlite_timestamp(now)  # once, not once per row
    rows = []
    for room, indexes in plan.new.items():
        allocated = conn.execute(allocate.sqlite, (len(indexes), room)).fetchone()
        if allocated is None:
            refusal = _refusal(conn.execute(_ROOM_EXISTS.sqlite, (room,)).fetchone() is not None)
            for index in indexes:
                plan.outcomes[index] = refusal
            continue
        first_seq = allocated[0] - len(indexes) + 1
        for offset, index in enumerate(indexes):
            message = _message(drafts[index], first_seq + offset, now)
            plan.outcomes[index] = StoredMessage(message, created=True)
            rows.append(
                (
                    message.id,
                    message.chat_room_id,
                    message.user_id,
                    message.username,
                    message.content,
                    message.content_type,
                    message.seq,
                    message.client_id,
                    stamp,
                    message.author_role.value,
                )
            )
    conn.executemany(_INSERT.sqlite, rows)
    return _finish(plan)


async def _store_postgres(
    conn: PostgresConnection, drafts: Sequence[MessageDraft], now: datetime, require_active: bool
) -> list[Outcome]:
    existing: dict[_Key, ChatMessage] = {}
    keys = [key for key in map(_dedupe_key, drafts) if key is not None]
    members = [key for key in keys if key[1] != ANNOUNCER]
    if members:
        for row in await conn.fetch(_PG_FIND_BY_CLIENT_IDS, *map(list, zip(*members, strict=True))):
            message = message_from_row(row)
            existing[_key_of(message)] = message
    announcements = [(room, client_id) for room, author, client_id in keys if author == ANNOUNCER]
    if announcements:
        pairs = map(list, zip(*announcements, strict=True))
        for row in await conn.fetch(_PG_FIND_ANNOUNCEMENTS, *pairs):
            message = message_from_row(row)
            existing[_key_of(message)] = message
    plan = _plan(drafts, existing)
    if not plan.new:
        return _finish(plan)
    messages: dict[int, ChatMessage] = {}
    columns: list[list[object]] = [[] for _ in range(9)]
    for indexes in plan.new.values():
        for k, index in enumerate(indexes, 1):
            draft = drafts[index]
            message = _message(draft, 0, now)
            messages[index] = message
            for column, value in zip(
                columns,
                (
                    message.id,
                    draft.chat_room_id,
                    draft.user_id,
                    draft.username,
                    draft.content,
                    draft.content_type,
                    draft.client_id,
                    k,
                    draft.author_role.value,
                ),
                strict=True,
            ):
                column.append(value)
    rooms = list(plan.new)
    store = _PG_STORE_ACTIVE if require_active else _PG_STORE_ANY
    allocated = {
        row["id"]: int(row["last_seq"])
        for row in await conn.fetch(
            store, *columns[:8], now, rooms, [len(plan.new[r]) for r in rooms], columns[8]
        )
    }
    refused = [room for room in rooms if room not in allocated]
    existing_rooms = (
        {row["id"] for row in await conn.fetch(_PG_EXISTING_ROOMS, refused)} if refused else set()
    )
    for room, indexes in plan.new.items():
        if room not in allocated:
            refusal = _refusal(room in existing_rooms)
            for index in indexes:
                plan.outcomes[index] = refusal
            continue
        first_seq = allocated[room] - len(indexes) + 1
        for offset, index in enumerate(indexes):
            stored = dataclasses.replace(messages[index], seq=first_seq + offset)
            plan.outcomes[index] = StoredMessage(stored, created=True)
    return _finish(plan)


async def list_messages(
    conn: Connection,
    chat_room_id: RoomId,
    *,
    before: int | None = None,
    after: int | None = None,
    limit: int = 50,
) -> list[ChatMessage]:
    """Up to ``limit`` messages, oldest first: the newest ones with ``seq < before`` (scrolling
    back, or the latest when ``before`` is None), or the oldest with ``seq > after`` (catching
    up after a reconnect)."""
    if after is not None:
        return [
            message_from_row(row) for row in await conn.fetch(_AFTER, chat_room_id, after, limit)
        ]
    if before is not None:
        rows = await conn.fetch(_BEFORE, chat_room_id, before, limit)
    else:
        rows = await conn.fetch(_LATEST, chat_room_id, limit)
    return [message_from_row(row) for row in reversed(rows)]


class Page(NamedTuple):
    """What :func:`list_messages_many` reads for one room: its latest ``limit`` messages
    (``after`` None), or the oldest ``limit`` with a seq greater than ``after``."""

    room_id: RoomId
    after: int | None
    limit: int


async def list_messages_many(conn: Connection, pages: Sequence[Page]) -> list[list[ChatMessage]]:
    """:func:`list_messages` of each page, oldest first, in order: one query on PostgreSQL;
    on SQLite, in-process work with no round trip to save, one statement per page."""
    if not pages:
        return []
    if conn.dialect != POSTGRESQL:
        return [
            await list_messages(conn, page.room_id, after=page.after, limit=page.limit)
            for page in pages
        ]
    found: list[list[ChatMessage]] = [[] for _ in pages]
    rows = await conn.fetch(
        _PAGES_PG,
        [page.room_id for page in pages],
        [page.after for page in pages],
        [page.limit for page in pages],
    )
    for row in rows:
        found[int(row["i"]) - 1].append(message_from_row(row))
    for messages in found:
        messages.sort(key=_seq)  # (a query's rows come in no promised order)
    return found


def _seq(message: ChatMessage) -> int:
    return message.seq


class PageMark(NamedTuple):
    """Where a room's latest page stands. Stored messages never change but in two ways: an
    organiser hides one (which moves the room's ``moderation_version`` on) and an author's
    account is deleted (the message keeps its username but loses its ``user_id``, which
    only ever becomes NULL). So while its mark stays the same, a room's latest page reads
    the same, byte for byte; its mark read before a page was read can only be older than
    the page, never newer (every part of it only grows)."""

    last_seq: int
    moderation_version: int
    authorless: int
    """Messages of the page whose author's account is gone (announcements included)."""


async def page_marks(conn: Connection, pages: Sequence[Page]) -> list[PageMark | None]:
    """The mark of each latest page (``after`` None), in order; None for a room that no
    longer exists. One query on PostgreSQL; on SQLite one statement per page."""
    if any(page.after is not None for page in pages):
        raise ValueError("only a room's latest page has a mark")
    if not pages:
        return []
    if conn.dialect != POSTGRESQL:
        found = []
        for page in pages:
            row = await conn.fetchrow(_PAGE_MARK_ONE, page.room_id, page.limit)
            found.append(None if row is None else _mark(row))
        return found
    marks: list[PageMark | None] = [None] * len(pages)
    rows = await conn.fetch(
        _PAGE_MARKS_PG, [page.room_id for page in pages], [page.limit for page in pages]
    )
    for row in rows:
        marks[int(row["i"]) - 1] = _mark(row)
    return marks


def _mark(row: Row) -> PageMark:
    return PageMark(int(row["last_seq"]), int(row["moderation_version"]), int(row["authorless"]))


async def get_message(conn: Connection, message_id: str) -> ChatMessage | None:
    row = await conn.fetchrow(_GET, message_id)
    return None if row is None else message_from_row(row)
