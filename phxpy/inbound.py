"""What one connection may make the server do with what it sends.

Every frame a client sends is decoded on the event loop before any application code looks
at it, so the cost of decoding is what a hostile client controls. Two bounds, both checked
before a frame is decoded, keep that cost in proportion:

- **A budget per connection** (:class:`InboundBudget`): frames per second and bytes per
  second, as token buckets holding two seconds' worth (the bytes bucket at least one
  frame of ``max_frame_size``). A frame over budget is not refused: the connection's
  reader waits until the budget has refilled before handling it, and stops reading
  meanwhile, so TCP (or, over LongPoll, the held POST) slows the client down. Nothing is
  dropped and a legitimate burst (phoenix.js rejoining its channels after a reconnect)
  only waits a little; a flood is served at the budget's rate and no faster.
- **A cheap look at a frame's JSON** (:func:`too_many_containers`): what makes JSON slow to
  decode is not its size but the number of values in it (a megabyte of ``[[],[],...]``
  takes a hundred times longer than a megabyte of string). A frame holding more arrays
  and objects than ``max_frame_containers`` is refused before it is decoded, closing the
  connection as an oversized frame does (1009).

Pure: time is an argument.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import FrameTooLarge
from .options import SocketOptions

BURST_SECONDS = 2.0
"""A budget's bucket holds this many seconds of its rate."""

# A JSON string, escapes included; written as an unrolled loop so that long strings are
# skipped in one run of the regex engine, not one alternation per character.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BYTES_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)


def too_many_containers(frame: str | bytes, limit: int) -> bool:
    """Whether the JSON text ``frame`` holds more than ``limit`` arrays and objects.

    Cheap for what clients really send: a frame of at most ``2 * limit`` characters cannot
    hold more (each takes two), and a plain count of brackets (those inside strings
    included) settles nearly every other one. Only a frame whose count is over the limit
    has its strings skipped to count again, so a message full of brackets is not taken for
    deep JSON.
    """
    if len(frame) <= 2 * limit:
        return False
    if isinstance(frame, str):
        if frame.count("[") + frame.count("{") <= limit:
            return False
        outside = _STRING.sub("", frame)
        return outside.count("[") + outside.count("{") > limit
    if frame.count(b"[") + frame.count(b"{") <= limit:
        return False
    rest = _BYTES_STRING.sub(b"", frame)
    return rest.count(b"[") + rest.count(b"{") > limit


class InboundBudget:
    """Frames and bytes per second for one connection; ``None`` leaves that one unbounded.

    :meth:`charge` takes a frame's share and says how long to wait before handling it.
    The buckets may go into debt: a frame is always let through eventually, after the
    time its debt takes to refill.
    """

    __slots__ = (
        "_byte_rate",
        "_byte_tokens",
        "_frame_rate",
        "_frame_tokens",
        "_updated",
        "byte_capacity",
        "frame_capacity",
    )

    def __init__(
        self,
        frames_per_second: float | None,
        bytes_per_second: float | None,
        *,
        max_frame_size: int,
        now: float,
    ) -> None:
        self._frame_rate = frames_per_second
        self._byte_rate = bytes_per_second
        self.frame_capacity = (frames_per_second or 0.0) * BURST_SECONDS
        self.byte_capacity = max((bytes_per_second or 0.0) * BURST_SECONDS, float(max_frame_size))
        self._frame_tokens = self.frame_capacity
        self._byte_tokens = self.byte_capacity
        self._updated = now

    def charge(self, size: int, now: float) -> float:
        """Count one frame of ``size`` bytes; the seconds to wait before handling it (0.0
        when it is within budget)."""
        elapsed = max(0.0, now - self._updated)
        self._updated = max(self._updated, now)
        wait = 0.0
        rate = self._frame_rate
        if rate is not None:
            tokens = min(self.frame_capacity, self._frame_tokens + elapsed * rate) - 1.0
            self._frame_tokens = tokens
            if tokens < 0.0:
                wait = -tokens / rate
        rate = self._byte_rate
        if rate is not None:
            tokens = min(self.byte_capacity, self._byte_tokens + elapsed * rate) - size
            self._byte_tokens = tokens
            if tokens < 0.0:
                wait = max(wait, -tokens / rate)
        return wait


@dataclass(slots=True)
class InboundLimits:
    """One connection's inbound limits: its budget and the JSON check. Made per connection
    (the budget is its state) from the mount's options."""

    budget: InboundBudget | None
    max_containers: int | None

    @classmethod
    def for_connection(cls, options: SocketOptions, now: float) -> InboundLimits | None:
        """A new connection's limits, from its mount's options; ``None`` when nothing is
        limited (no per-frame work at all)."""
        frames, size = options.inbound_frames_per_second, options.inbound_bytes_per_second
        budget = None
        if frames is not None or size is not None:
            budget = InboundBudget(frames, size, max_frame_size=options.max_frame_size, now=now)
        if budget is None and options.max_frame_containers is None:
            return None
        return cls(budget, options.max_frame_containers)

    def admit(self, frame: str | bytes, json: bool, now: float) -> float:
        """Check ``frame`` (``json``: it is JSON text, not an opaque binary payload) and
        charge it; the seconds to wait before handling it. Raises
        :class:`~phxpy.errors.FrameTooLarge` for a frame with too many JSON containers."""
        limit = self.max_containers
        if json and limit is not None and too_many_containers(frame, limit):
            raise FrameTooLarge(f"frame holds more than {limit} JSON arrays and objects")
        budget = self.budget
        return 0.0 if budget is None else budget.charge(len(frame), now)
