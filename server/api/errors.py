"""The error envelope: every failure leaves as Phoenix-shaped JSON, never as a stack trace."""

from __future__ import annotations

import logging

from aiohttp import web

from server.auth.guard import Handler
from server.auth.hashing_pool import ClientGone, PoolBusy
from server.domain import Conflict, Forbidden, Invalid, NotFound, RateLimited, Unauthorized
from server.ratelimit import retry_after_header

log = logging.getLogger(__name__)

# nginx's name for it: the client closed the connection before the answer. Nobody reads this
# response; the status only tells the access log what happened.
CLIENT_CLOSED_REQUEST = 499


def error_response(status: int, detail: str) -> web.Response:
    return web.json_response({"errors": {"detail": detail}}, status=status)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Invalid as error:
        return web.json_response({"errors": error.errors}, status=422)
    except NotFound:
        return error_response(404, "Not Found")
    except Unauthorized:
        response = error_response(401, "Unauthorized")
        response.headers["WWW-Authenticate"] = "Bearer"
        return response
    except Forbidden:
        return error_response(403, "Forbidden")
    except Conflict as error:
        return error_response(409, error.detail)
    except RateLimited as error:
        response = error_response(429, "Too Many Requests")
        response.headers["Retry-After"] = retry_after_header(error.retry_after)
        return response
    except PoolBusy as error:
        response = error_response(503, "Service Unavailable")
        response.headers["Retry-After"] = retry_after_header(error.retry_after)
        return response
    except ClientGone:
        return error_response(CLIENT_CLOSED_REQUEST, "Client Closed Request")
    except web.HTTPException as error:
        if error.status < 400:
            raise  # redirects pass through
        # aiohttp's own errors (unknown route 404, 405, 413 for a huge body, our 400s).
        response = error_response(error.status, error.reason)
        if "Allow" in error.headers:
            response.headers["Allow"] = error.headers["Allow"]
        return response
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(500, "Internal Server Error")
