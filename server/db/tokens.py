"""Revoked tokens and the revocation check."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from server.db.common import insert_skipping_conflicts
from server.db.schema import revoked_tokens, users
from server.domain import UserId


async def revoke_token(
    conn: AsyncConnection, *, jti: str, user_id: UserId, expires_at: datetime, now: datetime
) -> None:
    """Revoke one token until it would have expired anyway (revoking twice is fine), and drop
    the rows of tokens that have expired meanwhile, which nothing needs any more."""
    row = {"jti": jti, "user_id": user_id, "expires_at": expires_at, "revoked_at": now}
    await conn.execute(insert_skipping_conflicts(conn, revoked_tokens, [row], ["jti"]))
    await conn.execute(delete(revoked_tokens).where(revoked_tokens.c.expires_at <= now))


async def token_is_current(
    conn: AsyncConnection, *, user_id: UserId, jti: str, token_version: int
) -> bool:
    """Whether a correctly signed, unexpired token still counts: its user exists, it was issued
    under the user's current token version (no password change since), and it was not signed
    out. One round trip."""
    revoked = select(revoked_tokens.c.jti).where(revoked_tokens.c.jti == jti).exists()
    query = select(users.c.token_version, revoked.label("revoked")).where(users.c.id == user_id)
    row = (await conn.execute(query)).first()
    return row is not None and row.token_version == token_version and not row.revoked
