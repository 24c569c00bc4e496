"""Events and their chat rooms, as the reservation system and the app see them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.server.api_client import Api, snapshot
from tests.server.conftest import RecordingRealtime

EVENT = {
    "name": "concert",
    "description": "A great music concert",
    "location": "Antalya",
    "start_time": "2025-01-01 19:00:07",
    "end_time": "2025-01-01 23:00:07",
}
UNKNOWN = "44d2557e-ec2b-4dc5-a0cc-f8b5cb83bc6f"


async def test_create_event_with_its_room(api: Api) -> None:
    event = await api.create_event()
    assert {k: event[k] for k in EVENT} == {
        **EVENT,
        "start_time": "2025-01-01T19:00:07",
        "end_time": "2025-01-01T23:00:07",
    }
    assert event["chat_room"]["status"] == "inactive"
    shown = await api.get(f"/api/events/{event['id']}", service=True, expected=200)
    assert shown["data"] == event


@pytest.mark.parametrize(
    ("start", "end", "stored_start", "stored_end"),
    [
        (
            "2025-01-01T19:00:07",
            "2025-01-01T23:00:07",
            "2025-01-01T19:00:07",
            "2025-01-01T23:00:07",
        ),
        (
            "2025-01-01T22:00:00+03:00",
            "2025-01-02T01:30:00+03:00",
            "2025-01-01T19:00:00",
            "2025-01-01T22:30:00",
        ),
        ("2025-01-01T19:00:00Z", "2025-01-01 23:00", "2025-01-01T19:00:00", "2025-01-01T23:00:00"),
        (
            "2025-01-01 19:00:07.999",
            "2025-01-01t23:00:07-0130",
            "2025-01-01T19:00:07",
            "2025-01-02T00:30:07",
        ),
    ],
)
async def test_times_in_iso_8601_are_converted_to_naive_utc(
    api: Api, start: str, end: str, stored_start: str, stored_end: str
) -> None:
    event = await api.create_event(start_time=start, end_time=end)
    assert (event["start_time"], event["end_time"]) == (stored_start, stored_end)


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({"name": None}, {"name": ["can't be blank"]}),
        ({"description": "  "}, {"description": ["can't be blank"]}),
        ({"location": 7}, {"location": ["is invalid"]}),
        ({"name": "x" * 201}, {"name": ["should be at most 200 character(s)"]}),
        ({"start_time": "tomorrow"}, {"start_time": ["is invalid"]}),
        ({"start_time": "2025-02-30 19:00:00"}, {"start_time": ["is invalid"]}),
        ({"start_time": "2025-01-01"}, {"start_time": ["is invalid"]}),
        ({"start_time": 1735758007}, {"start_time": ["is invalid"]}),
        ({"end_time": "2025-01-01 25:00:00"}, {"end_time": ["is invalid"]}),
        ({"end_time": "2025-01-01 19:00:07"}, {"end_time": ["must be after start_time"]}),
        ({"end_time": "2024-12-31 19:00:07"}, {"end_time": ["must be after start_time"]}),
        ({"start_time": "0001-01-01T00:00:00+01:00"}, {"start_time": ["is invalid"]}),
    ],
)
async def test_create_event_refuses_invalid_fields(
    api: Api, fields: dict[str, Any], errors: dict[str, list[str]]
) -> None:
    before = await snapshot(api)
    body = await api.post(
        "/api/events/create_event", {"event": {**EVENT, **fields}}, service=True, expected=422
    )
    assert body == {"errors": errors}
    assert await snapshot(api) == before


async def test_create_event_reports_every_missing_field(api: Api) -> None:
    body = await api.post("/api/events/create_event", {"event": {}}, service=True, expected=422)
    assert body == {"errors": {name: ["can't be blank"] for name in EVENT}}
    body = await api.post("/api/events/create_event", {}, service=True, expected=422)
    assert body == {"errors": {"event": ["can't be blank"]}}


async def test_update_event_is_partial(api: Api, realtime: RecordingRealtime) -> None:
    event = await api.create_event()
    body = await api.post(
        "/api/events/update_event",
        {"id": event["id"], "event": {"name": "Updated Concert"}},
        service=True,
        expected=200,
    )
    assert body["data"] == {**event, "name": "Updated Concert"}
    assert realtime.calls == [
        ("event_created", event["id"]),
        ("event_updated", (event["id"], frozenset({"name"}))),
    ]


async def test_update_event_refusals(api: Api) -> None:
    event = await api.create_event()
    before = await snapshot(api)
    update = "/api/events/update_event"
    await api.post(update, {"id": UNKNOWN, "event": {"name": "x"}}, service=True, expected=404)
    await api.post(update, {"id": "nope", "event": {"name": "x"}}, service=True, expected=404)
    await api.post(update, {"id": 12, "event": {"name": "x"}}, service=True, expected=404)
    missing = await api.post(update, {"event": {"name": "x"}}, service=True, expected=422)
    assert missing == {"errors": {"id": ["can't be blank"]}}
    no_event = await api.post(update, {"id": event["id"]}, service=True, expected=422)
    assert no_event == {"errors": {"event": ["can't be blank"]}}
    # Only the end is sent, and it is before the stored start.
    early = await api.post(
        update,
        {"id": event["id"], "event": {"end_time": "2025-01-01 18:00:00"}},
        service=True,
        expected=422,
    )
    assert early == {"errors": {"end_time": ["must be after start_time"]}}
    blank = await api.post(
        update, {"id": event["id"], "event": {"name": ""}}, service=True, expected=422
    )
    assert blank == {"errors": {"name": ["can't be blank"]}}
    assert await snapshot(api) == before


async def test_moving_an_event_notifies_its_holders(api: Api, realtime: RecordingRealtime) -> None:
    event = await api.create_event()
    ayla, bora = await api.holder(event["id"]), await api.holder(event["id"])
    outsider = await api.sign_up()
    await api.post(
        "/api/events/update_event",
        {"id": event["id"], "event": {"start_time": "2025-01-01 20:00:00", "location": "Izmir"}},
        service=True,
        expected=200,
    )
    for fan in (ayla, bora):
        listed = (await api.get("/api/notifications", token=fan.token, expected=200))["data"]
        assert [(n["kind"], n["event_id"], n["status"]) for n in listed] == [
            ("event_updated", event["id"], "unread")
        ]
        assert "2025-01-01T20:00:00" in listed[0]["message"]
        assert "Izmir" in listed[0]["message"]
    assert (await api.get("/api/notifications", token=outsider.token, expected=200)) == {"data": []}
    assert realtime.calls[-2:] == [
        ("event_updated", (event["id"], frozenset({"start_time", "location"}))),
        ("notifications_created", sorted([ayla.id, bora.id])),
    ]


async def test_renaming_an_event_notifies_nobody(api: Api) -> None:
    event = await api.create_event()
    fan = await api.holder(event["id"])
    await api.post(
        "/api/events/update_event",
        {"id": event["id"], "event": {"name": "Another name", "location": "Antalya"}},
        service=True,
        expected=200,
    )
    assert (await api.get("/api/notifications", token=fan.token, expected=200)) == {"data": []}


async def test_delete_event_removes_everything_that_belongs_to_it(
    api: Api, realtime: RecordingRealtime
) -> None:
    from datetime import datetime

    event, other = await api.create_event(), await api.create_event(name="other")
    fan = await api.holder(event["id"])
    other_fan = await api.holder(other["id"])
    await api.post(
        "/api/events/update_event",
        {"id": event["id"], "event": {"location": "Izmir"}},
        service=True,
        expected=200,
    )
    await api.post_messages(event["chat_room"]["id"], fan, ["hi"], datetime.now())

    await api.delete(f"/api/events/{event['id']}", service=True, expected=204)
    assert realtime.calls[-2:] == [
        ("event_deleted", event["id"]),
        ("notifications_created", [fan.id]),  # the cancellation notice, pushed
    ]
    await api.get(f"/api/events/{event['id']}", service=True, expected=404)
    await api.post(
        "/api/events/get_chat_room_by_id", {"event_id": event["id"]}, service=True, expected=404
    )

    async def count(query: str, *args: Any) -> int:
        return int(await api.value(query, *args))

    assert await count("SELECT count(*) FROM tickets WHERE event_id = $1", event["id"]) == 0
    assert await count("SELECT count(*) FROM chat_rooms WHERE event_id = $1", event["id"]) == 0
    room_id = event["chat_room"]["id"]
    assert await count("SELECT count(*) FROM messages WHERE chat_room_id = $1", room_id) == 0
    assert await count("SELECT count(*) FROM notifications WHERE event_id = $1", event["id"]) == 0
    # The people and the other event stay.
    assert await count("SELECT count(*) FROM users") == 2
    assert await count("SELECT count(*) FROM tickets WHERE event_id = $1", other["id"]) == 1
    await api.get(f"/api/users/{fan.id}", token=fan.token, expected=200)
    await api.get(f"/api/users/{other_fan.id}", token=other_fan.token, expected=200)
    # Deleting it again: 404.
    await api.delete(f"/api/events/{event['id']}", service=True, expected=404)
    await api.delete("/api/events/not-a-uuid", service=True, expected=404)


async def test_get_chat_room_by_event_id(api: Api) -> None:
    event = await api.create_event()
    fan = await api.sign_up()
    body = await api.post(
        "/api/events/get_chat_room_by_id",
        {"event_id": event["id"].upper()},
        token=fan.token,
        expected=200,
    )
    assert body["data"] == event["chat_room"]
    missing = await api.post("/api/events/get_chat_room_by_id", {}, service=True, expected=422)
    assert missing == {"errors": {"event_id": ["can't be blank"]}}
    for bad in ("nope", 7, ["x"], UNKNOWN):
        await api.post(
            "/api/events/get_chat_room_by_id", {"event_id": bad}, service=True, expected=404
        )


async def test_list_shows_upcoming_events_soonest_first(api: Api) -> None:
    later = await api.create_event(
        name="later", start_time="2025-03-01 19:00:00", end_time="2025-03-01 22:00:00"
    )
    sooner = await api.create_event(
        name="sooner", start_time="2025-02-01 19:00:00", end_time="2025-02-01 22:00:00"
    )
    await api.create_event(
        name="past", start_time="2024-11-01 19:00:00", end_time="2024-11-01 22:00:00"
    )
    fan = await api.sign_up()
    listed = await api.get("/api/events", token=fan.token, expected=200)
    assert [e["id"] for e in listed["data"]] == [sooner["id"], later["id"]]


async def test_show_unknown_event_is_404(api: Api) -> None:
    await api.get(f"/api/events/{UNKNOWN}", service=True, expected=404)
    await api.get("/api/events/%00", service=True, expected=404)
