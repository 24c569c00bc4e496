"""Asking for the current password before an account's credentials change or it is deleted.

A stolen token alone must not be enough to take an account over: changing the email (where the
account's mail goes) or the password, and deleting the account, need the current password in
the request, as ``current_password`` (or ``current_password_hash``, named like sign-up's
``password_hash``, which is the plain password too). Changing only the username does not: it
hands nothing over.

A missing or wrong current password is a 422 on that field, as a changeset error is in
Phoenix, and not a 401: the token is fine, and a client that signs out on 401 must not do so
here. Each check counts against the account's sign-in limit, so a token cannot be used to
guess the password faster than signing in can.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from server.api.peer import still_connected
from server.api.validation import Fields
from server.auth.passwords import Hashing
from server.db import users as user_store
from server.domain import Invalid, NotFound
from server.keys import DB, PASSWORDS, THROTTLE

FIELD = "current_password"
ALIAS = "current_password_hash"
NOT_VALID = "is not valid"


@dataclass(frozen=True, slots=True)
class CurrentPassword:
    field: str
    """The name the client used, for the error message."""
    value: str


def read_current_password(
    body: Mapping[str, Any], fields: Fields, *, required: bool
) -> CurrentPassword | None:
    """The current password from the top level of ``body``; problems go into ``fields``."""
    value = Fields(body, fields.errors).optional_password(
        (FIELD, ALIAS), required=required, check_strength=False
    )
    if value is None:
        return None
    return CurrentPassword(next(name for name in (FIELD, ALIAS) if name in body), value)


@asynccontextmanager
async def confirmed(
    request: web.Request, user_id: str, current: CurrentPassword
) -> AsyncIterator[Hashing]:
    """Check the user's current password (Invalid when wrong, RateLimited when tried too
    often), then hold the turn at hashing for the block (a new password's hash)."""
    async with request.app[DB].read() as conn:
        user = await user_store.get_user(conn, user_id)
        credentials = await user_store.find_credentials(conn, user.email)
    if credentials is None or credentials.user_id != user_id:
        raise NotFound("user")  # deleted or changed meanwhile
    request.app[THROTTLE].password_check(user.email)
    async with request.app[PASSWORDS].turn(still_connected(request)) as hashing:
        if not await hashing.verify(current.value, credentials.password_hash):
            raise Invalid.field(current.field, NOT_VALID)
        yield hashing


async def confirm(request: web.Request, user_id: str, current: CurrentPassword) -> None:
    """Check the user's current password (see :func:`confirmed`)."""
    async with confirmed(request, user_id, current):
        pass
