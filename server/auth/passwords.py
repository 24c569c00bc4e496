"""bcrypt hashing, off the event loop (it is deliberately slow CPU work)."""

from __future__ import annotations

import asyncio

import bcrypt

# bcrypt reads at most 72 bytes; bcrypt 5 refuses longer input instead of truncating it.
MAX_PASSWORD_BYTES = 72


class PasswordHasher:
    def __init__(self, rounds: int) -> None:
        self._rounds = rounds
        self._dummy_hash: bytes | None = None

    async def hash(self, password: str) -> str:
        salt = bcrypt.gensalt(rounds=self._rounds)
        hashed = await asyncio.to_thread(bcrypt.hashpw, password.encode("utf-8"), salt)
        return hashed.decode("ascii")

    async def verify(self, password: str, password_hash: str) -> bool:
        return await asyncio.to_thread(
            bcrypt.checkpw, password.encode("utf-8"), password_hash.encode("ascii")
        )

    async def verify_unknown_user(self, password: str) -> None:
        """Spend the time a real check takes, so that an unknown email cannot be told from a
        wrong password by how long sign in takes."""
        await asyncio.to_thread(bcrypt.checkpw, password.encode("utf-8"), await self._dummy())

    async def warm_up(self) -> None:
        """Compute the dummy hash at start rather than during the first sign in."""
        await self._dummy()

    async def _dummy(self) -> bytes:
        if self._dummy_hash is None:
            salt = bcrypt.gensalt(rounds=self._rounds)
            self._dummy_hash = await asyncio.to_thread(bcrypt.hashpw, b"not a password", salt)
        return self._dummy_hash
