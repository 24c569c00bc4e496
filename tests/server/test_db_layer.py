"""The db functions the chat (issue 5) builds on, including under concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from server.config import Settings
from server.db import events as event_store
from server.db import messages as message_store
from server.db import notifications as notification_store
from server.db import rooms as room_store
from server.db import tickets as ticket_store
from server.db import tokens as token_store
from server.db import users as user_store
from server.db.engine import apply_schema, make_engine
from server.db.schema import revoked_tokens
from server.domain import (
    Conflict,
    Event,
    NewEvent,
    NewNotification,
    NotFound,
    RoomStatus,
    User,
)

NOW = datetime(2024, 12, 1, 12, 0, 0)


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(settings.database_url)
    await apply_schema(engine)
    yield engine
    await engine.dispose()


async def make_event(engine: AsyncEngine) -> Event:
    async with engine.begin() as conn:
        return await event_store.create_event(
            conn,
            NewEvent(
                name="concert",
                description="d",
                location="Antalya",
                start_time=NOW + timedelta(days=1),
                end_time=NOW + timedelta(days=1, hours=4),
            ),
            now=NOW,
        )


async def make_user(engine: AsyncEngine, name: str) -> User:
    async with engine.begin() as conn:
        return await user_store.create_user(
            conn, username=name, email=f"{name}@example.com", password_hash="x", now=NOW
        )


async def test_seq_grows_by_one_per_message_even_when_sent_at_once(engine: AsyncEngine) -> None:
    event = await make_event(engine)
    room_id = event.chat_room.id
    user = await make_user(engine, "ayla")
    async with engine.begin() as conn:
        assert await room_store.transition_room(conn, room_id, RoomStatus.ACTIVE, now=NOW)

    async def send(n: int) -> int:
        async with engine.begin() as conn:
            message, created = await message_store.insert_message(
                conn,
                chat_room_id=room_id,
                user_id=user.id,
                username=user.username,
                content=f"m{n}",
                now=NOW,
            )
        assert created
        return message.seq

    seqs = await asyncio.gather(*(send(n) for n in range(20)))
    assert sorted(seqs) == list(range(1, 21))
    async with engine.connect() as conn:
        assert (await room_store.get_room(conn, room_id)).last_seq == 20
        after = await message_store.list_messages(conn, room_id, after=15, limit=3)
        assert [m.seq for m in after] == [16, 17, 18]
        latest = await message_store.list_messages(conn, room_id, limit=2)
        assert [m.seq for m in latest] == [19, 20]


async def test_a_retried_client_id_is_stored_once(engine: AsyncEngine) -> None:
    event = await make_event(engine)
    user = await make_user(engine, "ayla")
    async with engine.begin() as conn:
        await room_store.transition_room(conn, event.chat_room.id, RoomStatus.ACTIVE, now=NOW)
        first, created = await message_store.insert_message(
            conn,
            chat_room_id=event.chat_room.id,
            user_id=user.id,
            username="ayla",
            content="hi",
            client_id="c-1",
            now=NOW,
        )
        again, created_again = await message_store.insert_message(
            conn,
            chat_room_id=event.chat_room.id,
            user_id=user.id,
            username="ayla",
            content="hi",
            client_id="c-1",
            now=NOW,
        )
    assert created and not created_again
    assert again == first


async def test_messages_only_while_the_room_is_active(engine: AsyncEngine) -> None:
    event = await make_event(engine)
    user = await make_user(engine, "ayla")
    with pytest.raises(Conflict):
        async with engine.begin() as conn:
            await message_store.insert_message(
                conn,
                chat_room_id=event.chat_room.id,
                user_id=user.id,
                username="ayla",
                content="too early",
                now=NOW,
            )
    with pytest.raises(NotFound):
        async with engine.begin() as conn:
            await room_store.next_message_seq(conn, "no such room")


async def test_each_room_step_happens_exactly_once(engine: AsyncEngine) -> None:
    event = await make_event(engine)
    room_id = event.chat_room.id

    async def activate() -> bool:
        async with engine.begin() as conn:
            return (
                await room_store.transition_room(conn, room_id, RoomStatus.ACTIVE, now=NOW)
                is not None
            )

    assert sorted(await asyncio.gather(*(activate() for _ in range(5)))) == [
        False,
        False,
        False,
        False,
        True,
    ]
    async with engine.begin() as conn:
        archived = await room_store.transition_room(conn, room_id, RoomStatus.ARCHIVED, now=NOW)
        assert archived is not None and archived.archived_at == NOW
        assert archived.activated_at == NOW
        assert await room_store.transition_room(conn, room_id, RoomStatus.ARCHIVED, now=NOW) is None
        # The event moved: the schedule starts over.
        replanned = await room_store.transition_room(conn, room_id, RoomStatus.INACTIVE, now=NOW)
        assert replanned is not None
        assert (replanned.activated_at, replanned.archived_at) == (None, None)
        waiting = await event_store.list_events_with_room_status(conn, [RoomStatus.INACTIVE])
        assert [e.id for e in waiting] == [event.id]


async def test_activation_notices_are_stored_once_per_holder(engine: AsyncEngine) -> None:
    event = await make_event(engine)
    holders = [await make_user(engine, name) for name in ("ayla", "bora")]
    await make_user(engine, "no_ticket")
    async with engine.begin() as conn:
        for number, holder in enumerate(holders):
            ticket = await ticket_store.create_ticket(
                conn, event_id=event.id, ticket_number=f"N{number}", now=NOW
            )
            await ticket_store.assign_ticket(conn, ticket_id=ticket.id, user_id=holder.id, now=NOW)

    async def notify() -> list[str]:
        async with engine.begin() as conn:
            stored = await notification_store.notify_event_holders(
                conn,
                event_id=event.id,
                kind="room_opened",
                message="The chat is open",
                dedupe_key=f"room_opened:{event.id}",
                now=NOW,
            )
        return [n.user_id for n in stored]

    results = await asyncio.gather(*(notify() for _ in range(4)))
    assert sorted(user for result in results for user in result) == sorted(h.id for h in holders)
    async with engine.connect() as conn:
        for holder in holders:
            assert len(await notification_store.list_notifications(conn, holder.id)) == 1


async def test_notifications_without_a_key_are_never_merged(engine: AsyncEngine) -> None:
    user = await make_user(engine, "ayla")
    new = NewNotification(user_id=user.id, event_id=None, kind="k", message="m")
    async with engine.begin() as conn:
        stored = await notification_store.insert_notifications(conn, [new, new], now=NOW)
    assert len(stored) == 2


async def test_claiming_a_ticket_to_join(engine: AsyncEngine) -> None:
    event = await make_event(engine)
    ayla, bora = await make_user(engine, "ayla"), await make_user(engine, "bora")
    async with engine.begin() as conn:
        await ticket_store.create_ticket(conn, event_id=event.id, ticket_number="A", now=NOW)
        claimed = await ticket_store.claim_ticket(
            conn, event_id=event.id, ticket_number="A", user_id=ayla.id, now=NOW
        )
        assert (claimed.user_id, claimed.used_at) == (ayla.id, NOW)
        # Rejoining with it later keeps the first use.
        again = await ticket_store.claim_ticket(
            conn,
            event_id=event.id,
            ticket_number="A",
            user_id=ayla.id,
            now=NOW + timedelta(hours=1),
        )
        assert again.used_at == NOW
        assert await ticket_store.holds_ticket(conn, user_id=ayla.id, event_id=event.id)
    with pytest.raises(Conflict, match="ticket already used"):
        async with engine.begin() as conn:
            await ticket_store.claim_ticket(
                conn, event_id=event.id, ticket_number="A", user_id=bora.id, now=NOW
            )
    with pytest.raises(NotFound):
        async with engine.begin() as conn:
            await ticket_store.claim_ticket(
                conn, event_id=event.id, ticket_number="nope", user_id=bora.id, now=NOW
            )


async def test_two_users_racing_to_claim_one_ticket(engine: AsyncEngine) -> None:
    event = await make_event(engine)
    racers = [await make_user(engine, f"racer{n}") for n in range(4)]
    async with engine.begin() as conn:
        await ticket_store.create_ticket(conn, event_id=event.id, ticket_number="ONE", now=NOW)

    async def claim(user: User) -> bool:
        try:
            async with engine.begin() as conn:
                await ticket_store.claim_ticket(
                    conn, event_id=event.id, ticket_number="ONE", user_id=user.id, now=NOW
                )
        except Conflict:
            return False
        return True

    assert sorted(await asyncio.gather(*(claim(u) for u in racers))) == [False, False, False, True]


async def test_revoked_tokens_are_purged_once_expired(engine: AsyncEngine) -> None:
    user = await make_user(engine, "ayla")
    async with engine.begin() as conn:
        await token_store.revoke_token(
            conn, jti="old", user_id=user.id, expires_at=NOW + timedelta(minutes=1), now=NOW
        )
        await token_store.revoke_token(
            conn, jti="old", user_id=user.id, expires_at=NOW + timedelta(minutes=1), now=NOW
        )
        assert not await token_store.token_is_current(
            conn, user_id=user.id, jti="old", token_version=0
        )
        await token_store.revoke_token(
            conn,
            jti="new",
            user_id=user.id,
            expires_at=NOW + timedelta(hours=2),
            now=NOW + timedelta(hours=1),
        )
        remaining = (await conn.execute(select(revoked_tokens.c.jti))).scalars().all()
        assert remaining == ["new"]
        count = (await conn.execute(select(func.count()).select_from(revoked_tokens))).scalar()
        assert count == 1
