"""Revoked tokens and the revocation check."""

from __future__ import annotations

from datetime import datetime

from server.db.database import Connection
from server.db.sql import Sql
from server.domain import UserId

_REVOKE = Sql(
    """
    INSERT INTO revoked_tokens (jti, user_id, expires_at, revoked_at) VALUES ($1, $2, $3, $4)
    ON CONFLICT (jti) DO NOTHING
    """
)
_PURGE = Sql("DELETE FROM revoked_tokens WHERE expires_at <= $1")
# One round trip: the user's current token version and whether this token was signed out.
_CURRENT = Sql(
    """
    SELECT users.token_version,
           EXISTS (SELECT 1 FROM revoked_tokens WHERE revoked_tokens.jti = $2) AS revoked
    FROM users WHERE users.id = $1
    """
)


async def revoke_token(
    conn: Connection, *, jti: str, user_id: UserId, expires_at: datetime, now: datetime
) -> None:
    """Revoke one token until it would have expired anyway (revoking twice is fine), and drop
    the rows of tokens that have expired meanwhile, which nothing needs any more."""
    await conn.execute(_REVOKE, jti, user_id, expires_at, now)
    await conn.execute(_PURGE, now)


async def token_is_current(
    conn: Connection, *, user_id: UserId, jti: str, token_version: int
) -> bool:
    """Whether a correctly signed, unexpired token still counts: its user exists, it was issued
    under the user's current token version (no password change since), and it was not signed
    out."""
    row = await conn.fetchrow(_CURRENT, user_id, jti)
    return row is not None and row["token_version"] == token_version and not row["revoked"]
