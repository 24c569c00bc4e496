"""The participants list and the organisers' moderation over REST: who may ask, paging, what
each action answers, the audit log, and bad input that is refused and changes nothing."""

from __future__ import annotations

from contextlib import AsyncExitStack
from datetime import timedelta
from typing import Any

from tests.server.api_client import Session, snapshot
from tests.server.chat_support import OPENS, World, stepping_clock, world

__all__ = ["stepping_clock", "world"]

UNKNOWN = "7b0e0f5e-0000-4000-8000-000000000000"


async def test_participants_are_everyone_admitted_online_or_not(world: World) -> None:
    event = await world.event()
    path = f"/api/events/{event['id']}/participants"
    fans = [await world.api.sign_up(f"fan{n}") for n in range(3)]
    waiting = await world.api.holder(event["id"])  # holds a ticket, never joined
    stranger = await world.api.sign_up("stranger")
    async with AsyncExitStack() as stack:
        clients, joined = [], []
        for fan in fans:
            world.clock.advance(timedelta(seconds=1))  # so they join in this order
            client = await stack.enter_async_context(world.socket(fan))
            await world.member(client, event["id"], fan)
            clients.append(client)
            joined.append(world.clock.now().isoformat())
        await clients[1].close()  # fan1 goes offline (still a participant)

        first = await world.api.get(f"{path}?limit=2", token=waiting.token, expected=200)
        assert [p["username"] for p in first["data"]] == ["fan0", "fan1"]
        assert [p["online"] for p in first["data"]] == [True, False]
        assert (first["total"], first["online_count"]) == (3, 2)
        assert first["next_cursor"] is not None
        second = await world.api.get(
            f"{path}?limit=2&after={first['next_cursor']}", service=True, expected=200
        )
        assert [(p["username"], p["online"]) for p in second["data"]] == [("fan2", True)]
        assert second["next_cursor"] is None
        everyone = await world.api.get(path, token=fans[0].token, expected=200)
        assert [p["user_id"] for p in everyone["data"]] == [fan.id for fan in fans]
        assert [p["joined_at"] for p in everyone["data"]] == joined

        # Not a holder: 403; no such event: 404; bad paging: 422.
        await world.api.get(path, token=stranger.token, expected=403)
        await world.api.get(f"/api/events/{UNKNOWN}/participants", service=True, expected=404)
        for query in ("limit=0", "limit=201", "limit=x", "after=nonsense", "after=" + "A" * 300):
            answer = await world.api.get(f"{path}?{query}", service=True, expected=422)
            assert set(answer["errors"]) <= {"limit", "after"}
        await world.api.get(path, expected=401)


async def join_room(world: World, event: dict[str, Any], *users: Session) -> AsyncExitStack:
    stack = AsyncExitStack()
    for user in users:
        client = await stack.enter_async_context(world.socket(user))
        await world.member(client, event["id"], user)
    return stack


async def test_moderation_refuses_bad_input_and_changes_nothing(world: World) -> None:
    event = await world.event()
    await world.move_to(OPENS)
    base = f"/api/events/{event['id']}/moderation"
    fan = await world.api.sign_up()
    outsider = await world.api.sign_up()
    async with await join_room(world, event, fan):
        before = await snapshot(world.api)
        cases: list[tuple[str, dict[str, Any], str]] = [
            ("mute", {"user_id": fan.id, "duration_seconds": -5}, "duration_seconds"),
            ("mute", {"user_id": fan.id, "duration_seconds": 0}, "duration_seconds"),
            ("mute", {"user_id": fan.id, "duration_seconds": 10**9}, "duration_seconds"),
            ("mute", {"user_id": fan.id, "duration_seconds": "60"}, "duration_seconds"),
            ("mute", {"user_id": fan.id, "duration_seconds": 1.5}, "duration_seconds"),
            ("mute", {"user_id": fan.id}, "duration_seconds"),
            ("mute", {"user_id": fan.id, "until": "2020-01-01 00:00:00"}, "until"),
            ("mute", {"user_id": fan.id, "until": "soon"}, "until"),
            (
                "mute",
                {"user_id": fan.id, "until": "2030-01-01 00:00:00", "duration_seconds": 5},
                "duration_seconds",
            ),
            ("mute", {"user_id": UNKNOWN, "duration_seconds": 60}, "user_id"),
            ("mute", {"user_id": outsider.id, "duration_seconds": 60}, "user_id"),
            ("mute", {"user_id": "x", "duration_seconds": 60}, "user_id"),
            ("mute", {"user_id": fan.id, "duration_seconds": 60, "actor": "x" * 101}, "actor"),
            ("mute", {"user_id": fan.id, "duration_seconds": 60, "reason": ""}, "reason"),
            ("unmute", {"user_id": UNKNOWN}, "user_id"),
            ("remove", {"user_id": outsider.id}, "user_id"),
            ("remove", {}, "user_id"),
            ("reinstate", {"user_id": UNKNOWN}, "user_id"),
            ("slow_mode", {"seconds": -1}, "seconds"),
            ("slow_mode", {"seconds": 3601}, "seconds"),
            ("slow_mode", {"seconds": True}, "seconds"),
            ("slow_mode", {}, "seconds"),
            ("hide", {"message_id": UNKNOWN}, "message_id"),
        ]
        for action, body, field in cases:
            answer = await world.api.post(f"{base}/{action}", body, service=True, expected=422)
            assert field in answer["errors"], (action, body, answer)
        announcements = f"/api/events/{event['id']}/announcements"
        for body in ({}, {"content": "  "}, {"content": "x" * 4001}, {"content": "a\x00"}):
            await world.api.post(announcements, body, service=True, expected=422)
        # No such event; not JSON; not the service key.
        await world.api.post(
            f"/api/events/{UNKNOWN}/moderation/slow_mode",
            {"seconds": 5},
            service=True,
            expected=404,
        )
        await world.api.post(
            f"/api/events/{UNKNOWN}/announcements", {"content": "hi"}, service=True, expected=404
        )
        await world.api.call("POST", f"{base}/slow_mode", data="{nope", service=True, expected=400)
        await world.api.post(f"{base}/slow_mode", {"seconds": 5}, token=fan.token, expected=403)
        await world.api.post(f"{base}/slow_mode", {"seconds": 5}, expected=401)
        await world.api.get(base, token=fan.token, expected=403)
        await world.api.get(f"{base}/log?before=0", service=True, expected=422)
        await world.api.get(f"{base}/log?limit=100000", service=True, expected=422)
        assert await snapshot(world.api) == before


