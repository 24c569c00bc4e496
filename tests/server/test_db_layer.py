"""The db functions the chat builds on, on both databases, including under concurrency."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from server.db import chat as chat_store
from server.db import events as event_store
from server.db import messages as message_store
from server.db import moderation as moderation_store
from server.db import notifications as notification_store
from server.db import tickets as ticket_store
from server.db import tokens as token_store
from server.db import users as user_store
from server.db.database import Database
from server.db.sql import Sql
from server.domain import (
    AuthorRole,
    Conflict,
    Event,
    MessageDraft,
    NewEvent,
    NewNotification,
    NotFound,
    RoomStatus,
    StoredMessage,
    User,
)

NOW = datetime(2024, 12, 1, 12, 0, 0)


async def make_event(db: Database) -> Event:
    async with db.write() as conn:
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


async def make_user(db: Database, name: str) -> User:
    async with db.write() as conn:
        return await user_store.create_user(
            conn, username=name, email=f"{name}@example.com", password_hash="x", now=NOW
        )


async def set_status(db: Database, room_id: str, status: RoomStatus) -> None:
    async with db.write() as conn:
        await conn.execute(Sql("UPDATE chat_rooms SET status = $2 WHERE id = $1"), room_id, status)


async def store(db: Database, drafts: list[MessageDraft]) -> list[message_store.Outcome]:
    async with db.write() as conn:
        return await message_store.store_messages(conn, drafts, now=NOW)


def draft(room: str, user: User, content: str, client_id: str | None = None) -> MessageDraft:
    return MessageDraft(room, user.id, user.username, content, client_id=client_id)


def seqs(outcomes: list[message_store.Outcome]) -> list[int | str]:
    """Each outcome's seq (a stored message) or the name of its refusal."""
    return [o.message.seq if isinstance(o, StoredMessage) else type(o).__name__ for o in outcomes]


async def test_seq_grows_by_one_per_message_even_when_sent_at_once(db: Database) -> None:
    event = await make_event(db)
    room_id = event.chat_room.id
    user = await make_user(db, "ayla")
    await set_status(db, room_id, RoomStatus.ACTIVE)

    async def send(n: int) -> int:
        [outcome] = await store(db, [draft(room_id, user, f"m{n}")])
        assert isinstance(outcome, StoredMessage) and outcome.created
        return outcome.message.seq

    assert sorted(await asyncio.gather(*(send(n) for n in range(20)))) == list(range(1, 21))
    async with db.read() as conn:
        facts = await chat_store.join_facts(conn, event_id=event.id, user_id=user.id)
        assert facts is not None and facts.room.last_seq == 20
        after = await message_store.list_messages(conn, room_id, after=15, limit=3)
        assert [m.seq for m in after] == [16, 17, 18]
        latest = await message_store.list_messages(conn, room_id, limit=2)
        assert [m.seq for m in latest] == [19, 20]
        before = await message_store.list_messages(conn, room_id, before=3, limit=5)
        assert [m.seq for m in before] == [1, 2]


async def test_a_batch_mixes_rooms_and_numbers_each_room_in_order(db: Database) -> None:
    first, second = await make_event(db), await make_event(db)
    ayla, bora = await make_user(db, "ayla"), await make_user(db, "bora")
    a, b = first.chat_room.id, second.chat_room.id
    for room in (a, b):
        await set_status(db, room, RoomStatus.ACTIVE)
    await store(db, [draft(b, ayla, "earlier")])
    outcomes = await store(
        db,
        [
            draft(a, ayla, "a1"),
            draft(b, bora, "b2"),
            draft(a, bora, "a2"),
            draft(b, ayla, "b3"),
            draft(a, ayla, "a3"),
        ],
    )
    assert seqs(outcomes) == [1, 2, 2, 3, 3]
    stored = [o.message for o in outcomes if isinstance(o, StoredMessage)]
    assert [(m.chat_room_id, m.content, m.username) for m in stored] == [
        (a, "a1", "ayla"),
        (b, "b2", "bora"),
        (a, "a2", "bora"),
        (b, "b3", "ayla"),
        (a, "a3", "ayla"),
    ]
    async with db.read() as conn:
        assert [m.content for m in await message_store.list_messages(conn, a)] == [
            "a1",
            "a2",
            "a3",
        ]
        assert [m.seq for m in await message_store.list_messages(conn, b)] == [1, 2, 3]


