"""Joins that arrive together share their queries, and each gets the reply it would get alone:
first joins, returning joins and catch-up, wrong numbers, two users racing for one ticket, a
removed member, hidden messages, the guessing guard, and a batch whose query fails."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Any

from phxpy.testing import ChannelClient
from server.db.sql import POSTGRESQL
from tests.server.api_client import Session
from tests.server.chat_support import OPENS, World, stepping_clock, world
from tests.server.db_faults import refusing_trigger

__all__ = ["stepping_clock", "world"]

STANDING = ("messages", "more", "room", "hidden_seqs", "muted_until")
"""What a join reply says about the room (the rest, ``online`` and ``presence``, is about who
is in at that moment)."""


async def joined_before(world: World, event_id: str, user: Session) -> None:
    async with world.socket(user) as client:
        number = await world.ticket(event_id)
        reply = await client.join(f"event:{event_id}", {"ticket_number": number})
        assert reply.status == "ok", reply.payload


async def moderate(world: World, event_id: str, action: str, body: dict[str, Any]) -> None:
    await world.api.post(
        f"/api/events/{event_id}/moderation/{action}", body, service=True, expected=200
    )


async def test_joins_arriving_together_each_get_what_they_would_get_alone(world: World) -> None:
    events = [await world.event(name=f"room {n}") for n in range(3)]
    await world.move_to(OPENS)
    joins: list[tuple[str, Session, str, dict[str, Any]]] = []
    racers: dict[str, list[int]] = {}
    for event in events:
        event_id, topic = event["id"], f"event:{event['id']}"
        regular, removed = await world.api.sign_up(), await world.api.sign_up()
        for user in (regular, removed):
            await joined_before(world, event_id, user)
        await moderate(world, event_id, "remove", {"user_id": removed.id})
        stored = await world.api.post_messages(
            event["chat_room"]["id"], regular, ["one", "two", "three", "four"], world.clock.now()
        )
        await moderate(world, event_id, "hide", {"message_id": stored[1].message.id})
        race = await world.ticket(event_id)
        racers[event_id] = []
        for _ in range(2):
            racers[event_id].append(len(joins))
            joins.append(("racer", await world.api.sign_up(), topic, {"ticket_number": race}))
        joins += [
            ("returning", regular, topic, {}),
            ("catching up", regular, topic, {"after_seq": 2}),
            ("removed", removed, topic, {}),
            ("assigned", await world.api.holder(event_id), topic, {}),
            ("wrong number", await world.api.sign_up(), topic, {"ticket_number": "nope"}),
            ("no ticket", await world.api.sign_up(), topic, {}),
        ]
        for _ in range(2):
            number = await world.ticket(event_id)
            joins.append(("first", await world.api.sign_up(), topic, {"ticket_number": number}))

    joins_context = world.chat.context.joins
    facts_batches = joins_context.facts_batcher.batches
    async with AsyncExitStack() as stack:
        clients: list[ChannelClient] = [
            await stack.enter_async_context(world.socket(user)) for _, user, _, _ in joins
        ]
        replies = await asyncio.gather(
            *(
                client.join(topic, payload)
                for client, (_, _, topic, payload) in zip(clients, joins, strict=True)
            )
        )
    # Answered together: one query for the facts of all of them (or a few, as they came).
    assert joins_context.facts_batcher.batches - facts_batches < len(joins) // 4

    hidden = {"seq": 2, "content": "", "hidden": True}
    for (kind, _, _, _), reply in zip(joins, replies, strict=True):
        outcome = (reply.status, reply.response)
        if kind == "removed":
            assert outcome == ("error", {"reason": "removed"})
        elif kind == "wrong number":
            assert outcome == ("error", {"reason": "invalid ticket"})
        elif kind == "no ticket":
            assert outcome == ("error", {"reason": "ticket required"})
        elif kind == "racer":
            continue
        else:
            assert reply.status == "ok", (kind, reply.response)
            messages = reply.response["messages"]
            seqs = [m["seq"] for m in messages]
            assert seqs == ([3, 4] if kind == "catching up" else [1, 2, 3, 4]), kind
            if kind != "catching up":
                assert {k: messages[1][k] for k in hidden} == hidden
                assert messages[2]["content"] == "three"
            assert reply.response["more"] is False
            assert reply.response["room"]["last_seq"] == 4
            assert reply.response["hidden_seqs"] == [2]
    for pair in racers.values():
        outcomes = sorted((replies[i].status, str(replies[i].response)) for i in pair)
        assert outcomes == [("error", "{'reason': 'invalid ticket'}"), ("ok", outcomes[1][1])]
        winner = next(joins[i][1] for i in pair if replies[i].status == "ok")
        number = joins[pair[0]][3]["ticket_number"]
        [row] = await world.api.rows("SELECT user_id FROM tickets WHERE ticket_number = $1", number)
        assert row["user_id"] == winner.id

    # A join on its own now gets the same reply about the room as those of the batch.
    first = next(i for i, join in enumerate(joins) if join[0] == "first")
    topic = joins[first][2]
    late = await world.api.sign_up()
    async with world.socket(late) as client:
        alone = await client.join(topic, {"ticket_number": await world.ticket(topic[6:])})
    assert {k: alone.response[k] for k in STANDING} == {
        k: replies[first].response[k] for k in STANDING
    }


async def test_the_guessing_guard_counts_each_wrong_number_of_a_burst(world: World) -> None:
    event = await world.event()
    guesser = await world.api.sign_up()
    topic = f"event:{event['id']}"
    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(world.socket(guesser)) for _ in range(6)]
        replies = await asyncio.gather(
            *(c.join(topic, {"ticket_number": f"guess-{n}"}) for n, c in enumerate(clients))
        )
        assert {(r.status, r.response["reason"]) for r in replies} == {("error", "invalid ticket")}
        # Six failures, as six joins one after the other would have made: past the five free
        # ones, the next waits twice the first wait.
        reply = await clients[0].join(topic, {"ticket_number": "guess-7"})
    assert (reply.status, reply.response) == (
        "error",
        {"reason": "too many attempts", "retry_after": 4},
    )


async def test_a_failed_batch_answers_each_join_as_it_would_be_answered_alone(
    world: World,
) -> None:
    event = await world.event()
    topic = f"event:{event['id']}"
    await joined_before(world, event["id"], await world.api.sign_up())  # the room's rules load
    # A real failure inside the database: a trigger that aborts the claim of one ticket, and
    # with it the statement (or transaction) that claims the whole batch's tickets.
    await world.api.execute(
        refusing_trigger(
            postgres=world.api.db.dialect == POSTGRESQL,
            operation="UPDATE",
            table="tickets",
            column="ticket_number",
            value="BOOM",
        )
    )
    numbers = [await world.ticket(event["id"]), await world.ticket(event["id"], "BOOM")]
    numbers.append(await world.ticket(event["id"]))
    users = [await world.api.sign_up() for _ in numbers]
    claims = world.chat.context.joins.claims_batcher
    batches = claims.batches
    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(world.socket(user)) for user in users]
        replies = await asyncio.gather(
            *(c.join(topic, {"ticket_number": n}) for c, n in zip(clients, numbers, strict=True))
        )
        assert claims.batches == batches + 1  # one batch, which failed
        outcomes = [(r.status, r.response.get("reason")) for r in replies]
        assert outcomes == [("ok", None), ("error", "join crashed"), ("ok", None)]
        # The others are in: they hear the room.
        await clients[0].assert_push(topic, "presence_state")
    rows = await world.api.rows("SELECT ticket_number, user_id FROM tickets")
    holders = {row["ticket_number"]: row["user_id"] for row in rows}
    assert [holders[n] for n in numbers] == [users[0].id, None, users[2].id]
    # The batcher goes on: the next join claims its ticket.
    late = await world.api.sign_up()
    async with world.socket(late) as client:
        reply = await client.join(topic, {"ticket_number": await world.ticket(event["id"])})
    assert reply.status == "ok"


async def test_a_rooms_messages_kept_between_joins_are_never_stale(world: World) -> None:
    event = await world.event()
    await world.move_to(OPENS)
    topic = f"event:{event['id']}"
    reader, author = await world.api.sign_up(), await world.api.sign_up()
    await joined_before(world, event["id"], reader)
    await joined_before(world, event["id"], author)
    stored = await world.api.post_messages(
        event["chat_room"]["id"], author, ["one", "two"], world.clock.now()
    )

    async def messages() -> list[tuple[int, str | None, str, bool]]:
        async with world.socket(reader) as client:
            reply = await client.join(topic, {})
        assert reply.status == "ok", reply.response
        return [
            (m["seq"], m["user_id"], m["content"], m["hidden"]) for m in reply.response["messages"]
        ]

    queries = world.chat.context.joins
    assert await messages() == [(1, author.id, "one", False), (2, author.id, "two", False)]
    read = queries.pages_read
    assert await messages() == [(1, author.id, "one", False), (2, author.id, "two", False)]
    assert queries.pages_read == read  # kept: the room had not changed
    await moderate(world, event["id"], "hide", {"message_id": stored[0].message.id})
    assert await messages() == [(1, author.id, "", True), (2, author.id, "two", False)]
    await world.api.delete(
        f"/api/users/delete_user/{author.id}",
        json_body={"current_password": author.password},
        token=author.token,
        expected=204,
    )
    assert await messages() == [(1, None, "", True), (2, None, "two", False)]
