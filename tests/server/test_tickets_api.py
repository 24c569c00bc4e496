"""Tickets: created and assigned by the reservation system."""

from __future__ import annotations

from typing import Any

import pytest

from tests.server.api_client import Api, snapshot

UNKNOWN = "44d2557e-ec2b-4dc5-a0cc-f8b5cb83bc6f"


@pytest.mark.parametrize("wrapper", ["ticket", "ticket_params"])
async def test_create_ticket(api: Api, wrapper: str) -> None:
    event = await api.create_event()
    body = await api.post(
        "/api/tickets/create",
        {wrapper: {"ticket_number": "123456789", "event_id": event["id"]}},
        service=True,
        expected=201,
    )
    ticket = body["data"]
    assert ticket == {
        "id": ticket["id"],
        "ticket_number": "123456789",
        "event_id": event["id"],
        "user_id": None,
        "used_at": None,
        "user": None,
    }


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({"ticket_number": ""}, {"ticket_number": ["can't be blank"]}),
        ({"ticket_number": 123456789}, {"ticket_number": ["is invalid"]}),
        ({"ticket_number": "1\x002"}, {"ticket_number": ["is invalid"]}),
        ({"event_id": None}, {"event_id": ["can't be blank"]}),
        ({"event_id": "not-a-uuid"}, {"event_id": ["is invalid"]}),
        ({"event_id": UNKNOWN}, {"event_id": ["does not exist"]}),
        ({"ticket_number": "DUP"}, {"ticket_number": ["has already been taken"]}),
        (
            {"ticket_number": "DUP", "event_id": UNKNOWN},
            {"event_id": ["does not exist"], "ticket_number": ["has already been taken"]},
        ),
    ],
)
async def test_create_ticket_refusals(
    api: Api, fields: dict[str, Any], errors: dict[str, list[str]]
) -> None:
    event = await api.create_event()
    await api.create_ticket(event["id"], "DUP")
    before = await snapshot(api)
    body = await api.post(
        "/api/tickets/create",
        {"ticket": {"ticket_number": "A-1", "event_id": event["id"], **fields}},
        service=True,
        expected=422,
    )
    assert body == {"errors": errors}
    assert await snapshot(api) == before


async def test_create_ticket_needs_the_ticket_object(api: Api) -> None:
    body = await api.post("/api/tickets/create", {"ticket_number": "1"}, service=True, expected=422)
    assert body == {"errors": {"ticket": ["can't be blank"]}}


async def test_assign_ticket(api: Api) -> None:
    event = await api.create_event()
    ticket = await api.create_ticket(event["id"])
    fan = await api.sign_up()
    body = await api.assign(ticket["id"], fan.id)
    assert body["data"] == {
        **ticket,
        "user_id": fan.id,
        "user": {"id": fan.id, "username": fan.username, "email": fan.email},
    }
    # Again, to the same user: nothing changes, still 200.
    assert (await api.assign(ticket["id"], fan.id))["data"] == body["data"]


async def test_assign_ticket_refusals(api: Api) -> None:
    event = await api.create_event()
    ticket = await api.create_ticket(event["id"])
    ayla, bora = await api.sign_up(), await api.sign_up()
    await api.assign(ticket["id"], ayla.id)
    before = await snapshot(api)
    taken = await api.assign(ticket["id"], bora.id, expected=409)
    assert taken == {"errors": {"detail": "ticket is already assigned to another user"}}
    assert (await api.assign(UNKNOWN, ayla.id, expected=404)) == {"errors": {"detail": "Not Found"}}
    await api.assign(ticket["id"], UNKNOWN, expected=404)
    await api.assign("nope", ayla.id, expected=404)
    await api.assign(ticket["id"], "nope", expected=404)
    assert await snapshot(api) == before


async def test_a_deleted_holder_leaves_the_ticket_unassigned(api: Api) -> None:
    event = await api.create_event()
    ticket = await api.create_ticket(event["id"])
    fan = await api.sign_up()
    await api.assign(ticket["id"], fan.id)
    await api.delete(
        f"/api/users/delete_user/{fan.id}",
        json_body={"current_password": fan.password},
        token=fan.token,
        expected=204,
    )
    newcomer = await api.sign_up()
    body = await api.assign(ticket["id"], newcomer.id)
    assert body["data"]["user_id"] == newcomer.id
