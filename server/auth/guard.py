"""The route guard: who may call a route, checked before its handler runs.

A missing, malformed, expired or revoked credential is 401. A valid credential of the wrong
kind is 403: a user token on a reservation-system route, or the service key on a route that
acts as a signed-in user (the API's rule: 401 for a wrong credential, 403 for a valid one
that is not allowed).
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Awaitable, Callable
from enum import Enum

from aiohttp import web

from server.auth.callers import Caller, ServiceCaller, UserCaller
from server.auth.tokens import decode_token, verify_user_token
from server.domain import Forbidden, Unauthorized
from server.keys import CALLER, CLOCK, DB, SETTINGS

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Access(Enum):
    PUBLIC = "anyone"
    USER = "a signed-in user"
    SERVICE = "the reservation system"
    USER_OR_SERVICE = "a signed-in user or the reservation system"

    def admits(self, caller: Caller) -> bool:
        if self is Access.USER:
            return isinstance(caller, UserCaller)
        if self is Access.SERVICE:
            return isinstance(caller, ServiceCaller)
        return True


def guarded(access: Access, handler: Handler) -> Handler:
    if access is Access.PUBLIC:
        return handler

    @functools.wraps(handler)
    async def guard(request: web.Request) -> web.StreamResponse:
        caller = await identify_caller(request)
        if caller is None:
            raise Unauthorized()
        if not access.admits(caller):
            raise Forbidden()
        request[CALLER] = caller
        return await handler(request)

    return guard


async def identify_caller(request: web.Request) -> Caller | None:
    """The caller named by ``Authorization: Bearer <credential>``, or None."""
    scheme, _, credential = request.headers.get("Authorization", "").strip().partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential:
        return None
    settings = request.app[SETTINGS]
    # Constant-time comparison, on bytes because compare_digest refuses non-ASCII str.
    if hmac.compare_digest(_bytes(credential), _bytes(settings.service_api_key)):
        return ServiceCaller()
    now = request.app[CLOCK].now()
    if decode_token(settings, credential, now=now) is None:
        return None  # no database round trip for garbage
    async with request.app[DB].read() as conn:
        claims = await verify_user_token(conn, settings, credential, now=now)
    return None if claims is None else UserCaller(claims)


def signed_in_user(request: web.Request) -> UserCaller:
    """The user calling a route guarded with Access.USER."""
    caller = request[CALLER]
    if not isinstance(caller, UserCaller):
        raise Forbidden()
    return caller


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")
