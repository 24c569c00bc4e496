"""Sign up, sign in, sign out, and a user's own record."""

from __future__ import annotations

from aiohttp import web

from server import render
from server.api.current_password import confirm, confirmed, read_current_password
from server.api.live import announce
from server.api.peer import address_of, still_connected
from server.api.render import data_response
from server.api.validation import Fields, nested_object, read_json_object
from server.auth.guard import signed_in_user
from server.auth.tokens import issue_token
from server.db import tokens as token_store
from server.db import users as user_store
from server.domain import BLANK, Forbidden, Invalid, Unauthorized, UserChanges, canonical_uuid
from server.keys import CLOCK, DB, PASSWORDS, REALTIME, SETTINGS, THROTTLE
from server.limits import EMAIL_MAX_LENGTH, USERNAME_MAX_LENGTH

# The fields of user_params that need the current password to change.
CREDENTIAL_FIELDS = ("email", "password", "password_hash")


async def sign_up(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    fields = Fields(nested_object(body, "user_params", "user"))
    username = fields.text("username", max_length=USERNAME_MAX_LENGTH)
    email = fields.email()
    password = fields.password()
    fields.check()

    request.app[THROTTLE].sign_up(address_of(request), email, username)
    password_hash = await request.app[PASSWORDS].hash(
        password, still_wanted=still_connected(request)
    )
    now = request.app[CLOCK].now()
    async with request.app[DB].write() as conn:
        user = await user_store.create_user(
            conn, username=username, email=email, password_hash=password_hash, now=now
        )
    token = issue_token(request.app[SETTINGS], user_id=user.id, token_version=0, now=now)
    return data_response({"user": render.user(user), "token": token}, status=201)


async def sign_in(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    fields = Fields(body)
    email = (fields.text("email", max_length=EMAIL_MAX_LENGTH)).lower()
    password = fields.optional_password(required=True, check_strength=False) or ""
    fields.check()

    request.app[THROTTLE].sign_in(address_of(request), email)
    db = request.app[DB]
    # The turn at hashing comes first: in a flood, whoever cannot be served is refused before
    # costing a database lookup.
    async with request.app[PASSWORDS].turn(still_connected(request)) as hashing:
        async with db.read() as conn:
            credentials = await user_store.find_credentials(conn, email)
        # Unknown email and wrong password: same bcrypt work, same 401 body.
        if credentials is None:
            await hashing.verify_unknown_user(password)
            raise Unauthorized()
        if not await hashing.verify(password, credentials.password_hash):
            raise Unauthorized()
    async with db.read() as conn:
        user = await user_store.get_user(conn, credentials.user_id)
    token = issue_token(
        request.app[SETTINGS],
        user_id=user.id,
        token_version=user.token_version,
        now=request.app[CLOCK].now(),
    )
    return data_response({"user": render.user(user), "token": token})


async def sign_out(request: web.Request) -> web.Response:
    caller = signed_in_user(request)
    async with request.app[DB].write() as conn:
        await token_store.revoke_token(
            conn,
            jti=caller.claims.jti,
            user_id=caller.user_id,
            expires_at=caller.claims.expires_at,
            now=request.app[CLOCK].now(),
        )
    await announce(
        request.app[REALTIME].user_sessions_revoked(caller.user_id), "close sockets on sign out"
    )
    return web.Response(status=204)


async def show_user(request: web.Request) -> web.Response:
    user_id = _own_id(request, request.match_info["id"])
    async with request.app[DB].read() as conn:
        user = await user_store.get_user(conn, user_id)
    return data_response(render.user(user))


async def update_user(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    if body.get("id") is None:
        raise Invalid.field("id", BLANK)
    user_id = _own_id(request, body["id"])
    params = nested_object(body, "user_params", "user")
    fields = Fields(params)
    username = fields.optional_text("username", max_length=USERNAME_MAX_LENGTH)
    email = fields.optional_email()
    password = fields.optional_password()
    # The username alone may change with the token; the credentials need the password.
    current = read_current_password(
        body, fields, required=any(name in params for name in CREDENTIAL_FIELDS)
    )
    fields.check()

    password_hash = None
    if current is not None:
        async with confirmed(request, user_id, current) as hashing:
            if password is not None:
                password_hash = await hashing.hash(password)
    now = request.app[CLOCK].now()
    changes = UserChanges(username=username, email=email, password_hash=password_hash)
    async with request.app[DB].write() as conn:
        user = await user_store.update_user(conn, user_id, changes, now=now)
    if password_hash is None:
        return data_response(render.user(user))
    # Every older token, the caller's included, is revoked now; the caller gets a fresh one
    # so that changing the password does not sign out the device that changed it.
    await announce(
        request.app[REALTIME].user_sessions_revoked(user.id), "close sockets on password change"
    )
    token = issue_token(
        request.app[SETTINGS], user_id=user.id, token_version=user.token_version, now=now
    )
    return data_response(render.user(user), token=token)


async def delete_user(request: web.Request) -> web.Response:
    user_id = _own_id(request, request.match_info["id"])
    body = await read_json_object(request)
    fields = Fields(body)
    current = read_current_password(body, fields, required=True)
    fields.check()
    assert current is not None  # required: check() raised if it was missing
    await confirm(request, user_id, current)
    async with request.app[DB].write() as conn:
        await user_store.delete_user(conn, user_id)
    await announce(
        request.app[REALTIME].user_sessions_revoked(user_id), "close sockets of a deleted user"
    )
    return web.Response(status=204)


def _own_id(request: web.Request, given: object) -> str:
    """The caller's id, if ``given`` names it; a user may only touch their own record (403)."""
    caller = signed_in_user(request)
    if canonical_uuid(given) != caller.user_id:
        raise Forbidden()
    return caller.user_id
