"""Names for the shapes that travel through phxpy.

A payload is whatever JSON value a client sent (phoenix.js always sends an object) or, on
the V2 serializer, raw ``bytes`` from a binary frame.
"""

from __future__ import annotations

from typing import Any, Protocol

Topic = str
Event = str
Ref = str | None
JoinRef = str | None
Payload = Any
"""A decoded JSON value, or ``bytes`` for a binary payload."""

Params = dict[str, Any]
"""Connect parameters, parsed from the query string with Plug's bracket rules."""


class Clock(Protocol):
    """Monotonic time for timeouts. Tests inject a fake one (see :mod:`phxpy.testing`)."""

    def now(self) -> float:
        """Seconds on a monotonic scale."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return once ``now()`` has advanced by ``seconds``."""
        ...