async def test_a_retried_client_id_is_stored_once_within_and_across_batches(
    db: Database,
) -> None:
    event = await make_event(db)
    ayla, bora = await make_user(db, "ayla"), await make_user(db, "bora")
    room = event.chat_room.id
    await set_status(db, room, RoomStatus.ACTIVE)
    outcomes = await store(
        db,
        [
            draft(room, ayla, "hi", "c-1"),
            draft(room, ayla, "hi again", "c-1"),  # the same send, retried in the same batch
            draft(room, bora, "hello", "c-1"),  # another author may use the same id
            draft(room, ayla, "next", "c-2"),
        ],
    )
    assert seqs(outcomes) == [1, 1, 2, 3]
    created = [o.created for o in outcomes if isinstance(o, StoredMessage)]
    assert created == [True, False, True, True]
    [retry] = await store(db, [draft(room, ayla, "hi", "c-1")])
    assert isinstance(retry, StoredMessage) and not retry.created
    assert retry.message == outcomes[0].message  # type: ignore[union-attr]
    async with db.read() as conn:
        assert len(await message_store.list_messages(conn, room)) == 3


async def test_an_announcement_is_stored_once_per_client_id_and_marked(db: Database) -> None:
    event = await make_event(db)
    room = event.chat_room.id
    await set_status(db, room, RoomStatus.ACTIVE)
    ayla = await make_user(db, "ayla")

    def announcement(content: str, client_id: str | None) -> MessageDraft:
        return MessageDraft(
            room, None, "Staff", content, client_id=client_id, author_role=AuthorRole.ORGANISER
        )

    # A member's client_id and an announcement's are apart, even when they are equal.
    first = await store(
        db,
        [
            announcement("doors at 7", "a-1"),
            draft(room, ayla, "mine", client_id="a-1"),
            announcement("doors at 7", "a-1"),
            announcement("no key", None),
        ],
    )
    again = await store(db, [announcement("doors at 7", "a-1"), announcement("no key", None)])
    outcomes = [o for o in first + again if isinstance(o, StoredMessage)]
    assert [(o.message.seq, o.created) for o in outcomes] == [
        (1, True),
        (2, True),
        (1, False),
        (3, True),
        (1, False),
        (4, True),
    ]
    stored = outcomes[0].message
    assert (stored.user_id, stored.username, stored.author_role) == (
        None,
        "Staff",
        AuthorRole.ORGANISER,
    )
    async with db.read() as conn:
        listed = await message_store.list_messages(conn, room)
    assert [(m.seq, m.author_role.value) for m in listed] == [
        (1, "organiser"),
        (2, "member"),
        (3, "organiser"),
        (4, "organiser"),
    ]


async def test_a_room_that_closed_refuses_its_messages_and_the_rest_are_stored(
    db: Database,
) -> None:
    open_event, closed_event = await make_event(db), await make_event(db)
    ayla = await make_user(db, "ayla")
    live, closed = open_event.chat_room.id, closed_event.chat_room.id
    await set_status(db, live, RoomStatus.ACTIVE)
    await set_status(db, closed, RoomStatus.ARCHIVED)
    outcomes = await store(
        db,
        [
            draft(live, ayla, "one"),
            draft(closed, ayla, "too late"),
            draft("no-such-room", ayla, "lost"),
            draft(live, ayla, "two"),
        ],
    )
    assert seqs(outcomes) == [1, "Conflict", "NotFound", 2]
    assert isinstance(outcomes[1], Conflict)
    assert outcomes[1].detail == message_store.ROOM_NOT_ACTIVE
    async with db.read() as conn:
        assert await message_store.list_messages(conn, closed) == []
        assert (
            await conn.fetchval(Sql("SELECT last_seq FROM chat_rooms WHERE id = $1"), closed) == 0
        )


