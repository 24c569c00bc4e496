"""The example requests the API's clients (the reservation system, the fans' app) are written
against, sent byte for byte as those examples write them.

Where an example names an id, the id of a record created in the test takes its place (the
examples' own ids name nothing here, and some, like ``44d2557e-ehb0-…``, are not even UUIDs);
those literal ids are sent too and get a clean 4xx.
"""

from __future__ import annotations

import json

from tests.server.api_client import Api

EXAMPLE_EVENT_ID = "44d2557e-ec2b-4dc5-a0cc-f8b5cb83bc6f"
EXAMPLE_BAD_ID = "44d2557e-ehb0-a45e-a0cc-f8b5cb83bc6f"

# As in the examples, tabs and trailing spaces included (hence the escapes).
CREATE_EVENT = (
    '      {"event": {\n'
    '        "name": "concert",\n'
    '        "description": "A great music concert",\n'
    '        "location": "Antalya",\n'
    '        "start_time": "2025-01-01 19:00:07",\n'
    '        "end_time": "2025-01-01 23:00:07"\n'
    "\t      }\n"
    "\t   }\n"
)
UPDATE_EVENT = {
    "id": EXAMPLE_EVENT_ID,
    "event": {
        "name": "Updated Concert",
        "description": "An updated great music concert",
        "location": "Updated Antalya",
        "start_time": "2025-01-01 20:00:00",
        "end_time": "2025-01-01 23:30:00",
    },
}
SIGN_UP = (
    "  {\n"
    '    "user_params": {\n'
    '    "username": "sample_user", \n'
    '    "email": "sample@email.com" , \n'
    '    "password_hash": "hashed+password"\n'
    "    }\n"
    "  }\n"
)
SIGN_IN = '  {\n    "email": "sample@email.com", \n    "password_hash": "hashed+password"\n  }\n'
UPDATE_USER = {
    "id": EXAMPLE_BAD_ID,
    "user_params": {"email": "updated@email.com", "password_hash": "updated+hashed+password"},
}
CREATE_TICKET = {"ticket": {"ticket_number": "123456789", "event_id": EXAMPLE_BAD_ID}}
JSON = {"Content-Type": "application/json"}


async def test_the_examples_in_order(api: Api) -> None:
    # Create Event, the body exactly as the example shows it.
    created = await api.call(
        "POST",
        "/api/events/create_event",
        data=CREATE_EVENT,
        headers=JSON,
        service=True,
        expected=201,
    )
    event = created["data"]
    assert event["name"] == "concert"
    assert event["start_time"] == "2025-01-01T19:00:07"
    assert event["end_time"] == "2025-01-01T23:00:07"
    assert event["chat_room"]["status"] == "inactive"
    assert event["chat_room"]["event_id"] == event["id"]

    # Update Event.
    updated = await api.post(
        "/api/events/update_event",
        {**UPDATE_EVENT, "id": event["id"]},
        service=True,
        expected=200,
    )
    assert updated["data"]["name"] == "Updated Concert"
    assert updated["data"]["location"] == "Updated Antalya"
    assert updated["data"]["start_time"] == "2025-01-01T20:00:00"
    assert updated["data"]["end_time"] == "2025-01-01T23:30:00"

    # Get Event's Chat Room.
    room = await api.post(
        "/api/events/get_chat_room_by_id", {"event_id": event["id"]}, service=True, expected=200
    )
    assert room["data"] == {
        "id": event["chat_room"]["id"],
        "event_id": event["id"],
        "status": "inactive",
    }

    # Sign Up and Sign In, verbatim (whitespace and all).
    signed_up = await api.call(
        "POST", "/api/users/create", data=SIGN_UP, headers=JSON, expected=201
    )
    user = signed_up["data"]["user"]
    assert user["username"] == "sample_user"
    assert user["email"] == "sample@email.com"
    assert signed_up["data"]["token"]
    signed_in = await api.call(
        "POST", "/api/users/sign_in", data=SIGN_IN, headers=JSON, expected=200
    )
    token = signed_in["data"]["token"]
    assert signed_in["data"]["user"] == user

    # Show User.
    shown = await api.get(f"/api/users/{user['id']}", token=token, expected=200)
    assert shown["data"] == user

    # Create Ticket and Assign Ticket.
    ticket = (
        await api.post(
            "/api/tickets/create",
            {"ticket": {**CREATE_TICKET["ticket"], "event_id": event["id"]}},
            service=True,
            expected=201,
        )
    )["data"]
    assert ticket["ticket_number"] == "123456789"
    assert ticket["user_id"] is None
    assigned = await api.patch(
        f"/api/tickets/{ticket['id']}/assign/{user['id']}", service=True, expected=200
    )
    assert assigned["data"]["user_id"] == user["id"]
    assert assigned["data"]["user"] == user

    # Update User: a new email and password.
    changed = await api.post(
        "/api/users/update",
        # Changing the email and password needs the current one (named like password_hash).
        {**UPDATE_USER, "id": user["id"], "current_password_hash": "hashed+password"},
        token=token,
        expected=200,
    )
    assert changed["data"]["email"] == "updated@email.com"
    token = changed["token"]
    await api.post(
        "/api/users/sign_in",
        {"email": "updated@email.com", "password_hash": "updated+hashed+password"},
        expected=200,
    )

    # Delete User, at the example's path, then Delete Event.
    await api.delete(
        f"/api/users/delete/{user['id']}",
        json_body={"current_password": "updated+hashed+password"},
        token=token,
        expected=204,
    )
    await api.delete(f"/api/events/{event['id']}", service=True, expected=204)
    await api.get(f"/api/events/{event['id']}", service=True, expected=404)


async def test_the_examples_literal_ids_get_clean_answers(api: Api) -> None:
    fan = await api.sign_up()
    # A well-formed id that names nothing: 404.
    await api.post("/api/events/update_event", UPDATE_EVENT, service=True, expected=404)
    await api.delete(f"/api/events/{EXAMPLE_EVENT_ID}", service=True, expected=404)
    await api.post(
        "/api/events/get_chat_room_by_id",
        {"event_id": EXAMPLE_EVENT_ID},
        service=True,
        expected=404,
    )
    # Not the caller's id: 403, as the API's rule says.
    await api.get(f"/api/users/{EXAMPLE_BAD_ID}", token=fan.token, expected=403)
    await api.post("/api/users/update", UPDATE_USER, token=fan.token, expected=403)
    await api.delete(f"/api/users/delete/{EXAMPLE_BAD_ID}", token=fan.token, expected=403)
    await api.delete(f"/api/users/delete_user/{EXAMPLE_BAD_ID}", token=fan.token, expected=403)
    # A ticket for an event id that is not a UUID: 422 on that field.
    body = await api.post("/api/tickets/create", CREATE_TICKET, service=True, expected=422)
    assert body == {"errors": {"event_id": ["is invalid"]}}
    fake = "78f9b11e-bc90-45e2-9f7f-5d4df4c7e5bb"
    await api.patch(f"/api/tickets/{EXAMPLE_BAD_ID}/assign/{fake}", service=True, expected=404)


def test_the_verbatim_bodies_are_json() -> None:
    for body in (CREATE_EVENT, SIGN_UP, SIGN_IN):
        assert isinstance(json.loads(body), dict)
