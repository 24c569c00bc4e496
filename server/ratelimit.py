"""Rate limits as token buckets, one per key (an email, an IP address...).

A :class:`Rate` of ``10/5m`` lets a key make 10 attempts at once, then one more every 30 s:
the bucket holds ``count`` tokens and refills ``count`` of them per ``seconds``. Time comes
from a function of the caller (the service passes its clock), so tests move it by hand.

The table of buckets is bounded (``max_keys``): an attacker who varies the key (random
emails) cannot grow memory without limit. When full, the least recently touched bucket is
forgotten; it is the one most likely to have refilled already.
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_MAX_KEYS = 100_000

_RATE = re.compile(r"\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", re.IGNORECASE)
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600}


@dataclass(frozen=True, slots=True)
class Rate:
    count: int
    """Attempts a key may make at once (the bucket's size)."""
    seconds: float
    """How long the bucket takes to refill from empty."""

    def __str__(self) -> str:
        return f"{self.count}/{self.seconds:g}s"


def parse_rate(text: str) -> Rate | None:
    """``"10/5m"``, ``"300/60"`` (seconds), ``"5/1h"``; ``"off"`` for no limit (None).

    Raises ValueError for anything else."""
    if text.strip().lower() == "off":
        return None
    found = _RATE.fullmatch(text)
    if found is None:
        raise ValueError(f"expected COUNT/DURATION such as 10/5m, or off, got {text!r}")
    count = int(found.group(1))
    seconds = float(found.group(2)) * _UNIT_SECONDS[found.group(3).lower()]
    if count < 1 or seconds <= 0:
        raise ValueError(f"count and duration must be positive, got {text!r}")
    return Rate(count, seconds)


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets keyed by string. ``rate=None`` never limits."""

    def __init__(
        self,
        rate: Rate | None,
        *,
        now: Callable[[], float],
        max_keys: int = DEFAULT_MAX_KEYS,
    ) -> None:
        self.rate = rate
        self._now = now
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def wait_time(self, key: str) -> float:
        """Seconds until ``key`` may make an attempt; 0 when it may now."""
        if self.rate is None:
            return 0.0
        tokens = self._tokens(key, self._now())
        if tokens >= 1:
            return 0.0
        return (1 - tokens) * self.rate.seconds / self.rate.count

    def take(self, key: str) -> None:
        """Count one attempt of ``key`` (call after :meth:`wait_time` said 0)."""
        if self.rate is None:
            return
        now = self._now()
        bucket = _Bucket(max(self._tokens(key, now) - 1, 0.0), now)
        self._buckets[key] = bucket
        self._buckets.move_to_end(key)
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)

    def __len__(self) -> int:
        return len(self._buckets)

    def _tokens(self, key: str, now: float) -> float:
        assert self.rate is not None
        bucket = self._buckets.get(key)
        if bucket is None:
            return float(self.rate.count)
        # max(0, ...): a clock set back must not drain the bucket.
        elapsed = max(now - bucket.updated, 0.0)
        refilled = bucket.tokens + elapsed * self.rate.count / self.rate.seconds
        return min(refilled, float(self.rate.count))


def retry_after_header(seconds: float) -> str:
    """The value of a ``Retry-After`` header: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
