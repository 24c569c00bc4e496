"""The other end of a request: its client's address, and whether it is still there."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from server.client_ip import address_key, client_address
from server.keys import SETTINGS


def address_of(request: web.Request) -> str:
    """The key of the client's address for per-address limits (see server.client_ip)."""
    address = client_address(
        request.remote,
        request.headers.getall("X-Forwarded-For", []),
        request.app[SETTINGS].trusted_proxies,
    )
    return address_key(address)


def still_connected(request: web.Request) -> Callable[[], bool]:
    """Asks whether the client still waits for an answer (its connection is open)."""

    def check() -> bool:
        transport = request.transport
        return transport is not None and not transport.is_closing()

    return check
