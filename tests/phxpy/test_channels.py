"""Channel lifecycle through phxpy.testing: replies, pushes, stops, crashes, terminate."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from phxpy import Channel, ConnectInfo, Endpoint, Error, Ok, Reply, Socket, Stop
from phxpy.channel_server import MAILBOX_LIMIT
from phxpy.testing import connect
from phxpy.types import Payload

ended: list[tuple[str, str]] = []


class Room(Channel):
    async def join(self, payload: Payload) -> Reply:
        if payload.get("refuse"):
            return Error({"reason": "refused"})
        if payload.get("explode"):
            raise RuntimeError("join blew up")
        if payload.get("bad_return"):
            return "yes"  # type: ignore[return-value]
        self.assigns["count"] = 0
        return Ok({"hello": self.socket.assigns["user"]})

    async def after_join(self) -> None:
        await self.push("welcome", {"topic": self.topic})

    async def handle_in(self, event: str, payload: Payload) -> Reply | Stop | None:
        if event == "count":
            self.assigns["count"] += 1
            return Ok({"count": self.assigns["count"]})
        if event == "later":
            self._kept = self.reply_ref()
            return None
        if event == "answer_later":
            await self.reply(self._kept, Ok({"result": 42}))
            return None
        if event == "stop":
            return Stop("normal", Ok({"bye": True}))
        if event == "fail":
            return Stop("bad_thing")
        if event == "custom":
            return Reply("noauth")
        if event == "bad_return":
            return 42  # type: ignore[return-value]
        if event == "unjsonable":
            return Ok({"x": object()})
        return await super().handle_in(event, payload)

    async def terminate(self, reason: str) -> None:
        ended.append((self.topic, reason))


class Guarded(Channel):
    intercept = frozenset({"status", "secret"})

    async def handle_out(self, event: str, payload: Payload) -> Stop | None:
        if event == "secret":
            return None  # never forwarded
        await self.push(event, {**payload, "seen_by": self.socket.assigns["user"]})
        return Stop("normal") if payload.get("closing") else None

    async def terminate(self, reason: str) -> None:
        ended.append((self.topic, reason))


class UserSocket(Socket):
    channels = [("room:*", Room), ("guarded:*", Guarded)]

    async def connect(self, params: dict[str, Any], connect_info: ConnectInfo) -> bool:
        self.assigns["user"] = params.get("user", "anon")
        return True


@pytest.fixture(autouse=True)
def _clear() -> None:
    ended.clear()


async def test_join_reply_comes_before_the_after_join_push() -> None:
    async with connect(UserSocket, {"user": "al"}) as client:
        reply = await client.join("room:1")
        assert (reply.status, reply.response) == ("ok", {"hello": "al"})
        welcome = await client.assert_push("room:1", "welcome", {"topic": "room:1"})
        assert welcome.join_ref == reply.join_ref


async def test_refused_and_crashed_joins() -> None:
    async with connect(UserSocket) as client:
        refused = await client.join("room:1", {"refuse": True})
        assert (refused.status, refused.response) == ("error", {"reason": "refused"})
        crashed = await client.join("room:2", {"explode": True})
        assert crashed.response == {"reason": "join crashed"}
        bad = await client.join("room:3", {"bad_return": True})
        assert bad.response == {"reason": "join crashed"}
        assert (await client.join("room:4")).status == "ok"


async def test_assigns_belong_to_the_channel() -> None:
    async with connect(UserSocket) as client:
        await client.join("room:1")
        await client.join("room:2")
        for expected in (1, 2):
            ref = await client.push("room:1", "count")
            await client.assert_reply(ref, "ok", {"count": expected})
        ref = await client.push("room:2", "count")
        await client.assert_reply(ref, "ok", {"count": 1})


async def test_async_reply_and_custom_status() -> None:
    async with connect(UserSocket) as client:
        await client.join("room:1")
        later = await client.push("room:1", "later")
        await client.push("room:1", "answer_later")
        await client.assert_reply(later, "ok", {"result": 42})
        custom = await client.push("room:1", "custom")
        await client.assert_reply(custom, "noauth", {})


async def test_stop_with_reply_replies_then_closes() -> None:
    async with connect(UserSocket) as client:
        await client.join("room:1")
        ref = await client.push("room:1", "stop")
        await client.assert_reply(ref, "ok", {"bye": True})
        await client.assert_push("room:1", "phx_close", {})
        assert ended == [("room:1", "normal")]
        after = await client.push("room:1", "count")
        await client.assert_reply(after, "error", {"reason": "unmatched topic"})


@pytest.mark.parametrize("event", ["fail", "bad_return", "unjsonable", "no_such_event"])
async def test_failures_error_the_channel_only(event: str) -> None:
    async with connect(UserSocket) as client:
        await client.join("room:1")
        await client.join("room:2")
        await client.push("room:1", event)
        await client.assert_push("room:1", "phx_error", {"reason": "channel_crash"})
        ref = await client.push("room:2", "count")
        await client.assert_reply(ref, "ok", {"count": 1})
        assert ended[0][0] == "room:1"


async def test_leave_runs_terminate_and_closes() -> None:
    async with connect(UserSocket) as client:
        await client.join("room:1")
        reply = await client.leave("room:1")
        assert reply.status == "ok"
        assert ended == [("room:1", "left")]


async def test_duplicate_join_replaces_without_terminate() -> None:
    async with connect(UserSocket) as client:
        first = await client.join("room:1")
        second = await client.join("room:1")
        assert second.status == "ok"
        close = await client.assert_push("room:1", "phx_close")
        assert close.join_ref == first.join_ref
        assert ended == []


async def test_connection_end_terminates_every_channel() -> None:
    async with connect(UserSocket) as client:
        await client.join("room:1")
        await client.join("room:2")
    assert sorted(ended) == [("room:1", "closed"), ("room:2", "closed")]


async def test_broadcasts_reach_every_subscriber_once() -> None:
    endpoint = Endpoint()
    async with (
        connect(UserSocket, endpoint=endpoint) as a,
        connect(UserSocket, endpoint=endpoint) as b,
    ):
        await a.join("room:1")
        await b.join("room:1")
        await endpoint.broadcast("room:1", "news", {"n": 1})
        for client in (a, b):
            await client.assert_push("room:1", "news", {"n": 1})
            await client.refute_push("room:1", "news")
        await a.assert_broadcast("room:1", "news", {"n": 1})


async def test_max_channels() -> None:
    async with connect(UserSocket, max_channels=1) as client:
        await client.join("room:1")
        reply = await client.join("room:2")
        assert reply.response == {"reason": "too many channels joined"}


async def test_intercepted_broadcasts_go_through_handle_out() -> None:
    endpoint = Endpoint()
    async with connect(UserSocket, {"user": "al"}, endpoint=endpoint) as client:
        joined = await client.join("guarded:1")
        await endpoint.broadcast("guarded:1", "plain", {"n": 1})
        await client.assert_push("guarded:1", "plain", {"n": 1})  # fastlane, untouched
        await endpoint.broadcast("guarded:1", "secret", {"n": 2})
        await endpoint.broadcast("guarded:1", "status", {"n": 3})
        status = await client.assert_push("guarded:1", "status", {"n": 3, "seen_by": "al"})
        assert status.join_ref == joined.join_ref  # a push of this channel, not a broadcast
        await client.refute_push("guarded:1", "secret")
        await endpoint.broadcast("guarded:1", "status", {"closing": True})
        await client.assert_push("guarded:1", "status")
        await client.assert_push("guarded:1", "phx_close")
        assert ended == [("guarded:1", "normal")]


async def test_broadcast_from_skips_the_sender_even_when_intercepting() -> None:
    class Echo(Guarded):
        async def handle_in(self, event: str, payload: Payload) -> Reply | Stop | None:
            await self.broadcast_from("status", payload)
            return None

    class EchoSocket(UserSocket):
        channels = [*UserSocket.channels, ("echo:*", Echo)]

    endpoint = Endpoint()
    async with (
        connect(EchoSocket, {"user": "a"}, endpoint=endpoint) as a,
        connect(EchoSocket, {"user": "b"}, endpoint=endpoint) as b,
    ):
        await a.join("echo:1")
        await b.join("echo:1")
        await a.push("echo:1", "say", {"x": 1})
        await b.assert_push("echo:1", "status", {"x": 1, "seen_by": "b"})
        await a.refute_push("echo:1", "status")


async def test_a_flooded_channel_slows_its_client_down_and_loses_nothing() -> None:
    """A client pushing faster than its channel handles: the connection stops reading once
    the channel is MAILBOX_LIMIT messages behind (so memory stays bounded), and every
    message is still answered, in order, once the channel catches up."""
    gate = asyncio.Event()

    class Slow(Channel):
        async def handle_in(self, event: str, payload: Payload) -> Reply | Stop | None:
            await gate.wait()
            return Ok({"n": payload["n"]})

    class SlowSocket(Socket):
        channels = [("slow:*", Slow)]

    async with connect(SlowSocket) as client:
        await client.join("slow:1")

        async def flood() -> list[str]:
            return [await client.push("slow:1", "n", {"n": n}) for n in range(3 * MAILBOX_LIMIT)]

        flooding = asyncio.create_task(flood())
        done, _ = await asyncio.wait({flooding}, timeout=0.2)
        assert not done, "the reader kept reading past the channel's mailbox limit"
        assert client.session.channels["slow:1"].backlog <= MAILBOX_LIMIT
        gate.set()
        refs = await flooding
        for n, ref in enumerate(refs):
            await client.assert_reply(ref, "ok", {"n": n})
