"""CORS for the REST API: browser apps on the origins in CORS_ORIGINS may call it.

The API's credential is a bearer token in ``Authorization``, never a cookie, so no
``Access-Control-Allow-Credentials`` is needed: a page reads the token from sign in and sends
it itself. A preflight (``OPTIONS`` with ``Access-Control-Request-Method``) from an allowed
origin is answered 204 with the methods and the two headers the API reads; from any other
origin it is refused (403). Answers to allowed origins name that origin, expose
``Retry-After`` (429 and 503) and ``WWW-Authenticate`` (401), and every answer says
``Vary: Origin`` so that a cache keeps them apart. With no CORS_ORIGINS (the default) nothing
here runs: a browser keeps other origins' pages from reading the API.

The socket is not concerned: it has its own Origin check (see server.origins).
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Middleware
from multidict import CIMultiDict

from server.api.errors import error_response
from server.auth.guard import Handler
from server.origins import origin_of

PATHS = ("/api/", "/healthz")
ALLOW_METHODS = "GET, POST, PATCH, DELETE"
ALLOW_HEADERS = "Authorization, Content-Type"
EXPOSE_HEADERS = "Retry-After, WWW-Authenticate"
MAX_AGE_SECONDS = "600"


class CorsPolicy:
    def __init__(self, origins: tuple[str, ...]) -> None:
        self.any_origin = "*" in origins
        self._allowed = frozenset(
            found for found in (origin_of(entry) for entry in origins if entry != "*") if found
        )

    def allows(self, origin: str) -> bool:
        return self.any_origin or origin_of(origin) in self._allowed

    def allow_origin(self, origin: str) -> str:
        """The ``Access-Control-Allow-Origin`` value for an allowed ``origin``."""
        return "*" if self.any_origin else origin


def cors_middleware(origins: tuple[str, ...]) -> Middleware | None:
    """The middleware for CORS_ORIGINS, or None when it is empty."""
    if not origins:
        return None
    policy = CorsPolicy(origins)

    @web.middleware
    async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(PATHS):
            return await handler(request)
        origin = request.headers.get("Origin")
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            return _preflight(policy, origin)
        try:
            response = await handler(request)
        except web.HTTPException as redirect:  # a redirect to the normalized path
            _decorate(redirect.headers, policy, origin)
            raise
        _decorate(response.headers, policy, origin)
        return response

    return cors


def _preflight(policy: CorsPolicy, origin: str | None) -> web.Response:
    if origin is None or not policy.allows(origin):
        response = error_response(403, "Forbidden")
        response.headers["Vary"] = "Origin"
        return response
    response = web.Response(status=204)
    response.headers.update(
        {
            "Access-Control-Allow-Origin": policy.allow_origin(origin),
            "Access-Control-Allow-Methods": ALLOW_METHODS,
            "Access-Control-Allow-Headers": ALLOW_HEADERS,
            "Access-Control-Max-Age": MAX_AGE_SECONDS,
            "Vary": "Origin",
        }
    )
    return response


def _decorate(headers: CIMultiDict[str], policy: CorsPolicy, origin: str | None) -> None:
    vary = headers.get("Vary")
    if not vary:
        headers["Vary"] = "Origin"
    elif "origin" not in vary.lower():
        headers["Vary"] = f"{vary}, Origin"
    if origin is not None and policy.allows(origin):
        headers["Access-Control-Allow-Origin"] = policy.allow_origin(origin)
        headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
