"""Process facts without psutil: CPU time and RSS from /proc, the fd limit, the machine."""

from __future__ import annotations

import os
import platform
import resource
from pathlib import Path
from typing import Any

_TICKS = os.sysconf("SC_CLK_TCK")


def pin_cores() -> tuple[int | None, int | None]:
    """(server core, load generator core); this process moves to the second one."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        print("warning: fewer than 2 cores, server and load generator are not pinned")
        return None, None
    os.sched_setaffinity(0, {cores[1]})
    return cores[0], cores[1]


def raise_fd_limit() -> int:
    """Raise the soft limit on open files to the hard limit; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (clock-tick resolution, 10 ms)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # the name in (...) may contain spaces
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime


def rss_kib(pid: int) -> int:
    """Resident set size of process ``pid`` (VmRSS) in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def core_seconds(core: int | None) -> tuple[float, float]:
    """(busy, total) seconds of one core since boot, all processes, from /proc/stat; the
    whole machine when ``core`` is None. Busy minus our server's CPU is other tenants' load."""
    name = "cpu" if core is None else f"cpu{core}"
    for line in Path("/proc/stat").read_text().splitlines():
        fields = line.split()
        if fields and fields[0] == name:
            ticks = [int(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal
            idle = ticks[3] + ticks[4]
            return (sum(ticks) - idle) / _TICKS, sum(ticks) / _TICKS
    raise RuntimeError(f"no {name} in /proc/stat")


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine() -> dict[str, Any]:
    try:
        loadavg = Path("/proc/loadavg").read_text().split()[:3]
    except OSError:
        loadavg = []
    try:
        import aiohttp

        aiohttp_version = aiohttp.__version__
    except ImportError:  # pragma: no cover - aiohttp is a dependency
        aiohttp_version = "?"
    return {
        "cpus": os.cpu_count(),
        "loadavg": loadavg,
        "python": platform.python_version(),
        "aiohttp": aiohttp_version,
        "platform": platform.platform(),
    }
