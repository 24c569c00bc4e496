"""Users: sign up, look up, update, delete."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from server.db.common import AnyRow, new_id, violates
from server.db.schema import users
from server.domain import TAKEN, Credentials, Invalid, NotFound, User, UserChanges, UserId

# password_hash is deliberately absent: it leaves this module only inside Credentials.
USER_COLUMNS = (
    users.c.id,
    users.c.username,
    users.c.email,
    users.c.token_version,
    users.c.inserted_at,
    users.c.updated_at,
)


def user_from_row(row: AnyRow) -> User:
    return User(
        id=row.id,
        username=row.username,
        email=row.email,
        token_version=row.token_version,
        inserted_at=row.inserted_at,
        updated_at=row.updated_at,
    )


async def create_user(
    conn: AsyncConnection, *, username: str, email: str, password_hash: str, now: datetime
) -> User:
    """Store a new user; raises Invalid when the username or email is taken."""
    await _check_unique(conn, username=username, email=email, except_id=None)
    user = User(
        id=new_id(),
        username=username,
        email=email,
        token_version=0,
        inserted_at=now,
        updated_at=now,
    )
    try:
        await conn.execute(
            insert(users).values(
                id=user.id,
                username=username,
                email=email,
                password_hash=password_hash,
                token_version=0,
                inserted_at=now,
                updated_at=now,
            )
        )
    except IntegrityError as error:
        # Lost a race with a concurrent sign up that passed the same check.
        raise _taken(error) from None
    return user


async def get_user(conn: AsyncConnection, user_id: UserId) -> User:
    row = (await conn.execute(select(*USER_COLUMNS).where(users.c.id == user_id))).first()
    if row is None:
        raise NotFound("user")
    return user_from_row(row)


async def user_exists(conn: AsyncConnection, user_id: UserId) -> bool:
    row = (await conn.execute(select(users.c.id).where(users.c.id == user_id))).first()
    return row is not None


async def find_credentials(conn: AsyncConnection, email: str) -> Credentials | None:
    row = (
        await conn.execute(select(users.c.id, users.c.password_hash).where(users.c.email == email))
    ).first()
    return None if row is None else Credentials(user_id=row.id, password_hash=row.password_hash)


async def update_user(
    conn: AsyncConnection, user_id: UserId, changes: UserChanges, *, now: datetime
) -> User:
    """Apply a partial update. A new password also increments ``token_version``, which
    revokes every token issued before it (in the same statement, so no token slips through)."""
    values: dict[str, Any] = {}
    if changes.username is not None:
        values["username"] = changes.username
    if changes.email is not None:
        values["email"] = changes.email
    if changes.password_hash is not None:
        values["password_hash"] = changes.password_hash
        values["token_version"] = users.c.token_version + 1
    if not values:
        return await get_user(conn, user_id)
    await _check_unique(conn, username=changes.username, email=changes.email, except_id=user_id)
    values["updated_at"] = now
    statement = update(users).where(users.c.id == user_id).values(**values).returning(*USER_COLUMNS)
    try:
        row = (await conn.execute(statement)).first()
    except IntegrityError as error:
        raise _taken(error) from None
    if row is None:
        raise NotFound("user")
    return user_from_row(row)


async def delete_user(conn: AsyncConnection, user_id: UserId) -> None:
    """Delete the user. Their tickets stay (unassigned, still used), their messages stay with
    the username snapshot, their notifications and revoked tokens go."""
    result = await conn.execute(delete(users).where(users.c.id == user_id))
    if result.rowcount == 0:
        raise NotFound("user")


async def _check_unique(
    conn: AsyncConnection, *, username: str | None, email: str | None, except_id: UserId | None
) -> None:
    conditions = []
    if username is not None:
        conditions.append(users.c.username == username)
    if email is not None:
        conditions.append(users.c.email == email)
    if not conditions:
        return
    query = select(users.c.username, users.c.email).where(or_(*conditions))
    if except_id is not None:
        query = query.where(users.c.id != except_id)
    errors: dict[str, list[str]] = {}
    for row in await conn.execute(query):
        if username is not None and row.username == username:
            errors["username"] = [TAKEN]
        if email is not None and row.email == email:
            errors["email"] = [TAKEN]
    if errors:
        raise Invalid(errors)


def _taken(error: IntegrityError) -> Exception:
    if violates(error, "uq_users_email", "users.email"):
        return Invalid.field("email", TAKEN)
    if violates(error, "uq_users_username", "users.username"):
        return Invalid.field("username", TAKEN)
    return error
