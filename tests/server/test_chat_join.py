"""Joining ``event:<id>`` with a ticket: every refusal reason, the holder's rejoin, the race
for one ticket number, and ``user:<id>``."""

from __future__ import annotations

import asyncio
import uuid

from server.limits import TICKET_NUMBER_MAX_LENGTH
from tests.server.chat_support import World, stepping_clock, world

__all__ = ["stepping_clock", "world"]


async def test_join_assigns_marks_used_and_admits(world: World) -> None:
    event = await world.event()
    fan = await world.api.sign_up()
    number = await world.ticket(event["id"])
    async with world.socket(fan) as client:
        reply = await client.join(f"event:{event['id']}", {"ticket_number": number})
        assert reply.status == "ok", reply.payload
        assert reply.response["room"]["id"] == event["chat_room"]["id"]
        assert reply.response["room"]["status"] == "inactive"
        assert reply.response["messages"] == []
        assert reply.response["more"] is False
        # Members see each other before the room opens.
        state = await client.assert_push(f"event:{event['id']}", "presence_state")
        assert list(state.payload) == [fan.id]
        assert state.payload[fan.id]["metas"][0]["username"] == fan.username
    [row] = await world.api.rows("SELECT * FROM tickets WHERE ticket_number = $1", number)
    assert row["user_id"] == fan.id
    assert row["used_at"] == world.clock.now()


async def test_a_holder_rejoins_without_a_number(world: World) -> None:
    event = await world.event()
    fan = await world.api.sign_up()
    number = await world.ticket(event["id"])
    async with world.socket(fan) as client:
        assert (await client.join(f"event:{event['id']}", {"ticket_number": number})).status == "ok"
    async with world.socket(fan) as client:
        assert (await client.join(f"event:{event['id']}", {})).status == "ok"
        # phoenix.js rejoins with the same params: the number again is fine too.
    async with world.socket(fan) as client:
        reply = await client.join(f"event:{event['id']}", {"ticket_number": number})
        assert reply.status == "ok"


async def test_refusal_reasons(world: World) -> None:
    event = await world.event()
    other_event = await world.event(name="other")
    fan = await world.api.sign_up()
    owner, waiting = await world.api.sign_up(), await world.api.sign_up()
    # A ticket assigned to someone else who has not joined yet, and one used by someone else.
    assigned = await world.api.create_ticket(event["id"])
    await world.api.assign(assigned["id"], waiting.id)
    used = await world.ticket(event["id"])
    async with world.socket(owner) as client:
        assert (await client.join(f"event:{event['id']}", {"ticket_number": used})).status == "ok"
    elsewhere = await world.ticket(other_event["id"])

    cases = [
        (f"event:{uuid.uuid4()}", {"ticket_number": used}, "event not found"),
        ("event:not-a-uuid", {}, "event not found"),
        ("event:", {}, "event not found"),
        (f"event:{event['id']}", {}, "ticket required"),
        (f"event:{event['id']}", {"ticket_number": ""}, "ticket required"),
        (f"event:{event['id']}", {"ticket_number": "no-such-ticket"}, "invalid ticket"),
        (f"event:{event['id']}", {"ticket_number": elsewhere}, "invalid ticket"),
        (f"event:{event['id']}", {"ticket_number": ["x"]}, "invalid ticket"),
        (f"event:{event['id']}", {"ticket_number": assigned["ticket_number"]}, "invalid ticket"),
        # Used by someone else: refused like any number the user does not hold, so that
        # refusals tell nothing about which numbers exist.
        (f"event:{event['id']}", {"ticket_number": used}, "invalid ticket"),
    ]
    async with world.socket(fan) as client:
        for topic, payload, reason in cases:
            reply = await client.join(topic, payload)
            assert (reply.status, reply.response) == ("error", {"reason": reason}), (topic, payload)
        # A refused join changed nothing: still no ticket of the event is the fan's.
        assert (await client.join(f"event:{event['id']}", {})).response == {
            "reason": "ticket required"
        }


async def test_ticket_numbers_have_one_length_limit(world: World) -> None:
    """A number longer than REST lets a ticket number be cannot exist: the join refuses it
    as an invalid ticket, before any query (the chat used to allow twice the length)."""
    event = await world.event()
    fan = await world.api.sign_up()
    too_long = "9" * (TICKET_NUMBER_MAX_LENGTH + 1)
    await world.api.post(
        "/api/tickets/create",
        {"ticket": {"ticket_number": too_long, "event_id": event["id"]}},
        service=True,
        expected=422,
    )
    async with world.socket(fan) as client:
        reply = await client.join(f"event:{event['id']}", {"ticket_number": too_long})
        assert (reply.status, reply.response) == ("error", {"reason": "invalid ticket"})


async def test_two_users_racing_for_one_ticket(world: World) -> None:
    event = await world.event()
    number = await world.ticket(event["id"])
    first, second = await world.api.sign_up(), await world.api.sign_up()
    async with world.socket(first) as a, world.socket(second) as b:
        topic = f"event:{event['id']}"
        replies = await asyncio.gather(
            a.join(topic, {"ticket_number": number}), b.join(topic, {"ticket_number": number})
        )
    statuses = sorted((r.status, str(r.response.get("reason"))) for r in replies)
    assert statuses == [("error", "invalid ticket"), ("ok", "None")]
    [row] = await world.api.rows("SELECT * FROM tickets WHERE ticket_number = $1", number)
    winner = first if replies[0].status == "ok" else second
    assert row["user_id"] == winner.id


async def test_only_the_user_joins_their_notifications(world: World) -> None:
    fan, other = await world.api.sign_up(), await world.api.sign_up()
    async with world.socket(fan) as client:
        assert (await client.join(f"user:{fan.id}")).status == "ok"
        for topic in (f"user:{other.id}", "user:nobody"):
            reply = await client.join(topic)
            assert (reply.status, reply.response) == ("error", {"reason": "unauthorized"})
