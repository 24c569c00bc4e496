"""The sign-in flood: hundreds of unauthenticated sign-ins that give up after a moment must not
leave a real user waiting behind their password hashes.

The attacker is a script in a process of its own (tests/server/flood.py). The server runs as
``python -m server`` runs it (``web.AppRunner`` with its defaults): a request's handler carries
on after its client hangs up, so abandoned requests would still be hashed if nothing stopped
them. Without the bounded hashing pool a real sign-in here waits for seconds, behind hundreds of
hashes nobody will read.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from server.app import create_app
from server.auth.throttle import AuthLimits
from server.config import Settings, normalize_database_url
from server.keys import PASSWORDS
from tests.server.api_client import PASSWORD, SECRET_KEY, SERVICE_KEY

ROOT = Path(__file__).resolve().parents[2]
ATTACKERS = 600
GIVE_UP_AFTER = 1.0  # seconds: each attacking client hangs up then
ROUNDS = 8  # ~30 ms a hash here: 600 of them are seconds of work on two cores
REAL_USER_BOUND = 1.0  # seconds, measured on the event loop's clock
# While the flood is on, the server is also still reading 600 requests on this shared loop.
DURING_FLOOD_BOUND = 5.0
WAIT = 60.0  # bounds a failure only


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app)  # web.run_app's defaults: no handler cancellation
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


async def timed_sign_in(session: aiohttp.ClientSession, url: str) -> tuple[int, float]:
    """The real user's sign-in: its status and how long it took (the loop's clock)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with session.post(
        f"{url}/api/users/sign_in", json={"email": "real@example.com", "password": PASSWORD}
    ) as response:
        await response.read()
        if response.status == 503:
            assert int(response.headers["Retry-After"]) >= 1
        return response.status, loop.time() - started


@pytest.mark.parametrize("emails", ["same", "each"])
async def test_a_sign_in_flood_leaves_real_sign_ins_answered_quickly(
    tmp_path: Path, emails: str
) -> None:
    settings = Settings(
        database_url=normalize_database_url(f"sqlite:///{tmp_path / 'chat.sqlite3'}"),
        secret_key=SECRET_KEY,
        service_api_key=SERVICE_KEY,
        bcrypt_rounds=ROUNDS,
        password_hash_workers=2,
        password_hash_queue=16,
        # The flood stands for one from many addresses: only the per-account limit is on.
        auth_limits=replace(AuthLimits(), sign_in_per_ip=None),
    )
    app = create_app(settings)
    async with serve(app) as url, aiohttp.ClientSession() as session:
        user = {"username": "real", "email": "real@example.com", "password": PASSWORD}
        async with session.post(f"{url}/api/users/create", json={"user_params": user}) as r:
            assert r.status == 201
        pool = app[PASSWORDS].pool
        hashed_before = pool.hashed

        attacker = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.server.flood",
            url,
            str(ATTACKERS),
            str(GIVE_UP_AFTER),
            emails,
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
        )
        assert attacker.stdout is not None
        try:
            async with asyncio.timeout(WAIT):
                assert await attacker.stdout.readline() == b"sent\n"
                # While the flood is on: an answer (200, or 503 with Retry-After when the
                # short queue is full), not a place behind 600 others.
                during, during_elapsed = await timed_sign_in(session, url)
                outcomes = json.loads(await attacker.stdout.readline())
                await attacker.wait()
        finally:
            if attacker.returncode is None:
                attacker.kill()
                await attacker.wait()
        # Once the attackers have given up, nothing of theirs is left to hash.
        after, after_elapsed = await timed_sign_in(session, url)

    assert during in (200, 503), during
    assert during_elapsed < DURING_FLOOD_BOUND, f"during the flood: {during_elapsed:.2f}s"
    assert after == 200
    assert after_elapsed < REAL_USER_BOUND, f"after the flood: {after_elapsed:.2f}s"
    # Every attacker was refused at once (429: per account, 503: queue full), answered 401
    # after its hash, or gave up; those that gave up while queued were never hashed.
    assert set(outcomes) <= {"401", "429", "503", "gave up"}, outcomes
    attack_hashes = pool.hashed - hashed_before - (2 if during == 200 else 1)
    assert attack_hashes < ATTACKERS // 4, (attack_hashes, outcomes)
