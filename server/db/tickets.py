"""Tickets: created and assigned by the reservation system, claimed when joining the chat.

The chat claims the tickets of the joins that arrive together in one call
(:func:`claim_tickets`): one statement on PostgreSQL (two when the batch mixes numbered
claims with claims of an assigned ticket), one transaction on SQLite.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from server.db.common import new_id
from server.db.database import Connection, IntegrityError, Row, SqliteConnection
from server.db.sql import POSTGRESQL, Sql, sqlite_timestamp
from server.domain import (
    DOES_NOT_EXIST,
    TAKEN,
    Conflict,
    EventId,
    Invalid,
    NotFound,
    Ticket,
    TicketId,
    User,
    UserId,
)

ASSIGNED_TO_ANOTHER_USER = "ticket is already assigned to another user"

_SELECT = """
    SELECT tickets.id, tickets.event_id, tickets.ticket_number, tickets.user_id,
           tickets.used_at, tickets.inserted_at, tickets.updated_at,
           users.username AS holder_username, users.email AS holder_email,
           users.token_version AS holder_token_version,
           users.inserted_at AS holder_inserted_at, users.updated_at AS holder_updated_at
    FROM tickets LEFT JOIN users ON users.id = tickets.user_id
"""
_GET = Sql(f"{_SELECT} WHERE tickets.id = $1")
_EVENT_EXISTS = Sql("SELECT 1 FROM events WHERE id = $1")
_NUMBER_TAKEN = Sql("SELECT 1 FROM tickets WHERE ticket_number = $1")
_USER_EXISTS = Sql("SELECT 1 FROM users WHERE id = $1")
_INSERT = Sql(
    """
    INSERT INTO tickets (id, event_id, ticket_number, user_id, used_at, inserted_at, updated_at)
    VALUES ($1, $2, $3, NULL, NULL, $4, $4)
    """
)
_ASSIGN = Sql(
    """
    UPDATE tickets SET user_id = $2, updated_at = $3
    WHERE id = $1 AND (user_id IS NULL OR user_id = $2)
    RETURNING id
    """
)
# The chat join's claim: the numbered ticket of this event becomes the user's and is marked
# used when it is already the user's, or free (never assigned nor used), or a spare: assigned
# to someone who is in the room already with another ticket of this event (a holder of
# several tickets brings friends, each joining with a number of theirs). Unless the user
# already used another ticket of this event: a second ticket is for someone else to claim.
_CLAIM_CONDITION = """
    tickets.event_id = {event} AND tickets.ticket_number = {number}
    AND (tickets.user_id = {user}
         OR (tickets.used_at IS NULL
             AND (tickets.user_id IS NULL
                  OR EXISTS (
                      SELECT 1 FROM tickets AS held
                      WHERE held.event_id = {event} AND held.user_id = tickets.user_id
                        AND held.used_at IS NOT NULL))))
    AND NOT EXISTS (
        SELECT 1 FROM tickets AS other
        WHERE other.event_id = {event} AND other.user_id = {user} AND other.used_at IS NOT NULL
          AND other.ticket_number <> {number})
"""
_CLAIM = Sql(
    f"""
    UPDATE tickets SET user_id = $3, used_at = coalesce(used_at, $4), updated_at = $4
    WHERE {_CLAIM_CONDITION.format(event="$1", number="$2", user="$3")}
    RETURNING id
    """
)
# The same condition for many claims at once, each with its position: the positions of the
# claims that succeeded come back.
_CLAIM_MANY_PG = Sql(
    f"""
    UPDATE tickets SET user_id = w.user_id, used_at = coalesce(tickets.used_at, $4),
                       updated_at = $4
    FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY
         AS w(event_id, ticket_number, user_id, i)
    WHERE {_CLAIM_CONDITION.format(event="w.event_id", number="w.ticket_number", user="w.user_id")}
    RETURNING w.i
    """
)
# A join with no number by a user the reservation system assigned a ticket to: the assigned
# ticket is marked used (the oldest, if there are several).
_OLDEST_ASSIGNED = """
    SELECT id FROM tickets
    WHERE event_id = {event} AND user_id = {user} AND used_at IS NULL
    ORDER BY inserted_at, id LIMIT 1
