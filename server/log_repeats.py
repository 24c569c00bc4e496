"""Repeated log lines, kept to a few per interval.

Under attack or overload the same line can come thousands of times a second: asyncio's
accept loop logs a traceback for every ``accept()`` that fails with "Too many open files",
and retries at once, and a flood of refused connections logs a refusal each. Written out,
that is megabytes a second of the same text, which fills the disk and buries everything
else. :class:`RepeatFilter` lets the first few records of a kind through in each interval
and counts the rest; the first record of that kind in a later interval says how many were
left out.

A kind is the logger, the level and the first line of the message before its arguments
are filled in, so ``"refused %s"`` is one kind whatever the address, and so is asyncio's
report of a failing callback whatever its timer says on the next lines. The access log is
not filtered: every request is its own line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

INTERVAL = 60.0
BURST = 10
"""Records of one kind written per interval; more are counted, not written."""
UNFILTERED = frozenset({"aiohttp.access"})
_MAX_KINDS = 10_000
_KEY_LENGTH = 200


@dataclass(slots=True)
class _Kind:
    since: float
    written: int = 0
    left_out: int = 0


class RepeatFilter(logging.Filter):
    def __init__(
        self,
        *,
        interval: float = INTERVAL,
        burst: int = BURST,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.interval = interval
        self.burst = burst
        self._clock = clock
        self._kinds: dict[tuple[str, int, str], _Kind] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name in UNFILTERED:
            return True
        now = self._clock()
        key = (record.name, record.levelno, str(record.msg).split("\n", 1)[0][:_KEY_LENGTH])
        kind = self._kinds.get(key)
        if kind is None:
            if len(self._kinds) >= _MAX_KINDS:
                self._kinds.clear()  # a flood of distinct messages: start counting afresh
            kind = self._kinds[key] = _Kind(now)
        elif now - kind.since >= self.interval:
            if kind.left_out:
                record.msg = (
                    f"{record.getMessage()} ({kind.left_out} more like this in the last "
                    f"{now - kind.since:.0f} s were not logged)"
                )
                record.args = ()
            kind.since, kind.written, kind.left_out = now, 0, 0
        if kind.written >= self.burst:
            kind.left_out += 1
            return False
        kind.written += 1
        if kind.written == self.burst:
            rest = self.interval - (now - kind.since)
            record.msg = f"{record.getMessage()} (more like this in the next {rest:.0f} s: counted)"
            record.args = ()
        return True
