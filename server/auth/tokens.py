"""User tokens: HS256 JWTs with ``sub`` (user id), ``iat``, ``exp``, ``jti`` and ``ver``.

``ver`` is the user's token version when the token was issued; a password change increments
it, which revokes every older token. Sign out revokes one token by its ``jti``.
:func:`authenticate_user_token` is the one check for both REST and the socket.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from server.config import Settings
from server.db import tokens as token_store
from server.db.database import Connection, Database
from server.domain import UserId

ALGORITHM = "HS256"
_REQUIRED_CLAIMS = ["sub", "iat", "exp", "jti", "ver"]


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: UserId
    jti: str
    token_version: int
    issued_at: datetime
    expires_at: datetime


def issue_token(settings: Settings, *, user_id: UserId, token_version: int, now: datetime) -> str:
    issued_at = now.replace(microsecond=0)
    claims = {
        "sub": user_id,
        "iat": _timestamp(issued_at),
        "exp": _timestamp(issued_at + timedelta(seconds=settings.token_ttl_seconds)),
        "jti": str(uuid.uuid4()),
        "ver": token_version,
    }
    return jwt.encode(claims, settings.secret_key, algorithm=ALGORITHM)


def decode_token(settings: Settings, token: str, *, now: datetime) -> TokenClaims | None:
    """The claims of a token signed with our key that has not expired at ``now``; else None.

    Time claims are checked here against ``now`` (the injectable clock), not by PyJWT against
    the system time.
    """
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            settings.secret_key,
            algorithms=[ALGORITHM],
            options={
                "require": _REQUIRED_CLAIMS,
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.PyJWTError:
        return None
    sub, jti, ver, iat, exp = (claims.get(name) for name in ("sub", "jti", "ver", "iat", "exp"))
    if not (isinstance(sub, str) and isinstance(jti, str) and _is_int(ver)):
        return None
    if not (isinstance(ver, int) and isinstance(iat, int) and isinstance(exp, int)):
        return None  # (narrows the types; _is_int has checked the rest)
    if not (_is_int(iat) and _is_int(exp)) or _timestamp(now) >= exp:
        return None
    return TokenClaims(
        user_id=sub,
        jti=jti,
        token_version=ver,
        issued_at=_from_timestamp(iat),
        expires_at=_from_timestamp(exp),
    )


async def verify_user_token(
    conn: Connection, settings: Settings, token: str, *, now: datetime
) -> TokenClaims | None:
    """Signature, expiry and revocation (signed out, password changed, user deleted)."""
    claims = decode_token(settings, token, now=now)
    if claims is None:
        return None
    current = await token_store.token_is_current(
        conn, user_id=claims.user_id, jti=claims.jti, token_version=claims.token_version
    )
    return claims if current else None


async def authenticate_user_token(
    db: Database, settings: Settings, token: str, now: datetime
) -> UserId | None:
    """The user a token belongs to, or None if it is invalid, expired or revoked."""
    claims = await authenticate_token_claims(db, settings, token, now)
    return None if claims is None else claims.user_id


async def authenticate_token_claims(
    db: Database, settings: Settings, token: str, now: datetime
) -> TokenClaims | None:
    """A valid token's claims (what the socket's connect calls: it also needs the expiry),
    or None. A read: it never waits for a writer."""
    if decode_token(settings, token, now=now) is None:
        return None  # no database round trip for garbage
    async with db.read() as conn:
        return await verify_user_token(conn, settings, token, now=now)


# Seconds at the end of year 9999: larger times cannot become a datetime.
_LATEST_TIMESTAMP = 253402300799


def _is_int(value: object) -> bool:
    if not isinstance(value, int) or isinstance(value, bool):
        return False
    return 0 <= value <= _LATEST_TIMESTAMP


def _timestamp(moment: datetime) -> int:
    return int(moment.replace(tzinfo=UTC).timestamp())


def _from_timestamp(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)
