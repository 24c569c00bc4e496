"""Notifications reach the operator's webhook: signed, retried until acknowledged, once or more
with one idempotency key, through a receiver that fails and a restart of the service while the
receiver is down. The service is a real ``python -m server`` process; the receiver a real
aiohttp server on a loopback port."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from server.chat.alarm import SteppingClock
from server.config import Settings, WebhookSettings
from server.db.open import open_database
from server.db.sql import Sql
from server.webhooks.delivery import backoff
from server.webhooks.signing import signature, verify
from tests.server.api_client import SERVICE_KEY, Api
from tests.server.chat_support import TOKEN_TTL, AiohttpClient, World, build_app
from tests.server.conftest import START
from tests.server.server_process import HOST, free_port, server_process

SECRET = secrets.token_urlsafe(32)  # the webhook's signing secret, new for each run
FMT = "%Y-%m-%d %H:%M:%S"
FAILURES_FIRST = 2
"""The receiver answers 503 to the first attempts of each notification."""


@dataclass(frozen=True)
class Received:
    key: str
    attempt: int
    timestamp: str
    signature: str
    body: bytes
    status: int


class Receiver:
    """The operator's endpoint: records every request; fails the first attempts of each
    notification; can be taken down and brought back on the same port."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.requests: list[Received] = []
        self.acknowledged: set[str] = set()
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/hooks/notifications"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hooks/notifications", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, HOST, self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        key = request.headers["Idempotency-Key"]
        body = await request.read()
        tried = sum(1 for r in self.requests if r.key == key)
        status = 503 if tried < FAILURES_FIRST else 200
        async with self._changed:
            self.requests.append(
                Received(
                    key=key,
                    attempt=int(request.headers["Webhook-Attempt"]),
                    timestamp=request.headers["Webhook-Timestamp"],
                    signature=request.headers["Webhook-Signature"],
                    body=body,
                    status=status,
                )
            )
            if status == 200:
                self.acknowledged.add(key)
            self._changed.notify_all()
        return web.json_response({"ok": status == 200}, status=status)

    async def wait_acknowledged(self, keys: set[str], timeout: float = 30.0) -> None:
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: keys <= self.acknowledged)


class Rest:
    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http = http
        self.base = base

    async def call(self, method: str, path: str, body: Any = None, token: str = SERVICE_KEY) -> Any:
        headers = {"Authorization": f"Bearer {token}"}
        async with self.http.request(
            method, self.base + path, json=body, headers=headers
        ) as response:
            assert response.status < 300, await response.text()
            return await response.json()


async def notification_ids(rest: Rest, tokens: list[str]) -> set[str]:
    ids = set()
    for token in tokens:
        listed = await rest.call("GET", "/api/notifications", token=token)
        ids |= {n["id"] for n in listed["data"]}
    return ids


async def outbox_rows(database_url: str) -> int:
    db = await open_database(database_url, pool_size=1)
    try:
        async with db.read() as conn:
            return int(await conn.fetchval(Sql("SELECT count(*) FROM webhook_outbox")))
    finally:
        await db.close()


