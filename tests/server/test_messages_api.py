"""A room's history over REST, for the event's ticket holders.

The chat writes the messages; here they are stored through the db layer it uses.
"""

from __future__ import annotations

from typing import Any

from server.clock import ManualClock
from tests.server.api_client import Api, Session


async def post_messages(
    api: Api, clock: ManualClock, room_id: str, author: Session, count: int
) -> None:
    contents = [f"message {n}" for n in range(1, count + 1)]
    await api.post_messages(room_id, author, contents, clock.now())


def seqs(body: Any) -> list[int]:
    return [message["seq"] for message in body["data"]]


async def test_holders_page_back_through_the_history(api: Api, clock: ManualClock) -> None:
    event = await api.create_event()
    fan = await api.holder(event["id"])
    await post_messages(api, clock, event["chat_room"]["id"], fan, 120)
    path = f"/api/events/{event['id']}/messages"

    latest = await api.get(path, token=fan.token, expected=200)
    assert seqs(latest) == list(range(71, 121))
    first = latest["data"][0]
    assert first == {
        "id": first["id"],
        "chat_room_id": event["chat_room"]["id"],
        "user_id": fan.id,
        "username": fan.username,
        "content": "message 71",
        "content_type": "text",
        "seq": 71,
        "inserted_at": clock.now().isoformat(),
        "author_role": "member",
        "hidden": False,
    }
    older = await api.get(f"{path}?before=71&limit=100", token=fan.token, expected=200)
    assert seqs(older) == list(range(1, 71))
    assert seqs(await api.get(f"{path}?before=3&limit=1", token=fan.token, expected=200)) == [2]
    assert seqs(await api.get(f"{path}?before=1", token=fan.token, expected=200)) == []


async def test_history_refusals(api: Api) -> None:
    event = await api.create_event()
    fan, outsider = await api.holder(event["id"]), await api.sign_up()
    path = f"/api/events/{event['id']}/messages"
    await api.get(path, token=outsider.token, expected=403)
    await api.get(path, service=True, expected=403)
    await api.get(path, expected=401)
    await api.get(
        "/api/events/44d2557e-ec2b-4dc5-a0cc-f8b5cb83bc6f/messages", token=fan.token, expected=404
    )
    for query, field in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=x", "limit"),
        ("before=-1", "before"),
        ("before=1e3", "before"),
    ]:
        body = await api.get(f"{path}?{query}", token=fan.token, expected=422)
        assert list(body["errors"]) == [field]


async def test_history_outlives_its_authors_account(api: Api, clock: ManualClock) -> None:
    event = await api.create_event()
    author, reader = await api.holder(event["id"]), await api.holder(event["id"])
    await post_messages(api, clock, event["chat_room"]["id"], author, 2)
    await api.delete(
        f"/api/users/delete_user/{author.id}",
        json_body={"current_password": author.password},
        token=author.token,
        expected=204,
    )
    body = await api.get(f"/api/events/{event['id']}/messages", token=reader.token, expected=200)
    assert [(m["user_id"], m["username"], m["content"]) for m in body["data"]] == [
        (None, author.username, "message 1"),
        (None, author.username, "message 2"),
    ]
