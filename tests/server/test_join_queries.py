"""The joins' database work, batched, on both databases: each join's facts, ticket claim and
messages come out of one query per batch exactly as they would alone."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from server.chat.joins import JoinMessages, JoinQueries
from server.clock import ManualClock
from server.db import chat as chat_store
from server.db import messages as message_store
from server.db import moderation as moderation_store
from server.db import tickets as ticket_store
from server.db import users as user_store
from server.db.database import Database
from server.db.messages import Page
from server.db.sql import Sql
from server.db.tickets import Claim
from server.domain import Event, MessageDraft, StoredMessage, User
from tests.server.db_faults import refuse_in_database
from tests.server.test_db_layer import NOW, make_event, make_user


@pytest.fixture
async def queries(db: Database) -> AsyncIterator[JoinQueries]:
    queries = JoinQueries(db, ManualClock(NOW))
    yield queries
    await queries.stop()


async def tickets(db: Database, event: Event, *numbers: str, holder: User | None = None) -> None:
    async with db.write() as conn:
        for n, number in enumerate(numbers):
            ticket = await ticket_store.create_ticket(
                conn, event_id=event.id, ticket_number=number, now=NOW + timedelta(seconds=n)
            )
            if holder is not None:
                await ticket_store.assign_ticket(
                    conn, ticket_id=ticket.id, user_id=holder.id, now=NOW
                )


async def claimed(db: Database) -> list[tuple[str, str | None, bool]]:
    """Every ticket: its number, its holder, whether it is used."""
    async with db.read() as conn:
        rows = await conn.fetch(
            Sql("SELECT ticket_number, user_id, used_at FROM tickets ORDER BY ticket_number")
        )
    return [(row["ticket_number"], row["user_id"], row["used_at"] is not None) for row in rows]


async def test_the_facts_of_many_joins_come_from_one_query(
    db: Database, queries: JoinQueries
) -> None:
    event, other = await make_event(db), await make_event(db)
    ayla, bora, gone = [await make_user(db, name) for name in ("ayla", "bora", "gone")]
    await tickets(db, event, "A")
    async with db.write() as conn:
        assert await ticket_store.claim_ticket(
            conn, event_id=event.id, ticket_number="A", user_id=ayla.id, now=NOW
        )
        await user_store.delete_user(conn, gone.id)
    unknown = "7b0e0f5e-0000-4000-8000-000000000000"
    pairs = [(event.id, ayla.id), (event.id, bora.id), (unknown, ayla.id), (other.id, ayla.id)]
    pairs.append((event.id, gone.id))
    facts = await asyncio.gather(*(queries.facts(e, u) for e, u in pairs))
    assert queries.facts_batcher.batches == 1
    summary = [
        None if f is None else (f.room.event_id, f.username, f.holds_used_ticket) for f in facts
    ]
    assert summary == [
        (event.id, "ayla", True),
        (event.id, "bora", False),
        None,
        (other.id, "ayla", False),
        (event.id, None, False),
    ]
    async with db.read() as conn:
        alone = [await chat_store.join_facts(conn, event_id=e, user_id=u) for e, u in pairs]
    assert facts == alone


async def test_the_claims_of_one_batch_are_each_decided_as_alone(
    db: Database, queries: JoinQueries
) -> None:
    event = await make_event(db)
    names = ("ayla", "bora", "cem", "deniz", "ece", "vera", "nobody")
    ayla, bora, cem, deniz, ece, vera, nobody = [await make_user(db, name) for name in names]
    await tickets(db, event, "A", "B", "D", "E")
    await tickets(db, event, "V1", "V2", holder=vera)
    async with db.write() as conn:  # ece is in already, with E
        assert await ticket_store.claim_ticket(
            conn, event_id=event.id, ticket_number="E", user_id=ece.id, now=NOW
        )
    asked = [
        Claim(event.id, ayla.id, "A"),
        Claim(event.id, bora.id, "A"),  # the same ticket at the same moment: one wins
        Claim(event.id, vera.id, None),  # her assigned ticket, the oldest
        Claim(event.id, nobody.id, None),  # none assigned
        Claim(event.id, cem.id, "no such number"),
        Claim(event.id, deniz.id, "B"),
        Claim(event.id, deniz.id, "B"),  # a second tab: the same claim again
        Claim(event.id, ece.id, "D"),  # a second ticket for someone who is in
    ]
    results = await asyncio.gather(*(queries.claim(claim) for claim in asked))
    assert results == [True, False, True, False, False, True, True, False]
    # The second claims of "A" and of deniz's "B" waited for the first ones to be decided.
    assert queries.claims_batcher.batches == 2
    assert await claimed(db) == [
        ("A", ayla.id, True),
        ("B", deniz.id, True),
        ("D", None, False),
        ("E", ece.id, True),
        ("V1", vera.id, True),
        ("V2", vera.id, False),
    ]
    # One call never holds two claims of one ticket or one user.
    async with db.autocommit() as conn:
        with pytest.raises(ValueError):
            await ticket_store.claim_tickets(conn, asked[:2], now=NOW)


async def test_a_batch_whose_claim_fails_answers_each_claim_alone(
    db: Database, queries: JoinQueries
) -> None:
    event = await make_event(db)
    ayla, bora, cem = [await make_user(db, name) for name in ("ayla", "bora", "cem")]
    await tickets(db, event, "A", "BOOM", "C", "D")
    # A real failure inside the database: a trigger that aborts the claim of one ticket, and
    # with it the statement (or transaction) of its whole batch.
    await refuse_in_database(
        db, operation="UPDATE", table="tickets", column="ticket_number", value="BOOM"
    )
    results = await asyncio.gather(
        queries.claim(Claim(event.id, ayla.id, "A")),
        queries.claim(Claim(event.id, bora.id, "BOOM")),
        queries.claim(Claim(event.id, cem.id, "C")),
        return_exceptions=True,
    )
    assert queries.claims_batcher.batches == 1
    assert results[0] is True and results[2] is True
    assert isinstance(results[1], Exception) and "boom" in str(results[1])
    # Alone, each got what it would have got alone; the batcher goes on.
    assert await queries.claim(Claim(event.id, bora.id, "D"))
    assert await claimed(db) == [
        ("A", ayla.id, True),
        ("BOOM", None, False),
        ("C", cem.id, True),
        ("D", bora.id, True),
    ]


async def test_the_messages_of_many_joins_come_from_one_query(
    db: Database, queries: JoinQueries
) -> None:
    event, other, empty = await make_event(db), await make_event(db), await make_event(db)
    author = await make_user(db, "ayla")
    rooms = [event.chat_room.id, other.chat_room.id]
    async with db.write() as conn:
        await conn.execute(Sql("UPDATE chat_rooms SET status = 'active'"))
        drafts = [MessageDraft(rooms[0], author.id, "ayla", f"a{n}") for n in range(1, 6)]
        drafts += [MessageDraft(rooms[1], author.id, "ayla", f"b{n}") for n in range(1, 4)]
        stored = await message_store.store_messages(conn, drafts, now=NOW)
        second = stored[1]
        assert isinstance(second, StoredMessage)
        await moderation_store.hide_message(
            conn,
            event_id=event.id,
            message_id=second.message.id,
            reason=None,
            actor="organiser",
            now=NOW,
        )
    pages = [
        Page(rooms[0], None, 3),  # the latest three
        Page(rooms[0], 1, 200),  # a rejoin after seq 1
        Page(rooms[1], None, 50),
        Page(empty.chat_room.id, None, 50),
        Page(rooms[0], None, 3),  # another join asking the same
    ]
    found = await asyncio.gather(*(queries.messages(page) for page in pages))
    assert queries.messages_batcher.batches == 1
    assert [[decode(m) for m in f.encoded] for f in found] == [
        [(3, "a3", False), (4, "a4", False), (5, "a5", False)],
        [(2, "", True), (3, "a3", False), (4, "a4", False), (5, "a5", False)],
        [(1, "b1", False), (2, "b2", False), (3, "b3", False)],
        [],
        [(3, "a3", False), (4, "a4", False), (5, "a5", False)],
    ]
    # One read and one encoding for both joins of the same page.
    assert found[0] is found[4]
    assert queries.pages_read == 4
    assert [(f.oldest_seq, f.cut) for f in found] == [
        (3, False),
        (2, False),
        (1, False),
        (None, False),
        (3, False),
    ]
    async with db.read() as conn:
        for page, batched in zip(pages, found, strict=True):
            alone = await message_store.list_messages(
                conn, page.room_id, after=page.after, limit=page.limit
            )
            assert batched == JoinMessages.of(alone)


def decode(encoded: bytes) -> tuple[int, str, bool]:
    message = json.loads(encoded)
    return message["seq"], message["content"], message["hidden"]


async def test_a_rooms_latest_messages_are_kept_while_they_read_the_same(
    db: Database,
) -> None:
    event, other = await make_event(db), await make_event(db)
    ayla, bora = await make_user(db, "ayla"), await make_user(db, "bora")
    room = event.chat_room.id
    async with db.write() as conn:
        await conn.execute(Sql("UPDATE chat_rooms SET status = 'active'"))
    # Room for one page of three short messages, not two.
    queries = JoinQueries(db, ManualClock(NOW), cached_page_bytes=1500)

    async def post(author: User, content: str, room_id: str = room) -> StoredMessage:
        async with db.write() as conn:
            [stored] = await message_store.store_messages(
                conn, [MessageDraft(room_id, author.id, author.username, content)], now=NOW
            )
        assert isinstance(stored, StoredMessage)
        return stored

    async def latest(room_id: str = room) -> list[tuple[int, str | None, str, bool]]:
        page = await queries.messages(Page(room_id, None, 50))
        return [
            (m["seq"], m["user_id"], m["content"], m["hidden"])
            for m in map(json.loads, page.encoded)
        ]

    first = await post(ayla, "hello")
    await post(bora, "hi")
    before = [(1, ayla.id, "hello", False), (2, bora.id, "hi", False)]
    assert await latest() == before
    assert await latest() == before
    assert queries.pages_read == 1  # the second join found the page as it was
    # A new message, a hidden one, a deleted author: each is read afresh.
    await post(ayla, "news")
    assert await latest() == [*before, (3, ayla.id, "news", False)]
    async with db.write() as conn:
        await moderation_store.hide_message(
            conn, event_id=event.id, message_id=first.message.id, reason=None, actor="o", now=NOW
        )
    assert await latest() == [
        (1, ayla.id, "", True),
        (2, bora.id, "hi", False),
        (3, ayla.id, "news", False),
    ]
    async with db.write() as conn:
        await user_store.delete_user(conn, bora.id)
    assert await latest() == [
        (1, ayla.id, "", True),
        (2, None, "hi", False),
        (3, ayla.id, "news", False),
    ]
    assert queries.pages_read == 4
    await latest()
    assert queries.pages_read == 4
    # One room kept at most here: another room's page pushes this one out.
    for content in ("a", "b", "c"):
        await post(ayla, content, other.chat_room.id)
    assert [seq for seq, *_ in await latest(other.chat_room.id)] == [1, 2, 3]
    await latest()
    assert queries.pages_read == 6
