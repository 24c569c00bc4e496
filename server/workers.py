"""``WORKERS=N``: N processes of the service on this machine, sharing its port.

A Python process runs on one core; the supervisor (``python -m server`` with ``WORKERS`` above
1, which needs cluster mode) starts N workers (``python -m server --worker``) that each bind
the port with ``SO_REUSEPORT``, so the kernel spreads new connections over them, and each is
a node of the cluster like a process on another machine. The supervisor passes SIGTERM and
SIGINT on to them and waits for them to finish; a worker that dies is started again (after a
second, so that a worker that cannot start does not spin).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from types import FrameType

log = logging.getLogger("server.workers")

RESTART_DELAY = 1.0


def _start(index: int) -> subprocess.Popen[bytes]:
    # The environment is inherited as it is: each worker reads the same settings.
    return subprocess.Popen([sys.executable, "-m", "server", "--worker"])


def supervise(count: int) -> int:
    """Run ``count`` workers until told to stop; returns the exit status."""
    stopping = False
    workers = {index: _start(index) for index in range(count)}
    log.info("started %d workers: %s", count, " ".join(str(p.pid) for p in workers.values()))

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for process in workers.values():
            if process.returncode is None:
                process.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while workers:
        try:
            # Any worker's end wakes the supervisor (a signal's handler runs meanwhile).
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return 0
        index = next((i for i, p in workers.items() if p.pid == pid), None)
        if index is None:
            continue
        process = workers.pop(index)
        process.returncode = os.waitstatus_to_exitcode(status)
        if stopping:
            continue
        log.error(
            "worker %d (pid %d) exited with %s; starting it again",
            index,
            pid,
            process.returncode,
        )
        time.sleep(RESTART_DELAY)
        if not stopping:
            workers[index] = _start(index)
    return 0
