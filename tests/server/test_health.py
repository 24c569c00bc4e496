"""Liveness, with the database."""

from __future__ import annotations

import asyncio
import contextlib
import time

import aiohttp

from tests.server.api_client import Api


async def test_healthy(api: Api) -> None:
    assert await api.get("/healthz", expected=200) == {"status": "ok"}


async def test_503_when_the_database_is_gone(api: Api) -> None:
    # A database server cannot be unplugged from here; its answer to the health query can be
    # taken away instead.
    await api.execute("DROP TABLE schema_version")
    assert await api.get("/healthz", expected=503) == {"status": "unavailable"}


async def test_health_checks_cut_short_under_a_stalled_loop_leave_no_lock(api: Api) -> None:
    """Health checks abandoned by their clients while writes run and the event loop stalls
    now and then: afterwards every write still goes through at once."""
    loop = asyncio.get_running_loop()
    url = api.client.make_url("/healthz")
    timeout = aiohttp.ClientTimeout(total=0.05)
    async with aiohttp.ClientSession() as http:

        async def impatient_probe() -> None:
            with contextlib.suppress(TimeoutError, aiohttp.ClientError):
                async with http.get(url, timeout=timeout) as response:
                    await response.read()

        for round_ in range(10):
            # A stall of the whole loop, as a slow callback or a swapped-out process causes.
            loop.call_soon(time.sleep, 0.1)
            await asyncio.gather(
                *(impatient_probe() for _ in range(5)),
                *(api.create_event(name=f"during stall {round_}.{n}") for n in range(3)),
            )
    assert await api.get("/healthz", expected=200) == {"status": "ok"}
    created = await asyncio.wait_for(api.create_event(name="afterwards"), 5)
    assert created["name"] == "afterwards"
