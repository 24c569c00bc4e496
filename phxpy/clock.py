"""The real clock. Tests use :class:`phxpy.testing.FakeClock` instead."""

from __future__ import annotations

import asyncio
import time


class SystemClock:
    """Monotonic seconds and :func:`asyncio.sleep`."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