"""
_CLAIM_ASSIGNED = Sql(
    f"""
    UPDATE tickets SET used_at = $3, updated_at = $3
    WHERE id = ({_OLDEST_ASSIGNED.format(event="$1", user="$2")})
    RETURNING id
    """
)
_CLAIM_ASSIGNED_MANY_PG = Sql(
    f"""
    UPDATE tickets SET used_at = $3, updated_at = $3
    FROM (SELECT w.i, ({_OLDEST_ASSIGNED.format(event="w.event_id", user="w.user_id")}) AS id
          FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS w(event_id, user_id, i)) AS c
    WHERE tickets.id = c.id
    RETURNING c.i
    """
)
_HOLDS = Sql("SELECT 1 FROM tickets WHERE event_id = $1 AND user_id = $2 LIMIT 1")
_HOLDERS = Sql(
    """
    SELECT DISTINCT user_id FROM tickets
    WHERE event_id = $1 AND user_id IS NOT NULL ORDER BY user_id
    """
)


def _ticket_from_row(row: Row) -> Ticket:
    holder = None
    if row["user_id"] is not None:
        holder = User(
            id=row["user_id"],
            username=row["holder_username"],
            email=row["holder_email"],
            token_version=row["holder_token_version"],
            inserted_at=row["holder_inserted_at"],
            updated_at=row["holder_updated_at"],
        )
    return Ticket(
        id=row["id"],
        event_id=row["event_id"],
        ticket_number=row["ticket_number"],
        user_id=row["user_id"],
        used_at=row["used_at"],
        holder=holder,
        inserted_at=row["inserted_at"],
        updated_at=row["updated_at"],
    )


async def create_ticket(
    conn: Connection, *, event_id: EventId, ticket_number: str, now: datetime
) -> Ticket:
    """Store an unassigned ticket; Invalid for an unknown event or a number already in use."""
    errors: dict[str, list[str]] = {}
    if await conn.fetchrow(_EVENT_EXISTS, event_id) is None:
        errors["event_id"] = [DOES_NOT_EXIST]
    if await conn.fetchrow(_NUMBER_TAKEN, ticket_number) is not None:
        errors["ticket_number"] = [TAKEN]
    if errors:
        raise Invalid(errors)
    ticket_id = new_id()
    try:
        await conn.execute(_INSERT, ticket_id, event_id, ticket_number, now)
    except IntegrityError as error:
        # Lost a race: the same number created, or the event deleted, meanwhile.
        if error.violates("uq_tickets_ticket_number", "tickets.ticket_number"):
            raise Invalid.field("ticket_number", TAKEN) from None
        if error.foreign_key:
            raise Invalid.field("event_id", DOES_NOT_EXIST) from None
        raise
    return await get_ticket(conn, ticket_id)


async def get_ticket(conn: Connection, ticket_id: TicketId) -> Ticket:
    row = await conn.fetchrow(_GET, ticket_id)
    if row is None:
        raise NotFound("ticket")
    return _ticket_from_row(row)


async def assign_ticket(
    conn: Connection, *, ticket_id: TicketId, user_id: UserId, now: datetime
) -> Ticket:
    """Give the ticket to ``user_id``. Assigning it again to the same user is a no-op success;
    a ticket held by someone else is a Conflict. One conditional UPDATE decides, so of two
    simultaneous assigns to different users exactly one wins."""
    if await conn.fetchrow(_USER_EXISTS, user_id) is None:
        raise NotFound("user")
    try:
        row = await conn.fetchrow(_ASSIGN, ticket_id, user_id, now)
    except IntegrityError as error:
        if error.foreign_key:  # the user was deleted meanwhile
            raise NotFound("user") from None
        raise
    if row is None:
        await get_ticket(conn, ticket_id)  # raises NotFound for an unknown ticket
        raise Conflict(ASSIGNED_TO_ANOTHER_USER)
    return await get_ticket(conn, ticket_id)


@dataclass(frozen=True, slots=True)
class Claim:
    """A chat join's claim of a ticket: the numbered one, or (``ticket_number`` None) the
    one the reservation system assigned to the user."""

    event_id: EventId
    user_id: UserId
    ticket_number: str | None


async def claim_ticket(
    conn: Connection, *, event_id: EventId, ticket_number: str, user_id: UserId, now: datetime
) -> bool:
    """The chat join's ticket check: assign the numbered ticket to the user and mark it used,
    in one conditional UPDATE. False when the user may not claim it: no such ticket for this
    event, used by someone else, assigned to someone else who has not joined with another
    one, or the user already used another ticket of this event."""
    return await conn.fetchrow(_CLAIM, event_id, ticket_number, user_id, now) is not None


async def claim_assigned_ticket(
    conn: Connection, *, event_id: EventId, user_id: UserId, now: datetime
) -> bool:
    """Mark used a ticket of the event that was assigned to the user and not yet used. False
    when there is none."""
    return await conn.fetchrow(_CLAIM_ASSIGNED, event_id, user_id, now) is not None


def claim_keys(claim: Claim) -> tuple[tuple[str, ...], ...]:
    """What a claim's outcome depends on and changes: its user's standing in the event and,
    for a numbered claim, that ticket. Claims sharing a key must not be made in one call of
    :func:`claim_tickets` (each would decide without seeing the other)."""
    user = ("user", claim.event_id, claim.user_id)
    if claim.ticket_number is None:
        return (user,)
    return (user, ("ticket", claim.event_id, claim.ticket_number))


async def claim_tickets(conn: Connection, claims: Sequence[Claim], *, now: datetime) -> list[bool]:
    """Each claim as :func:`claim_ticket` or :func:`claim_assigned_ticket` decides it, all
    in one call; whether each succeeded, in order. No two claims may share a
    :func:`claim_keys` key (ValueError): a batch holds at most one claim per ticket and per
    user of an event, so that no claim of it decides on what another one changes.

    PostgreSQL: one UPDATE for the numbered claims, then one for the assigned ones, each
    atomic; the numbered ones come first because making them again changes nothing (a
    caller that retries a failed call claim by claim repeats no claim that counted).
    SQLite: every claim in one transaction (the caller's, or one of its own)."""
    seen: set[tuple[str, ...]] = set()
    for claim in claims:
        keys = claim_keys(claim)
        if not seen.isdisjoint(keys):
            raise ValueError(f"two claims of one batch share {keys}")
        seen.update(keys)
    if not claims:
        return []
    if isinstance(conn, SqliteConnection):
        return await conn.run(_claim_sqlite, claims, now)
    assert conn.dialect == POSTGRESQL
    claimed = [False] * len(claims)
    numbered = [(i, c) for i, c in enumerate(claims) if c.ticket_number is not None]
    assigned = [(i, c) for i, c in enumerate(claims) if c.ticket_number is None]
    if numbered:
        rows = await conn.fetch(
            _CLAIM_MANY_PG,
            [c.event_id for _, c in numbered],
            [c.ticket_number for _, c in numbered],
            [c.user_id for _, c in numbered],
            now,
        )
        for row in rows:
            claimed[numbered[int(row["i"]) - 1][0]] = True
    if assigned:
        rows = await conn.fetch(
            _CLAIM_ASSIGNED_MANY_PG,
            [c.event_id for _, c in assigned],
            [c.user_id for _, c in assigned],
            now,
        )
        for row in rows:
            claimed[assigned[int(row["i"]) - 1][0]] = True
    return claimed


def _claim_sqlite(conn: sqlite3.Connection, claims: Sequence[Claim], now: datetime) -> list[bool]:
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN IMMEDIATE")
    try:
        stamp = sqlite_timestamp(now)
        claimed = []
        for claim in claims:
            if claim.ticket_number is None:
                args: tuple[str, ...] = (claim.event_id, claim.user_id, stamp)
                found = conn.execute(_CLAIM_ASSIGNED.sqlite, args).fetchone()
            else:
                args = (claim.event_id, claim.ticket_number, claim.user_id, stamp)
                found = conn.execute(_CLAIM.sqlite, args).fetchone()
            claimed.append(found is not None)
        if own:
            conn.execute("COMMIT")
    except BaseException:
        if own and conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return claimed


async def holds_ticket(conn: Connection, *, user_id: UserId, event_id: EventId) -> bool:
    """Whether the user has an assigned ticket for the event (a "ticket holder")."""
    return await conn.fetchrow(_HOLDS, event_id, user_id) is not None


async def holder_ids(conn: Connection, event_id: EventId) -> list[UserId]:
    """Every user with an assigned ticket for the event, each once."""
    return [row["user_id"] for row in await conn.fetch(_HOLDERS, event_id)]
