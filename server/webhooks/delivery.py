"""Delivering the outbox to the operator's webhook, in the background.

One task per node takes due rows from the outbox (``server.db.outbox``) and posts each to
NOTIFICATION_WEBHOOK_URL, at most ``concurrency`` at once, each attempt bounded by
``timeout_seconds``. A 2xx answer acknowledges the notification (its row is deleted); anything
else (another status, a refused connection, a timeout) schedules the next attempt after a
wait that doubles with every failure, from ``retry_base_seconds`` up to ``retry_max_seconds``,
for as long as it takes: delivery is at least once. A receiver that is slow, failing or down
costs this task its time and nothing else: the chat never waits for it.

Each attempt leases its row until the attempt's timeout has passed, so after a crash (or on
another node) an attempt that may not have finished is made again, never two at once.
Rows wait in the database across restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

import aiohttp

from server.chat.alarm import sleep_until_woken
from server.clock import Clock
from server.config import WebhookSettings
from server.db import outbox
from server.db.database import Database
from server.db.outbox import Delivery
from server.webhooks.signing import (
    ATTEMPT_HEADER,
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signature,
)

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1)
LEASE_MARGIN = timedelta(seconds=2)
"""Beyond an attempt's timeout, before its row may be taken again."""
RETRY_AFTER_DATABASE_ERROR = timedelta(seconds=5)
IDLE_PAUSE = timedelta(seconds=1)
USER_AGENT = "ticket-chat-webhook/1"


def backoff(settings: WebhookSettings, attempt: int) -> timedelta:
    """The wait after the ``attempt``-th failed attempt (1: the first)."""
    seconds = settings.retry_base_seconds * 2 ** min(attempt - 1, 40)
    return timedelta(seconds=min(seconds, settings.retry_max_seconds))


class WebhookDelivery:
    def __init__(self, settings: WebhookSettings, clock: Clock) -> None:
        self.settings = settings
        self._clock = clock
        self._db: Database | None = None
        self._session: aiohttp.ClientSession | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        self.delivered = 0
        self.failed_attempts = 0

    # ------------------------------------------------------------------ lifecycle

    async def start(self, db: Database) -> None:
        self._db = db
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.settings.timeout_seconds),
            headers={"User-Agent": USER_AGENT},
        )
        self._task = asyncio.get_running_loop().create_task(self._run(), name="webhooks")

    async def stop(self) -> None:
        """Stop at once: attempts in flight are abandoned (their rows are tried again after
        their lease, on the next start or another node)."""
        task, self._task = self._task, None
        tasks = [*self._in_flight, *([task] if task is not None else [])]
        for pending in tasks:
            pending.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    def wake(self) -> None:
        """New rows were queued: look for due ones now."""
        self._wake.set()

    # ------------------------------------------------------------------ the loop

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                taken, due = await self._take_and_send()
            except Exception:
                log.exception("webhook outbox pass failed; trying again")
                taken, due = 0, self._clock.now() + RETRY_AFTER_DATABASE_ERROR
            now = self._clock.now()
            if due is not None and due <= now:
                if taken:
                    continue  # more rows are due, and there is room for them
                due = now + IDLE_PAUSE  # due, yet not ours to take (another node has it)
            await sleep_until_woken(self._clock, due, self._wake)

    async def _take_and_send(self) -> tuple[int, datetime | None]:
        """Start attempts for due rows while there is room. Returns how many started and
        when the next row is due (None: no room, the end of an attempt wakes the loop)."""
        db = self._require_db()
        free = self.settings.concurrency - len(self._in_flight)
        taken: list[Delivery] = []
        if free > 0:
            now = self._clock.now()
            lease = now + timedelta(seconds=self.settings.timeout_seconds) + LEASE_MARGIN
            async with db.autocommit() as conn:
                taken = await outbox.take_due(conn, now=now, lease_until=lease, limit=free)
            for delivery in taken:
                attempt = asyncio.get_running_loop().create_task(self._attempt(delivery))
                self._in_flight.add(attempt)
                attempt.add_done_callback(self._attempt_done)
        if len(self._in_flight) >= self.settings.concurrency:
            return len(taken), None
        async with db.read() as conn:
            return len(taken), await outbox.next_due(conn)

    def _attempt_done(self, attempt: asyncio.Task[None]) -> None:
        self._in_flight.discard(attempt)
        self._wake.set()

    # ------------------------------------------------------------------ one attempt

    async def _attempt(self, delivery: Delivery) -> None:
        error = await self._post(delivery)
        db = self._require_db()
        try:
            async with db.autocommit() as conn:
                if error is None:
                    await outbox.delivered(conn, delivery.notification_id)
                else:
                    at = self._clock.now() + backoff(self.settings, delivery.attempt)
                    await outbox.retry_at(conn, delivery.notification_id, at=at, error=error)
        except Exception:
            # The lease brings the row back; at worst it is delivered once more.
            log.exception("recording a webhook attempt failed")
            return
        if error is None:
            self.delivered += 1
        else:
            self.failed_attempts += 1
            log.info(
                "webhook attempt %d for notification %s failed: %s",
                delivery.attempt,
                delivery.notification_id,
                error,
            )

    async def _post(self, delivery: Delivery) -> str | None:
        """POST the delivery once; None when acknowledged, else what went wrong."""
        session = self._session
        assert session is not None
        timestamp = int((self._clock.now() - _EPOCH).total_seconds())
        headers = {
            "Content-Type": "application/json",
            IDEMPOTENCY_HEADER: delivery.notification_id,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: signature(self.settings.secret, timestamp, delivery.body),
            ATTEMPT_HEADER: str(delivery.attempt),
        }
        try:
            async with session.post(
                self.settings.url, data=delivery.body, headers=headers, allow_redirects=False
            ) as response:
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    await response.content.read(64 * 1024)  # let the connection be reused
                if 200 <= response.status < 300:
                    return None
                return f"HTTP {response.status}"
        except TimeoutError:
            return f"no answer within {self.settings.timeout_seconds:g} s"
        except (aiohttp.ClientError, OSError) as error:
            return f"{type(error).__name__}: {error}"

    def _require_db(self) -> Database:
        if self._db is None:
            raise RuntimeError("the webhook delivery has not been started")
        return self._db
