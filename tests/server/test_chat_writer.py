"""Group commit: what is waiting is stored in one transaction, then delivered in order."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from server.chat.writer import STORE_FAILED, MessageWriter, Outcome
from server.clock import ManualClock
from server.db import events as event_store
from server.db import users as user_store
from server.db.database import Database
from server.db.sql import Sql
from server.domain import Conflict, MessageDraft, NewEvent, StoredMessage
from tests.server.db_faults import refuse_in_database

NOW = datetime(2024, 12, 1, 12, 0, 0)


async def open_room(db: Database, name: str, status: str = "active") -> str:
    async with db.write() as conn:
        event = await event_store.create_event(
            conn,
            NewEvent(name, "d", "here", NOW + timedelta(days=1), NOW + timedelta(days=2)),
            now=NOW,
        )
        await conn.execute(
            Sql("UPDATE chat_rooms SET status = $2 WHERE id = $1"), event.chat_room.id, status
        )
    return event.chat_room.id


async def author(db: Database) -> str:
    async with db.write() as conn:
        user = await user_store.create_user(
            conn, username="ayla", email="a@example.com", password_hash="x", now=NOW
        )
    return user.id


class Deliveries:
    """Records what the writer delivers, in order."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Outcome]] = []
        self.done = asyncio.Event()
        self.expected = 0

    def to(self, label: str) -> object:
        async def deliver(outcome: Outcome) -> None:
            self.seen.append((label, outcome))
            if len(self.seen) == self.expected:
                self.done.set()

        return deliver

    async def wait(self, expected: int) -> list[tuple[str, Outcome]]:
        self.expected = expected
        self.done.clear()
        if len(self.seen) < expected:
            await asyncio.wait_for(self.done.wait(), 10)
        return self.seen


async def test_what_waits_together_is_stored_together_and_delivered_in_order(
    db: Database,
) -> None:
    a, b = await open_room(db, "a"), await open_room(db, "b")
    closed = await open_room(db, "closed", "archived")
    user = await author(db)
    writer = MessageWriter(db, ManualClock(NOW))
    writer.start()
    deliveries = Deliveries()
    try:
        posts = [
            ("a1", a, "c1"),
            ("b1", b, "c1"),
            ("late", closed, None),
            ("a2", a, "c2"),
            ("a1 again", a, "c1"),  # a retry of a1 while a1 is still being stored
            ("b2", b, None),
        ]
        for label, room, client_id in posts:
            draft = MessageDraft(room, user, "ayla", label, client_id=client_id)
            await writer.submit(draft, deliveries.to(label))  # type: ignore[arg-type]
        seen = await deliveries.wait(len(posts))
    finally:
        await writer.stop()
    assert writer.batches == 1  # all of them were waiting when the writer woke up
    assert [label for label, _ in seen] == [label for label, _, _ in posts]
    summary = [
        (o.message.seq, o.created) if isinstance(o, StoredMessage) else type(o).__name__
        for _, o in seen
    ]
    assert summary == [(1, True), (1, True), "Conflict", (2, True), (1, False), (2, True)]
    assert isinstance(seen[2][1], Conflict)


async def test_a_failed_commit_fails_its_whole_batch_and_the_writer_goes_on(
    db: Database,
) -> None:
    room = await open_room(db, "a")
    user = await author(db)
    # A real failure inside the database: a trigger that aborts the insert of one message,
    # and with it the transaction of its batch.
    await refuse_in_database(
        db, operation="INSERT", table="messages", column="content", value="boom"
    )
    writer = MessageWriter(db, ManualClock(NOW))
    writer.start()
    deliveries = Deliveries()
    try:
        for label in ("fine", "boom", "also fine"):
            draft = MessageDraft(room, user, "ayla", label)
            await writer.submit(draft, deliveries.to(label))  # type: ignore[arg-type]
        failed = await deliveries.wait(3)
        assert [outcome for _, outcome in failed] == [STORE_FAILED] * 3
        # Nothing of the batch was stored, and the next message is stored as usual.
        await writer.submit(MessageDraft(room, user, "ayla", "after"), deliveries.to("after"))  # type: ignore[arg-type]
        [*_, (_, after)] = await deliveries.wait(4)
    finally:
        await writer.stop()
    assert isinstance(after, StoredMessage) and after.message.seq == 1
    async with db.read() as conn:
        contents = await conn.fetch(Sql("SELECT content FROM messages ORDER BY seq"))
    assert [row["content"] for row in contents] == ["after"]


async def test_stopping_stores_and_delivers_everything_already_submitted(db: Database) -> None:
    room = await open_room(db, "a")
    user = await author(db)
    writer = MessageWriter(db, ManualClock(NOW), max_batch=2)
    writer.start()
    deliveries = Deliveries()
    for n in range(5):
        draft = MessageDraft(room, user, "ayla", f"m{n}")
        await writer.submit(draft, deliveries.to(f"m{n}"))  # type: ignore[arg-type]
    await writer.stop()
    assert len(deliveries.seen) == 5
    assert writer.batches == 3
    assert all(isinstance(o, StoredMessage) for _, o in deliveries.seen)
