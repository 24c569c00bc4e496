"""Sign in and sign up are limited per account and per address, and bounded in hashing work."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.app import create_app
from server.auth.throttle import AuthLimits, AuthThrottle
from server.client_ip import parse_networks
from server.clock import ManualClock
from server.config import Settings
from server.domain import RateLimited
from server.keys import PASSWORDS
from server.ratelimit import Rate
from tests.server.api_client import PASSWORD, Api
from tests.server.conftest import RecordingRealtime

AiohttpClient = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]
NO_LIMITS = AuthLimits(None, None, None, None)
TOO_MANY = {"errors": {"detail": "Too Many Requests"}}


async def make_api(
    aiohttp_client: AiohttpClient, settings: Settings, clock: ManualClock, **changes: Any
) -> Api:
    app = create_app(replace(settings, **changes), clock=clock, realtime=RecordingRealtime())
    return Api(await aiohttp_client(app))


def sign_in(email: str, password: str = PASSWORD) -> dict[str, str]:
    return {"email": email, "password": password}


def sign_up(username: str, email: str) -> dict[str, Any]:
    return {"user_params": {"username": username, "email": email, "password": PASSWORD}}


async def refused(api: Api, path: str, body: Any, **kwargs: Any) -> int:
    """Post, expect 429 in the standard shape, return its Retry-After."""
    async with api.client.post(path, json=body, **kwargs) as response:
        assert response.status == 429, await response.text()
        assert await response.json() == TOO_MANY
        retry_after = int(response.headers["Retry-After"])
    await api.post(path, body, expected=429, **kwargs)  # documented, too
    return retry_after


async def test_sign_in_is_limited_per_account_whether_it_exists_or_not(
    aiohttp_client: AiohttpClient, settings: Settings, clock: ManualClock
) -> None:
    limits = replace(NO_LIMITS, sign_in_per_account=Rate(3, 60))
    api = await make_api(aiohttp_client, settings, clock, auth_limits=limits)
    fan = await api.sign_up()
    bystander = await api.sign_up()
    for _ in range(3):
        await api.post("/api/users/sign_in", sign_in(fan.email, "wrong guess"), expected=401)
        await api.post("/api/users/sign_in", sign_in("nobody@example.com", "x"), expected=401)
    # The fourth try gets 429, the right password included; nothing tells the two apart.
    assert await refused(api, "/api/users/sign_in", sign_in(fan.email)) == 20
    assert await refused(api, "/api/users/sign_in", sign_in("NOBODY@example.com")) == 20
    # Other accounts are not affected.
    await api.post("/api/users/sign_in", sign_in(bystander.email), expected=200)
    # One attempt comes back every 20 s.
    clock.advance(timedelta(seconds=20))
    await api.post("/api/users/sign_in", sign_in(fan.email), expected=200)
    await refused(api, "/api/users/sign_in", sign_in(fan.email))


async def test_sign_in_is_limited_per_address(
    aiohttp_client: AiohttpClient, settings: Settings, clock: ManualClock
) -> None:
    limits = replace(NO_LIMITS, sign_in_per_ip=Rate(2, 60))
    api = await make_api(aiohttp_client, settings, clock, auth_limits=limits)
    fan = await api.sign_up()
    await api.post("/api/users/sign_in", sign_in("a@example.com"), expected=401)
    await api.post("/api/users/sign_in", sign_in(fan.email), expected=200)
    assert await refused(api, "/api/users/sign_in", sign_in(fan.email)) == 30
    # With no proxy trusted, X-Forwarded-For changes nothing.
    headers = {"X-Forwarded-For": "198.51.100.1"}
    await refused(api, "/api/users/sign_in", sign_in(fan.email), headers=headers)


async def test_behind_a_trusted_proxy_each_forwarded_address_has_its_own_limit(
    aiohttp_client: AiohttpClient, settings: Settings, clock: ManualClock
) -> None:
    limits = replace(NO_LIMITS, sign_in_per_ip=Rate(1, 60))
    api = await make_api(
        aiohttp_client,
        settings,
        clock,
        auth_limits=limits,
        trusted_proxies=parse_networks(["127.0.0.1", "::1"]),
    )
    fan = await api.sign_up()
    first = {"X-Forwarded-For": "198.51.100.1"}
    second = {"X-Forwarded-For": "198.51.100.2"}
    await api.post("/api/users/sign_in", sign_in(fan.email), headers=first, expected=200)
    await refused(api, "/api/users/sign_in", sign_in(fan.email), headers=first)
    await api.post("/api/users/sign_in", sign_in(fan.email), headers=second, expected=200)
    # A client cannot pass for another by writing its own X-Forwarded-For: the proxy
    # appends the address it saw, and that rightmost one is what counts.
    spoofed = {"X-Forwarded-For": "203.0.113.99, 198.51.100.1"}
    await refused(api, "/api/users/sign_in", sign_in(fan.email), headers=spoofed)


async def test_sign_up_is_limited_per_email_per_username_and_per_address(
    aiohttp_client: AiohttpClient, settings: Settings, clock: ManualClock
) -> None:
    limits = replace(NO_LIMITS, sign_up_per_account=Rate(2, 600), sign_up_per_ip=Rate(4, 60))
    api = await make_api(aiohttp_client, settings, clock, auth_limits=limits)
    await api.post("/api/users/create", sign_up("ayla", "ayla@example.com"), expected=201)
    await api.post("/api/users/create", sign_up("ayla", "other@example.com"), expected=422)
    # A third try at the same username, or at the same email, waits.
    assert await refused(api, "/api/users/create", sign_up("ayla", "new@example.com")) == 300
    await api.post("/api/users/create", sign_up("bora", "ayla@example.com"), expected=422)
    await refused(api, "/api/users/create", sign_up("cem", "AYLA@example.com"))
    # Refused attempts used none of the address's allowance: three counted, one left.
    await api.post("/api/users/create", sign_up("deniz", "deniz@example.com"), expected=201)
    await refused(api, "/api/users/create", sign_up("ece", "ece@example.com"))


def test_the_default_limits_let_a_crowd_behind_one_address_in(clock: ManualClock) -> None:
    """A venue: fans behind one public address sign up, then in on two devices each; at the
    default rates 150 of them may do it in the same second, and 5 more every second."""
    throttle = AuthThrottle(AuthLimits(), clock)
    for n in range(150):
        throttle.sign_up("203.0.113.1", f"fan{n}@example.com", f"fan{n}")
    for n in range(150):
        for _device in range(2):
            throttle.sign_in("203.0.113.1", f"fan{n}@example.com")
    with pytest.raises(RateLimited):
        throttle.sign_in("203.0.113.1", "one.more@example.com")
    clock.advance(timedelta(seconds=1))
    for n in range(5):
        throttle.sign_in("203.0.113.1", f"later{n}@example.com")


async def test_when_hashing_is_saturated_sign_in_and_up_answer_503_at_once(
    aiohttp_client: AiohttpClient, settings: Settings, clock: ManualClock
) -> None:
    api = await make_api(
        aiohttp_client,
        settings,
        clock,
        auth_limits=NO_LIMITS,
        password_hash_workers=1,
        password_hash_queue=0,
    )
    fan = await api.sign_up()
    # The one worker is taken (by a job the test controls) and there is no queue.
    started, release = threading.Event(), threading.Event()

    def occupy() -> None:
        started.set()
        release.wait(10)

    pool = api.client.app[PASSWORDS].pool
    occupied = asyncio.create_task(pool.run(occupy))
    assert await asyncio.to_thread(started.wait, 10)
    for path, body in [
        ("/api/users/sign_in", sign_in(fan.email)),
        ("/api/users/create", sign_up("late", "late@example.com")),
    ]:
        async with api.client.post(path, json=body) as response:
            assert response.status == 503
            assert int(response.headers["Retry-After"]) >= 1
            assert await response.json() == {"errors": {"detail": "Service Unavailable"}}
        await api.post(path, body, expected=503)
    release.set()
    await occupied
    await api.post("/api/users/sign_in", sign_in(fan.email), expected=200)
