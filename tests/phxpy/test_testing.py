"""phxpy.testing's own promises: refutations cannot pass by accident, and assertions keep
what they skip."""

from __future__ import annotations

import asyncio
import time

import pytest

from phxpy import Channel, Endpoint, Reply, Socket, Stop
from phxpy.testing import connect
from phxpy.types import Payload

SLOW = 0.1
"""How late the slow channel answers: twice what a fixed wait used to allow."""


async def busy_for(seconds: float) -> None:
    """Work that shares the event loop and takes a while (a handler on a loaded machine)."""
    deadline = time.monotonic() + seconds
    while True:
        await asyncio.sleep(0)  # others run meanwhile: a late answer, not a frozen loop
        if time.monotonic() >= deadline:
            return


class Slow(Channel):
    async def handle_in(self, event: str, payload: Payload) -> Reply | Stop | None:
        await busy_for(SLOW)
        if event == "push_late":
            await self.push("late", {})
        elif event == "broadcast_late":
            await self.broadcast_from("late", {})
        return None


class SlowSocket(Socket):
    channels = [("slow:*", Slow)]


async def test_refute_push_waits_for_the_server_not_for_the_clock() -> None:
    """A push that comes late (the channel was busy) is still seen: the refutation makes a
    round trip through the channel first instead of waiting a fixed 50 ms."""
    async with connect(SlowSocket) as client:
        await client.join("slow:1")
        await client.push("slow:1", "push_late")
        with pytest.raises(AssertionError, match="unexpected push"):
            await client.refute_push("slow:1", "late")


async def test_refute_broadcast_waits_for_the_other_connections_too() -> None:
    endpoint = Endpoint()
    async with (
        connect(SlowSocket, endpoint=endpoint) as sender,
        connect(SlowSocket, endpoint=endpoint) as watcher,
    ):
        await sender.join("slow:1")
        await watcher.join("slow:1")
        await sender.push("slow:1", "broadcast_late")
        with pytest.raises(AssertionError, match="unexpected push"):
            await watcher.refute_push("slow:1", "late")
        with pytest.raises(AssertionError, match="unexpected broadcast"):
            await watcher.refute_broadcast("slow:1", "late")
        await sender.refute_push("slow:1", "late")  # broadcast_from: not to the sender


async def test_refutations_pass_when_nothing_was_sent() -> None:
    async with connect(SlowSocket) as client:
        await client.join("slow:1")
        await client.push("slow:1", "quiet")
        await client.refute_push("slow:1", "late")
        await client.refute_broadcast("slow:1", "late")


async def test_assert_broadcast_keeps_the_broadcasts_it_skips() -> None:
    endpoint = Endpoint()
    async with connect(SlowSocket, endpoint=endpoint) as client:
        await client.join("slow:1")
        for event in ("first", "second", "third"):
            await endpoint.broadcast("slow:1", event, {"event": event})
        await client.assert_broadcast("slow:1", "third", {"event": "third"})
        await client.assert_broadcast("slow:1", "first", {"event": "first"})
        await client.refute_broadcast("slow:1", "third")  # asserted already
        await client.assert_broadcast("slow:1", "second", {"event": "second"})
        with pytest.raises(AssertionError, match="no broadcast"):
            await client.assert_broadcast("slow:1", "second", timeout=0)
