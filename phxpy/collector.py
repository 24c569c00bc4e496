"""Python's garbage collector in a server holding thousands of connections.

CPython collects its youngest generation every 700 net allocations of container objects. A
broadcast to thousands of sockets allocates far more than that in one go, so objects that
live only while it is under way (frames queued for a socket, callbacks, futures) are found
alive by several young collections, promoted to the oldest generation, and die there. The
oldest generation then grows by a quarter much sooner than the application's own state does,
and each time it does, a full collection walks every object of every connection: hundreds
of milliseconds with a few thousand members, during which no one is served.

:func:`tune_collector` raises the youngest generation's threshold so that such objects die
young. It is the application's call, not the library's (the collector is the whole
process's): an app with many connections calls it once at start.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000
"""Allocations between young collections; Python's default is 700."""
MIDDLE_THRESHOLD = 20
OLD_THRESHOLD = 10


def tune_collector(young: int = YOUNG_THRESHOLD) -> None:
    """Collect the youngest generation every ``young`` allocations (and the middle one every
    20 young collections). Memory grows by the garbage of ``young`` allocations at most;
    nothing is left uncollected."""
    if young < 1:
        raise ValueError("young must be at least 1")
    gc.set_threshold(young, MIDDLE_THRESHOLD, OLD_THRESHOLD)
