"""Users: sign up, look up, update, delete."""

from __future__ import annotations

from datetime import datetime

from server.db.common import new_id
from server.db.database import Connection, IntegrityError, Row
from server.db.sql import Sql
from server.domain import TAKEN, Credentials, Invalid, NotFound, User, UserChanges, UserId

# password_hash is deliberately absent: it leaves this module only inside Credentials.
_USER_COLUMNS = "id, username, email, token_version, inserted_at, updated_at"

_INSERT = Sql(
    """
    INSERT INTO users (id, username, email, password_hash, token_version, inserted_at, updated_at)
    VALUES ($1, $2, $3, $4, 0, $5, $5)
    """
)
_GET = Sql(f"SELECT {_USER_COLUMNS} FROM users WHERE id = $1")
_CREDENTIALS = Sql("SELECT id, password_hash FROM users WHERE email = $1")
_TAKEN = Sql(
    """
    SELECT username, email FROM users
    WHERE (username = $1 OR email = $2) AND (CAST($3 AS TEXT) IS NULL OR id <> $3)
    """
)
# One statement for any partial update: a NULL parameter keeps the column. A new password
# also increments token_version, which revokes every token issued before it (in the same
# statement, so no token slips through).
_UPDATE = Sql(
    f"""
    UPDATE users SET
        username = coalesce($2, username),
        email = coalesce($3, email),
        password_hash = coalesce($4, password_hash),
        token_version = token_version + (CASE WHEN CAST($4 AS TEXT) IS NULL THEN 0 ELSE 1 END),
        updated_at = $5
    WHERE id = $1
    RETURNING {_USER_COLUMNS}
    """
)
_DELETE = Sql("DELETE FROM users WHERE id = $1")


def user_from_row(row: Row) -> User:
    return User(
        id=row["id"],
        username=row["username"],
        email=row["email"],
        token_version=row["token_version"],
        inserted_at=row["inserted_at"],
        updated_at=row["updated_at"],
    )


async def create_user(
    conn: Connection, *, username: str, email: str, password_hash: str, now: datetime
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
        await conn.execute(_INSERT, user.id, username, email, password_hash, now)
    except IntegrityError as error:
        # Lost a race with a concurrent sign up that passed the same check.
        raise _taken(error) from None
    return user


async def get_user(conn: Connection, user_id: UserId) -> User:
    row = await conn.fetchrow(_GET, user_id)
    if row is None:
        raise NotFound("user")
    return user_from_row(row)


async def find_credentials(conn: Connection, email: str) -> Credentials | None:
    row = await conn.fetchrow(_CREDENTIALS, email)
    if row is None:
        return None
    return Credentials(user_id=row["id"], password_hash=row["password_hash"])


async def update_user(
    conn: Connection, user_id: UserId, changes: UserChanges, *, now: datetime
) -> User:
    """Apply a partial update; a new password revokes every older token."""
    if changes.username is None and changes.email is None and changes.password_hash is None:
        return await get_user(conn, user_id)
    await _check_unique(conn, username=changes.username, email=changes.email, except_id=user_id)
    try:
        row = await conn.fetchrow(
            _UPDATE, user_id, changes.username, changes.email, changes.password_hash, now
        )
    except IntegrityError as error:
        raise _taken(error) from None
    if row is None:
        raise NotFound("user")
    return user_from_row(row)


async def delete_user(conn: Connection, user_id: UserId) -> None:
    """Delete the user. Their tickets stay (unassigned, still used), their messages stay with
    the username snapshot, their notifications and revoked tokens go."""
    if await conn.execute(_DELETE, user_id) == 0:
        raise NotFound("user")


async def _check_unique(
    conn: Connection, *, username: str | None, email: str | None, except_id: UserId | None
) -> None:
    if username is None and email is None:
        return
    errors: dict[str, list[str]] = {}
    for row in await conn.fetch(_TAKEN, username, email, except_id):
        if username is not None and row["username"] == username:
            errors["username"] = [TAKEN]
        if email is not None and row["email"] == email:
            errors["email"] = [TAKEN]
    if errors:
        raise Invalid(errors)


def _taken(error: IntegrityError) -> Exception:
    if error.violates("uq_users_email", "users.email"):
        return Invalid.field("email", TAKEN)
    if error.violates("uq_users_username", "users.username"):
        return Invalid.field("username", TAKEN)
    return error