async def test_every_notification_reaches_the_webhook_across_failures_and_a_restart(
    database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    receiver = Receiver(port)
    env = {
        "NOTIFICATION_WEBHOOK_URL": receiver.url,
        "NOTIFICATION_WEBHOOK_SECRET": SECRET,
        "NOTIFICATION_WEBHOOK_TIMEOUT_SECONDS": "1",
        # Milliseconds instead of the default second to an hour: no test waits for minutes.
        "NOTIFICATION_WEBHOOK_RETRY_BASE_MS": "50",
        "NOTIFICATION_WEBHOOK_RETRY_MAX_MS": "400",
    }
    start = datetime.now(UTC).replace(tzinfo=None) + timedelta(days=1)
    await receiver.start()
    try:
        async with (
            server_process(database_url, tmp_path, env=env) as server,
            aiohttp.ClientSession() as http,
        ):
            rest = Rest(http, server.url)
            event = (
                await rest.call(
                    "POST",
                    "/api/events/create_event",
                    {
                        "event": {
                            "name": "Concert",
                            "description": "d",
                            "location": "Antalya",
                            "start_time": start.strftime(FMT),
                            "end_time": (start + timedelta(hours=3)).strftime(FMT),
                        }
                    },
                )
            )["data"]
            tokens = []
            for n in range(3):
                signed_up = await rest.call(
                    "POST",
                    "/api/users/create",
                    {
                        "user_params": {
                            "username": f"fan{n}",
                            "email": f"fan{n}@example.com",
                            "password": "pw-12345678",
                        }
                    },
                )
                ticket = await rest.call(
                    "POST",
                    "/api/tickets/create",
                    {"ticket": {"ticket_number": f"T-{n}", "event_id": event["id"]}},
                )
                user_id = signed_up["data"]["user"]["id"]
                await rest.call("PATCH", f"/api/tickets/{ticket['data']['id']}/assign/{user_id}")
                tokens.append(signed_up["data"]["token"])

            # The place changes: each holder is notified, and the webhook hears of it after
            # its first attempts failed.
            await rest.call(
                "POST",
                "/api/events/update_event",
                {"id": event["id"], "event": {"location": "Izmir"}},
            )
            first = await notification_ids(rest, tokens)
            assert len(first) == 3
            await receiver.wait_acknowledged(first)

            # The receiver goes down; the event is moved (three more notifications); the
            # service is killed before it could deliver them.
            await receiver.stop()
            await rest.call(
                "POST",
                "/api/events/update_event",
                {
                    "id": event["id"],
                    "event": {"start_time": (start + timedelta(hours=1)).strftime(FMT)},
                },
            )
            everything = await notification_ids(rest, tokens)
            assert len(everything) == 6
            server.kill()
            await server.process.wait()
        assert await outbox_rows(database_url) >= 3  # waiting in the database

        # The service starts again, with the receiver still down; then the receiver is back.
        async with server_process(database_url, tmp_path, env=env):
            await receiver.start()
            await receiver.wait_acknowledged(everything)
    finally:
        await receiver.stop()

    # None lost, each acknowledged; every request signed, and a notification's attempts all
    # carry its id as the idempotency key and the same body.
    assert receiver.acknowledged == everything
    now = time.time()
    bodies: dict[str, bytes] = {}
    for request in receiver.requests:
        assert verify(
            SECRET,
            timestamp=request.timestamp,
            signature_header=request.signature,
            body=request.body,
            now=now,
        ), request
        assert json.loads(request.body)["id"] == request.key
        assert bodies.setdefault(request.key, request.body) == request.body
    for key in everything:
        attempts = [r.attempt for r in receiver.requests if r.key == key]
        assert len(attempts) >= FAILURES_FIRST + 1
        assert attempts == sorted(attempts)
    payload = json.loads(bodies[next(iter(first))])
    assert set(payload) == {
        "type",
        "id",
        "user_id",
        "event_id",
        "kind",
        "message",
        "status",
        "inserted_at",
    }
    assert (payload["type"], payload["kind"]) == ("notification", "event_updated")
    assert not verify(
        SECRET, timestamp=request.timestamp, signature_header=request.signature,
        body=request.body + b" ", now=now,
    )  # fmt: skip


async def test_without_a_webhook_nothing_waits_in_the_outbox(api: Api) -> None:
    event = await api.create_event()
    await api.holder(event["id"])
    await api.post(
        "/api/events/update_event",
        {"id": event["id"], "event": {"location": "Izmir"}},
        service=True,
        expected=200,
    )
    assert await api.value("SELECT count(*) FROM notifications") == 1
    assert await api.value("SELECT count(*) FROM webhook_outbox") == 0


def test_the_wait_between_attempts_doubles_up_to_the_longest() -> None:
    settings = WebhookSettings(
        url="http://x", secret="s" * 32, retry_base_seconds=1, retry_max_seconds=60
    )
    waits = [backoff(settings, attempt).total_seconds() for attempt in range(1, 9)]
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff(settings, 10_000).total_seconds() == 60


async def test_a_receiver_that_hangs_does_not_slow_the_chat(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    """Deliveries that never get an answer hold their own slots; posting, joining and the
    REST API go on as usual."""
    arrived: list[str] = []
    changed = asyncio.Condition()
    release = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        async with changed:
            arrived.append(request.headers["Idempotency-Key"])
            changed.notify_all()
        await release.wait()
        return web.Response()

    receiver_app = web.Application()
    receiver_app.router.add_post("/hook", hang)
    receiver = await aiohttp_client(receiver_app)
    webhook = WebhookSettings(
        url=str(receiver.make_url("/hook")), secret=SECRET, timeout_seconds=300, concurrency=2
    )
    clock = SteppingClock(START)
    client = await aiohttp_client(
        build_app(replace(settings, webhook=webhook, token_ttl_seconds=TOKEN_TTL), clock)
    )
    world = World(Api(client), client, clock)
    try:
        async with world.open_room(3) as (topic, members):
            # The place changes: three holders are notified; two deliveries hang, one waits.
            event_id = topic.removeprefix("event:")
            await world.api.post(
                "/api/events/update_event",
                {"id": event_id, "event": {"location": "Izmir"}},
                service=True,
                expected=200,
            )
            async with asyncio.timeout(5), changed:
                await changed.wait_for(lambda: len(arrived) == 2)
            for member in members:
                ref = await member.push(topic, "new_message", {"content": "still here"})
                await member.assert_reply(ref, "ok")
            await world.api.get("/healthz", expected=200)
        assert await world.api.value("SELECT count(*) FROM webhook_outbox") == 3
    finally:
        release.set()


def test_the_readme_shows_how_to_verify_a_delivery() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    start = readme.index("```python\nimport hashlib, hmac, time")
    code = readme[start + len("```python\n") : readme.index("```", start + 3)]
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    body = b'{"id":"n-1","type":"notification"}'
    timestamp = int(time.time())
    headers = {
        "Webhook-Timestamp": str(timestamp),
        "Webhook-Signature": signature(SECRET, timestamp, body),
    }
    assert namespace["verify"](SECRET, headers, body)
    assert not namespace["verify"](SECRET, headers, body + b" ")
    assert not namespace["verify"]("another secret of some length..", headers, body)
    old = {**headers, "Webhook-Timestamp": str(timestamp - 3600)}
    assert not namespace["verify"](SECRET, old, body)