async def test_a_message_outlives_its_author(db: Database) -> None:
    event = await make_event(db)
    ayla = await make_user(db, "ayla")
    room = event.chat_room.id
    await set_status(db, room, RoomStatus.ACTIVE)
    async with db.write() as conn:
        await user_store.delete_user(conn, ayla.id)
    # A post already on its way when the account went: stored with the username only.
    [outcome] = await store(db, [draft(room, ayla, "last words")])
    assert isinstance(outcome, StoredMessage)
    async with db.read() as conn:
        [kept] = await message_store.list_messages(conn, room)
    assert (kept.user_id, kept.username, kept.content) == (None, "ayla", "last words")


async def test_each_room_step_happens_exactly_once(db: Database) -> None:
    event = await make_event(db)
    room_id = event.chat_room.id
    step = chat_store.RoomStep(
        room_id, event.id, event.name, RoomStatus.INACTIVE, RoomStatus.ACTIVE
    )

    async def take(step: chat_store.RoomStep, now: datetime = NOW) -> bool:
        async with db.write() as conn:
            return await chat_store.take_room_step(conn, step, now=now)

    assert sorted(await asyncio.gather(*(take(step) for _ in range(5)))) == [
        False,
        False,
        False,
        False,
        True,
    ]
    later = NOW + timedelta(hours=1)
    archive = chat_store.RoomStep(
        room_id, event.id, event.name, RoomStatus.ACTIVE, RoomStatus.ARCHIVED
    )
    assert await take(archive, later)
    assert not await take(archive, later)
    async with db.read() as conn:
        facts = await chat_store.join_facts(conn, event_id=event.id, user_id="nobody")
    assert facts is not None
    assert (facts.room.status, facts.room.activated_at, facts.room.archived_at) == (
        RoomStatus.ARCHIVED,
        NOW,
        later,
    )
    # The event moved: the schedule starts over.
    back = chat_store.RoomStep(
        room_id, event.id, event.name, RoomStatus.ARCHIVED, RoomStatus.INACTIVE
    )
    assert await take(back)
    async with db.read() as conn:
        facts = await chat_store.join_facts(conn, event_id=event.id, user_id="nobody")
    assert facts is not None
    assert (facts.room.activated_at, facts.room.archived_at) == (None, None)


async def test_the_schedule_sees_what_is_due_and_what_comes_next(db: Database) -> None:
    event = await make_event(db)
    lead = timedelta(hours=2)
    async with db.read() as conn:
        assert await chat_store.rooms_out_of_step(conn, now=NOW, lead=lead) == []
        assert await chat_store.next_step_time(conn, now=NOW, lead=lead) == (
            event.start_time - lead
        )
        due = await chat_store.rooms_out_of_step(conn, now=event.start_time - lead, lead=lead)
    assert [(s.room_id, s.current, s.target) for s in due] == [
        (event.chat_room.id, RoomStatus.INACTIVE, RoomStatus.ACTIVE)
    ]


async def test_activation_notices_are_stored_once_per_holder(db: Database) -> None:
    event = await make_event(db)
    holders = [await make_user(db, name) for name in ("ayla", "bora")]
    await make_user(db, "no_ticket")
    async with db.write() as conn:
        for number, holder in enumerate(holders):
            ticket = await ticket_store.create_ticket(
                conn, event_id=event.id, ticket_number=f"N{number}", now=NOW
            )
            await ticket_store.assign_ticket(conn, ticket_id=ticket.id, user_id=holder.id, now=NOW)

    async def notify() -> list[str]:
        async with db.write() as conn:
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
    async with db.read() as conn:
        for holder in holders:
            assert len(await notification_store.list_notifications(conn, holder.id)) == 1


async def test_notifications_without_a_key_are_never_merged(db: Database) -> None:
    user = await make_user(db, "ayla")
    new = NewNotification(user_id=user.id, event_id=None, kind="k", message="m")
    async with db.write() as conn:
        stored = await notification_store.insert_notifications(conn, [new, new], now=NOW)
    assert len(stored) == 2


