"""The per-user message limit: per node, or shared by every node through Redis.

One user with tabs on two nodes must get the same budget as with one tab, so in cluster mode
the bucket lives in Redis: GCRA (the generic cell rate algorithm: one timestamp per user, the
moment their bucket is full again) in one Lua call, on Redis's own clock so that nodes whose
clocks differ agree. While Redis cannot be reached (or is slower than ``TIMEOUT``), each node
falls back to its own bucket: the limit holds per node rather than not at all.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from server.chat.limits import RateLimiter

log = logging.getLogger(__name__)

TIMEOUT = 0.25
"""Seconds a post waits for Redis before the node's own bucket decides."""
RETRY_AFTER = 1.0
"""After a failure, seconds during which the node's own bucket decides without asking."""

# KEYS[1]: the user's key. ARGV: microseconds per message, burst. Returns 1 (allowed) or 0.
_GCRA = """
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000000 + tonumber(now[2])
local interval = tonumber(ARGV[1])
local tolerance = interval * tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local next_tat = tat + interval
if next_tat - now > tolerance then return 0 end
redis.call('SET', KEYS[1], next_tat, 'PX', math.ceil(tolerance / 1000) + 1000)
return 1
"""


class MessageLimit(Protocol):
    async def allow(self, user_id: str) -> bool:
        """Take one message from the user's budget if there is one."""
        ...


class LocalMessageLimit:
    """This node's token bucket (one process)."""

    def __init__(self, limiter: RateLimiter) -> None:
        self.limiter = limiter

    async def allow(self, user_id: str) -> bool:
        return self.limiter.allow(user_id)


class SharedMessageLimit:
    """One bucket per user in Redis for every node; this node's own when Redis fails."""

    def __init__(self, url: str, fallback: RateLimiter, *, prefix: str = "ticket-chat") -> None:
        self._client = redis.Redis.from_url(
            url,
            socket_connect_timeout=TIMEOUT,
            socket_timeout=TIMEOUT,
            retry=Retry(NoBackoff(), 0),
        )
        self._script = self._client.register_script(_GCRA)
        self._fallback = fallback
        self._interval_us = round(1_000_000 / fallback.rate)
        self._burst = fallback.burst
        self._prefix = prefix
        self._loop_time_of_failure: float | None = None
        self.shared = 0
        """Decisions Redis took."""
        self.local = 0
        """Decisions the node's own bucket took (Redis down or slow)."""

    async def allow(self, user_id: str) -> bool:
        loop = asyncio.get_running_loop()
        failed = self._loop_time_of_failure
        if failed is None or loop.time() - failed >= RETRY_AFTER:
            try:
                async with asyncio.timeout(TIMEOUT):
                    allowed = await self._script(
                        keys=[f"{self._prefix}:limit:{user_id}"],
                        args=[self._interval_us, self._burst],
                    )
            except (RedisError, OSError, TimeoutError) as error:
                if failed is None:
                    log.warning("message limit: Redis failed (%s); limiting per node", error)
                self._loop_time_of_failure = loop.time()
            else:
                if failed is not None:
                    log.info("message limit: shared through Redis again")
                self._loop_time_of_failure = None
                self.shared += 1
                return bool(allowed)
        self.local += 1
        return self._fallback.allow(user_id)

    async def close(self) -> None:
        await self._client.aclose()
