"""The per-user message limit: per node, or shared by every node through Redis.

One user with tabs on two nodes must get the same budget as with one tab, so in cluster mode
the bucket lives in Redis: GCRA (the generic cell rate algorithm: one timestamp per user, the
moment their bucket is full again) in one Lua call, on Redis's own clock so that nodes whose
clocks differ agree. While Redis cannot be reached (or is slower than ``TIMEOUT``), each node
falls back to its own bucket: the limit holds per node rather than not at all.

Every post asks Redis, so the call goes over phxpy's lean Redis connection (one formatted
command, one reply parsed by hiredis): calls from many posts at once share it, pipelined.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from phxpy.cluster import (
    RedisAddress,
    RedisConnection,
    RedisError,
    RedisReplyError,
    redis_command,
)
from server.chat.limits import RateLimiter

log = logging.getLogger(__name__)

TIMEOUT = 0.25
"""Seconds a post waits for Redis before the node's own bucket decides."""
RETRY_AFTER = 1.0
"""After a failure, seconds during which the node's own bucket decides without asking."""

# KEYS[1]: the user's key. ARGV: microseconds per message, burst. Returns 1 (allowed) or 0.
_GCRA = b"""
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
        self._address = RedisAddress.parse(url)
        self._connection: RedisConnection | None = None
        self._script = b""
        """The script's SHA1, as SCRIPT LOAD answered on the current connection."""
        self._connecting = asyncio.Lock()
        self._fallback = fallback
        self._args = (b"%d" % round(1_000_000 / fallback.rate), b"%d" % fallback.burst)
        self._prefix = f"{prefix}:limit:".encode()
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
                    allowed = await self._ask(user_id)
            except (RedisError, OSError, TimeoutError) as error:
                if failed is None:
                    log.warning("message limit: Redis failed (%s); limiting per node", error)
                self._loop_time_of_failure = loop.time()
            else:
                if failed is not None:
                    log.info("message limit: shared through Redis again")
                self._loop_time_of_failure = None
                self.shared += 1
                return allowed
        self.local += 1
        return self._fallback.allow(user_id)

    async def _ask(self, user_id: str) -> bool:
        connection = await self._connected()
        key = self._prefix + user_id.encode()
        call = redis_command(b"EVALSHA", self._script, b"1", key, *self._args)
        [reply] = await connection.request(call, 1)
        if isinstance(reply, RedisReplyError):
            if str(reply).startswith("NOSCRIPT"):  # flushed meanwhile: loaded again next time
                connection.close()
            raise RedisError(str(reply))
        return bool(reply)

    async def _connected(self) -> RedisConnection:
        connection = self._connection
        if connection is not None and connection.transport is not None:
            return connection
        async with self._connecting:  # one reconnection for all the posts waiting
            connection = self._connection
            if connection is None or connection.transport is None:
                connection = await RedisConnection.open(self._address)
                [sha] = await connection.request(redis_command(b"SCRIPT", b"LOAD", _GCRA), 1)
                if not isinstance(sha, bytes):
                    connection.close()
                    raise RedisError(f"SCRIPT LOAD refused: {sha}")
                self._script, self._connection = sha, connection
            return connection

    async def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
