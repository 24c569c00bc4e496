"""Tickets: created and assigned by the reservation system, claimed when joining the chat."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Select

from server.db.common import AnyRow, is_foreign_key_violation, new_id, violates
from server.db.schema import events, tickets, users
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
ALREADY_USED = "ticket already used"


def _ticket_query() -> Select[Any]:
    return select(
        tickets.c.id,
        tickets.c.event_id,
        tickets.c.ticket_number,
        tickets.c.user_id,
        tickets.c.used_at,
        tickets.c.inserted_at,
        tickets.c.updated_at,
        users.c.username.label("holder_username"),
        users.c.email.label("holder_email"),
        users.c.token_version.label("holder_token_version"),
        users.c.inserted_at.label("holder_inserted_at"),
        users.c.updated_at.label("holder_updated_at"),
    ).select_from(tickets.outerjoin(users, users.c.id == tickets.c.user_id))


def _ticket_from_row(row: AnyRow) -> Ticket:
    holder = None
    if row.user_id is not None:
        holder = User(
            id=row.user_id,
            username=row.holder_username,
            email=row.holder_email,
            token_version=row.holder_token_version,
            inserted_at=row.holder_inserted_at,
            updated_at=row.holder_updated_at,
        )
    return Ticket(
        id=row.id,
        event_id=row.event_id,
        ticket_number=row.ticket_number,
        user_id=row.user_id,
        used_at=row.used_at,
        holder=holder,
        inserted_at=row.inserted_at,
        updated_at=row.updated_at,
    )


async def create_ticket(
    conn: AsyncConnection, *, event_id: EventId, ticket_number: str, now: datetime
) -> Ticket:
    """Store an unassigned ticket; Invalid for an unknown event or a number already in use."""
    errors: dict[str, list[str]] = {}
    if (await conn.execute(select(events.c.id).where(events.c.id == event_id))).first() is None:
        errors["event_id"] = [DOES_NOT_EXIST]
    number_taken = select(tickets.c.id).where(tickets.c.ticket_number == ticket_number)
    if (await conn.execute(number_taken)).first() is not None:
        errors["ticket_number"] = [TAKEN]
    if errors:
        raise Invalid(errors)
    ticket_id = new_id()
    try:
        await conn.execute(
            insert(tickets).values(
                id=ticket_id,
                event_id=event_id,
                ticket_number=ticket_number,
                user_id=None,
                used_at=None,
                inserted_at=now,
                updated_at=now,
            )
        )
    except IntegrityError as error:
        # Lost a race: the same number created, or the event deleted, meanwhile.
        if violates(error, "uq_tickets_ticket_number", "tickets.ticket_number"):
            raise Invalid.field("ticket_number", TAKEN) from None
        if is_foreign_key_violation(error):
            raise Invalid.field("event_id", DOES_NOT_EXIST) from None
        raise
    return await get_ticket(conn, ticket_id)


async def get_ticket(conn: AsyncConnection, ticket_id: TicketId) -> Ticket:
    row = (await conn.execute(_ticket_query().where(tickets.c.id == ticket_id))).first()
    if row is None:
        raise NotFound("ticket")
    return _ticket_from_row(row)


async def find_ticket(conn: AsyncConnection, *, event_id: EventId, ticket_number: str) -> Ticket:
    query = _ticket_query().where(
        tickets.c.event_id == event_id, tickets.c.ticket_number == ticket_number
    )
    row = (await conn.execute(query)).first()
    if row is None:
        raise NotFound("ticket")
    return _ticket_from_row(row)


async def assign_ticket(
    conn: AsyncConnection, *, ticket_id: TicketId, user_id: UserId, now: datetime
) -> Ticket:
    """Give the ticket to ``user_id``. Assigning it again to the same user is a no-op success;
    a ticket held by someone else is a Conflict. One conditional UPDATE decides, so of two
    simultaneous assigns to different users exactly one wins."""
    if (await conn.execute(select(users.c.id).where(users.c.id == user_id))).first() is None:
        raise NotFound("user")
    statement = (
        update(tickets)
        .where(
            tickets.c.id == ticket_id,
            or_(tickets.c.user_id.is_(None), tickets.c.user_id == user_id),
        )
        .values(user_id=user_id, updated_at=now)
        .returning(tickets.c.id)
    )
    try:
        row = (await conn.execute(statement)).first()
    except IntegrityError as error:
        if is_foreign_key_violation(error):  # the user was deleted meanwhile
            raise NotFound("user") from None
        raise
    if row is None:
        await get_ticket(conn, ticket_id)  # raises NotFound for an unknown ticket
        raise Conflict(ASSIGNED_TO_ANOTHER_USER)
    return await get_ticket(conn, ticket_id)


async def claim_ticket(
    conn: AsyncConnection,
    *,
    event_id: EventId,
    ticket_number: str,
    user_id: UserId,
    now: datetime,
) -> Ticket:
    """The chat join's ticket check (issue 5): assign the ticket to the user if it is free and
    mark it used, in one conditional UPDATE.

    Succeeds when the ticket is for ``event_id`` and either unassigned and never used, or
    already this user's. Raises NotFound (no such ticket for this event), or Conflict with
    ALREADY_USED (someone else used it) or ASSIGNED_TO_ANOTHER_USER.
    """
    statement = (
        update(tickets)
        .where(
            tickets.c.event_id == event_id,
            tickets.c.ticket_number == ticket_number,
            or_(
                and_(tickets.c.user_id.is_(None), tickets.c.used_at.is_(None)),
                tickets.c.user_id == user_id,
            ),
        )
        .values(user_id=user_id, used_at=func.coalesce(tickets.c.used_at, now), updated_at=now)
        .returning(tickets.c.id)
    )
    ticket_id = (await conn.execute(statement)).scalar()
    if ticket_id is not None:
        return await get_ticket(conn, ticket_id)
    ticket = await find_ticket(conn, event_id=event_id, ticket_number=ticket_number)
    raise Conflict(ALREADY_USED if ticket.used_at is not None else ASSIGNED_TO_ANOTHER_USER)


async def holds_ticket(conn: AsyncConnection, *, user_id: UserId, event_id: EventId) -> bool:
    """Whether the user has an assigned ticket for the event (a "ticket holder")."""
    query = select(tickets.c.id).where(tickets.c.event_id == event_id, tickets.c.user_id == user_id)
    return (await conn.execute(query.limit(1))).first() is not None


async def holder_ids(conn: AsyncConnection, event_id: EventId) -> list[UserId]:
    """Every user with an assigned ticket for the event, each once."""
    query = (
        select(tickets.c.user_id)
        .where(tickets.c.event_id == event_id, tickets.c.user_id.is_not(None))
        .distinct()
        .order_by(tickets.c.user_id)
    )
    return [row.user_id for row in await conn.execute(query)]
