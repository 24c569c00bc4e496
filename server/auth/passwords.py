"""bcrypt hashing, off the event loop and bounded (it is deliberately slow CPU work).

Every hash and check runs in one :class:`~server.auth.hashing_pool.HashingPool`, so the number
of them at a time and the queue in front are fixed whatever the traffic. A request first takes
a turn (:meth:`PasswordHasher.turn`), then does its lookups and hashes in it; ``still_wanted``
is asked before each hash starts, so nothing is hashed for a client that left.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import bcrypt

from server.auth.hashing_pool import HashingPool, StillWanted, Turn

_DUMMY_PASSWORD = b"not a password"


def _always() -> bool:
    return True


class PasswordHasher:
    def __init__(self, rounds: int, pool: HashingPool) -> None:
        self._rounds = rounds
        self.pool = pool
        self._dummy_hash: bytes | None = None

    @asynccontextmanager
    async def turn(self, still_wanted: StillWanted = _always) -> AsyncIterator[Hashing]:
        """Wait for a turn at hashing (PoolBusy when the queue is full, ClientGone when the
        client left meanwhile), and hold it for the block."""
        async with self.pool.turn(still_wanted) as turn:
            yield Hashing(self, turn)

    async def hash(self, password: str, *, still_wanted: StillWanted = _always) -> str:
        """A new password's hash, in a turn of its own."""
        async with self.turn(still_wanted) as hashing:
            return await hashing.hash(password)

    async def warm_up(self) -> None:
        """Compute the dummy hash at start rather than during the first sign in."""
        async with self.turn() as hashing:
            await hashing.dummy()

    def close(self) -> None:
        self.pool.close()

    def new_salt(self) -> bytes:
        return bcrypt.gensalt(rounds=self._rounds)


class Hashing:
    """What a request may do during its turn."""

    def __init__(self, hasher: PasswordHasher, turn: Turn) -> None:
        self._hasher = hasher
        self._turn = turn

    async def hash(self, password: str) -> str:
        salt = self._hasher.new_salt()
        hashed = await self._turn.run(bcrypt.hashpw, password.encode("utf-8"), salt)
        return hashed.decode("ascii")

    async def verify(self, password: str, password_hash: str) -> bool:
        return await self._turn.run(
            bcrypt.checkpw, password.encode("utf-8"), password_hash.encode("ascii")
        )

    async def verify_unknown_user(self, password: str) -> None:
        """Spend the time a real check takes, so that an unknown email cannot be told from a
        wrong password by how long sign in takes."""
        await self._turn.run(bcrypt.checkpw, password.encode("utf-8"), await self.dummy())

    async def dummy(self) -> bytes:
        hasher = self._hasher
        if hasher._dummy_hash is None:
            hasher._dummy_hash = await self._turn.run(
                bcrypt.hashpw, _DUMMY_PASSWORD, hasher.new_salt()
            )
        return hasher._dummy_hash