async def test_claiming_a_ticket_to_join(db: Database) -> None:
    event = await make_event(db)
    ayla, bora = await make_user(db, "ayla"), await make_user(db, "bora")

    async def claim(user: User, number: str, now: datetime = NOW) -> bool:
        async with db.write() as conn:
            return await ticket_store.claim_ticket(
                conn, event_id=event.id, ticket_number=number, user_id=user.id, now=now
            )

    async with db.write() as conn:
        for number in ("A", "B"):
            await ticket_store.create_ticket(conn, event_id=event.id, ticket_number=number, now=NOW)
    assert await claim(ayla, "A")
    # Rejoining with it later keeps the first use.
    assert await claim(ayla, "A", NOW + timedelta(hours=1))
    # Used by someone else, unknown, or a second ticket for a user who already used one.
    assert not await claim(bora, "A")
    assert not await claim(bora, "nope")
    assert not await claim(ayla, "B")
    async with db.read() as conn:
        rows = await conn.fetch(
            Sql("SELECT ticket_number, user_id, used_at FROM tickets ORDER BY ticket_number")
        )
        assert [tuple(row) for row in rows] == [("A", ayla.id, NOW), ("B", None, None)]
        assert await ticket_store.holds_ticket(conn, user_id=ayla.id, event_id=event.id)
    assert await claim(bora, "B")  # the second ticket is someone else's to claim


async def test_an_assigned_ticket_is_claimed_by_a_join_without_a_number(db: Database) -> None:
    event = await make_event(db)
    ayla, bora = await make_user(db, "ayla"), await make_user(db, "bora")
    async with db.write() as conn:
        ticket = await ticket_store.create_ticket(
            conn, event_id=event.id, ticket_number="A", now=NOW
        )
        await ticket_store.assign_ticket(conn, ticket_id=ticket.id, user_id=ayla.id, now=NOW)
        assert not await ticket_store.claim_assigned_ticket(
            conn, event_id=event.id, user_id=bora.id, now=NOW
        )
        assert await ticket_store.claim_assigned_ticket(
            conn, event_id=event.id, user_id=ayla.id, now=NOW
        )
        assert not await ticket_store.claim_assigned_ticket(
            conn, event_id=event.id, user_id=ayla.id, now=NOW
        )
        facts = await chat_store.join_facts(conn, event_id=event.id, user_id=ayla.id)
    assert facts is not None and facts.holds_used_ticket and facts.username == "ayla"


async def test_a_holders_spare_ticket_is_claimed_by_a_friend(db: Database) -> None:
    event = await make_event(db)
    ayla, friend, stranger = [await make_user(db, name) for name in ("ayla", "deniz", "ece")]
    async with db.write() as conn:
        for n, number in enumerate(("A", "B")):
            ticket = await ticket_store.create_ticket(
                conn, event_id=event.id, ticket_number=number, now=NOW + timedelta(seconds=n)
            )
            await ticket_store.assign_ticket(conn, ticket_id=ticket.id, user_id=ayla.id, now=NOW)

    async def claim(user: User, number: str) -> bool:
        async with db.autocommit() as conn:
            return await ticket_store.claim_ticket(
                conn, event_id=event.id, ticket_number=number, user_id=user.id, now=NOW
            )

    # Before ayla is in, her tickets are hers alone.
    assert not await claim(friend, "B")
    async with db.autocommit() as conn:
        assert await ticket_store.claim_assigned_ticket(
            conn, event_id=event.id, user_id=ayla.id, now=NOW
        )
    # Ayla is in with A (the oldest); she cannot burn B, and a friend can claim it, once.
    assert not await claim(ayla, "B")
    assert await claim(friend, "B")
    assert not await claim(stranger, "B")
    async with db.read() as conn:
        rows = await conn.fetch(
            Sql("SELECT ticket_number, user_id, used_at FROM tickets ORDER BY ticket_number")
        )
    assert [tuple(row) for row in rows] == [("A", ayla.id, NOW), ("B", friend.id, NOW)]


