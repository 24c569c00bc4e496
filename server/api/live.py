"""Telling the live side (sockets) about committed changes, without failing the request.

By the time these run the change is committed; a failure here must not turn a successful
request into an error, so it is logged instead.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable

log = logging.getLogger(__name__)


async def announce(effect: Awaitable[None], what: str) -> None:
    try:
        await effect
    except Exception:
        log.exception("live update failed: %s", what)
