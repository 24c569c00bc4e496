"""A user's own notifications: listed unread first, marked read one by one."""

from __future__ import annotations

from datetime import timedelta

from server.clock import ManualClock
from server.db import notifications as notification_store
from server.domain import NewNotification
from tests.server.api_client import Api, Session


async def store(api: Api, clock: ManualClock, fan: Session, event_id: str, text: str) -> str:
    async with api.db.write() as conn:
        [stored] = await notification_store.insert_notifications(
            conn,
            [NewNotification(user_id=fan.id, event_id=event_id, kind="room_opened", message=text)],
            now=clock.now(),
        )
    clock.advance(timedelta(minutes=1))
    return stored.id


async def test_unread_first_then_newest_first(api: Api, clock: ManualClock) -> None:
    event = await api.create_event()
    fan, other = await api.sign_up(), await api.sign_up()
    first = await store(api, clock, fan, event["id"], "first")
    second = await store(api, clock, fan, event["id"], "second")
    third = await store(api, clock, fan, event["id"], "third")
    await store(api, clock, other, event["id"], "someone else's")

    read = await api.post(f"/api/notifications/{second}/read", token=fan.token, expected=200)
    assert read["data"]["status"] == "read"
    assert read["data"]["message"] == "second"

    listed = (await api.get("/api/notifications", token=fan.token, expected=200))["data"]
    assert [(n["id"], n["status"]) for n in listed] == [
        (third, "unread"),
        (first, "unread"),
        (second, "read"),
    ]
    unread = await api.get("/api/notifications?status=unread", token=fan.token, expected=200)
    assert [n["id"] for n in unread["data"]] == [third, first]
    only_read = await api.get("/api/notifications?status=read", token=fan.token, expected=200)
    assert [n["id"] for n in only_read["data"]] == [second]
    bad = await api.get("/api/notifications?status=everything", token=fan.token, expected=422)
    assert bad == {"errors": {"status": ["is invalid"]}}


async def test_mark_read_is_idempotent_and_private(api: Api, clock: ManualClock) -> None:
    event = await api.create_event()
    fan, other = await api.sign_up(), await api.sign_up()
    mine = await store(api, clock, fan, event["id"], "mine")
    path = f"/api/notifications/{mine}/read"
    await api.post(path, token=fan.token, expected=200)
    await api.post(path, token=fan.token, expected=200)
    await api.post(path, token=other.token, expected=403)
    await api.post(path, expected=401)
    await api.post(
        "/api/notifications/44d2557e-ec2b-4dc5-a0cc-f8b5cb83bc6f/read",
        token=fan.token,
        expected=404,
    )
    await api.post("/api/notifications/nope/read", token=fan.token, expected=404)