async def test_two_users_racing_to_claim_one_ticket(db: Database) -> None:
    event = await make_event(db)
    racers = [await make_user(db, f"racer{n}") for n in range(4)]
    async with db.write() as conn:
        await ticket_store.create_ticket(conn, event_id=event.id, ticket_number="ONE", now=NOW)

    async def claim(user: User) -> bool:
        async with db.write() as conn:
            return await ticket_store.claim_ticket(
                conn, event_id=event.id, ticket_number="ONE", user_id=user.id, now=NOW
            )

    assert sorted(await asyncio.gather(*(claim(u) for u in racers))) == [False, False, False, True]


async def test_revoked_tokens_are_purged_once_expired(db: Database) -> None:
    user = await make_user(db, "ayla")
    async with db.write() as conn:
        for _ in range(2):  # revoking twice is fine
            await token_store.revoke_token(
                conn, jti="old", user_id=user.id, expires_at=NOW + timedelta(minutes=1), now=NOW
            )
        assert not await token_store.token_is_current(
            conn, user_id=user.id, jti="old", token_version=0
        )
        assert await token_store.token_is_current(
            conn, user_id=user.id, jti="other", token_version=0
        )
        await token_store.revoke_token(
            conn,
            jti="new",
            user_id=user.id,
            expires_at=NOW + timedelta(hours=2),
            now=NOW + timedelta(hours=1),
        )
        remaining = await conn.fetch(Sql("SELECT jti FROM revoked_tokens"))
    assert [row["jti"] for row in remaining] == ["new"]


async def test_a_failed_transaction_changes_nothing_and_releases_the_writer(db: Database) -> None:
    event = await make_event(db)
    with pytest.raises(NotFound):
        async with db.write() as conn:
            await conn.execute(Sql("DELETE FROM events WHERE id = $1"), event.id)
            raise NotFound("something")
    async with db.read() as conn:
        assert await event_store.get_event(conn, event.id) == event
    # A write cancelled while it waits for the writer leaves nothing held either.
    async with db.write():
        waiting = asyncio.ensure_future(make_user(db, "late"))
        await asyncio.sleep(0)
        waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await make_user(db, "next")


async def test_the_same_moderation_action_twice_at_once_changes_once(db: Database) -> None:
    event = await make_event(db)
    ayla = await make_user(db, "ayla")
    async with db.write() as conn:
        ticket = await ticket_store.create_ticket(
            conn, event_id=event.id, ticket_number="A", now=NOW
        )
        await ticket_store.assign_ticket(conn, ticket_id=ticket.id, user_id=ayla.id, now=NOW)

    async def mute() -> bool:
        async with db.write() as conn:
            outcome = await moderation_store.mute(
                conn,
                event_id=event.id,
                user_id=ayla.id,
                until=NOW + timedelta(minutes=5),
                reason=None,
                actor="staff",
                now=NOW,
            )
        return outcome.changed

    assert sorted(await asyncio.gather(mute(), mute(), mute())) == [False, False, True]
    async with db.read() as conn:
        log = await moderation_store.moderation_log(conn, event.chat_room.id, before=None, limit=9)
        state = await moderation_store.event_moderation(conn, event.id)
    assert [entry.action for entry in log] == ["mute"]
    assert state.version == 1
    assert [(r.user_id, r.ends_at) for r in state.mutes(NOW)] == [
        (ayla.id, NOW + timedelta(minutes=5))
    ]


async def test_a_statement_the_driver_refuses_leaves_no_lock_behind(db: Database) -> None:
    """A parameter the driver cannot encode fails the read after the statement was prepared;
    the connection must not go back to the pool still holding that statement's locks, or
    the next schema change of the table would wait for ever."""
    # Past the column's integer type: PostgreSQL's int4, SQLite's 64 bits.
    too_big = 2**40 if db.dialect == "postgresql" else 2**70
    with pytest.raises(Exception):  # noqa: B017 - whichever the driver raises
        async with db.read() as conn:
            await conn.fetch(Sql("SELECT id FROM messages WHERE seq < $1"), too_big)
    async with asyncio.timeout(10):
        async with db.write() as conn:
            await conn.execute(Sql("ALTER TABLE messages ADD COLUMN probe INTEGER"))
