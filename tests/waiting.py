"""Waiting for a state that no event announces (a counter, a flag of another component)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def until(check: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    """Return as soon as ``check()`` holds; fail after ``timeout`` seconds. Looks every 10
    ms: the state belongs to code that offers nothing to wait on, and the timeout only bounds
    a failure."""
    try:
        async with asyncio.timeout(timeout):
            while not check():  # noqa: ASYNC110
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"not within {timeout} s: {what or check}") from None