async def test_actions_are_idempotent_audited_and_visible(world: World) -> None:
    event = await world.event()
    base = f"/api/events/{event['id']}/moderation"
    fan, other = await world.api.sign_up("ayla"), await world.api.sign_up("bora")
    async with await join_room(world, event, fan, other):
        state = (await world.api.get(base, service=True, expected=200))["data"]
        assert state == {
            "event_id": event["id"],
            "chat_room_id": event["chat_room"]["id"],
            "version": 0,
            "slow_mode_seconds": 0,
            "mutes": [],
            "removals": [],
            "hidden_messages": [],
        }
        steps: list[tuple[str, dict[str, Any], bool]] = [
            ("slow_mode", {"seconds": 10, "actor": "Stage"}, True),
            ("slow_mode", {"seconds": 10}, False),
            ("mute", {"user_id": fan.id, "duration_seconds": 60, "reason": "calm"}, True),
            ("remove", {"user_id": other.id}, True),
            ("remove", {"user_id": other.id}, False),
            ("reinstate", {"user_id": other.id}, True),
            ("reinstate", {"user_id": other.id}, False),
            ("unmute", {"user_id": other.id}, False),
            ("slow_mode", {"seconds": 0}, True),
        ]
        for action, body, changed in steps:
            answer = await world.api.post(f"{base}/{action}", body, service=True, expected=200)
            assert answer["data"]["changed"] is changed, (action, body)
        state = (await world.api.get(base, service=True, expected=200))["data"]
        assert state["version"] == 5 and state["slow_mode_seconds"] == 0
        assert [(m["username"], m["reason"], m["actor"]) for m in state["mutes"]] == [
            ("ayla", "calm", "organiser")
        ]
        assert state["removals"] == []
        # Mutes that ran out are not shown.
        world.clock.advance(timedelta(seconds=61))
        assert (await world.api.get(base, service=True, expected=200))["data"]["mutes"] == []

        log = (await world.api.get(f"{base}/log", service=True, expected=200))["data"]
        assert [(e["version"], e["action"], e["actor"]) for e in log] == [
            (5, "slow_mode", "organiser"),
            (4, "reinstate", "organiser"),
            (3, "remove", "organiser"),
            (2, "mute", "organiser"),
            (1, "slow_mode", "Stage"),
        ]
        assert log[3]["user_id"] == fan.id and log[3]["details"]["reason"] == "calm"
        assert log[0]["details"] == {"seconds": 0, "previous_seconds": 10}
        page = (await world.api.get(f"{base}/log?before=3&limit=1", service=True, expected=200))[
            "data"
        ]
        assert [e["version"] for e in page] == [2]


async def test_announcements_need_an_open_room(world: World) -> None:
    event = await world.event()
    path = f"/api/events/{event['id']}/announcements"
    answer = await world.api.post(path, {"content": "soon"}, service=True, expected=409)
    assert answer["errors"]["detail"] == "the chat room is not active"
    await world.move_to(OPENS)
    posted = await world.api.post(path, {"content": "open!"}, service=True, expected=201)
    assert (posted["data"]["username"], posted["data"]["seq"]) == ("organiser", 1)
    # Without a client_id, each call is a new announcement.
    again = await world.api.post(path, {"content": "open!"}, service=True, expected=201)
    assert again["data"]["seq"] == 2
