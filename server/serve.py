"""Running the service: the TCP server in front of the app, and its orderly stop.

``python -m server`` calls :func:`serve`. What it adds to aiohttp's ``run_app``:

- **Connections are counted as they are accepted** (:mod:`server.connections`): per client
  address and in all, so that neither one client nor a crowd can take every open file.
  The open-file limit is raised to its hard limit first (a soft limit of 1,024 is common).
- **Slow request headers are cut short:** a connection has ``HTTP_HEADER_TIMEOUT`` seconds to
  send a complete request's headers, after it opened or after its previous response;
  otherwise it is closed. That is aiohttp's keep-alive timer, which runs from the moment a
  connection opens and closes it if no complete request has arrived by then; a request
  being handled (a WebSocket, a long poll) is never cut.
- **Bodies that are refused are not read:** a request answered before its body was read
  (over the size limit, or refused for another reason) has its connection closed, not its
  body read to the end and thrown away (aiohttp's "lingering"), which a client streaming
  megabytes could make the server do at its own pace.
- **SIGTERM (and SIGINT) stop it in order:** stop accepting; close the sockets with 1012,
  spread over ``SHUTDOWN_DRAIN_SECONDS`` so that clients do not all reconnect at the same
  moment, while every socket still open goes on being served (a message it posts is stored
  and acknowledged); wait for the requests under way; then store every message already
  accepted, and close the database. Give the process that long and a few seconds more
  before anything kills it.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import signal
import socket

from aiohttp import web

import phxpy
from server.config import Settings
from server.connection_limits import DESCRIPTOR_RESERVE
from server.connections import ConnectionGuard
from server.logs import AccessLogger
from server.metrics.route import METRICS

log = logging.getLogger("server")

BACKLOG = 1024
MAX_OPEN_FILES = 1 << 20
"""How far the soft open-file limit is raised when the hard one is unlimited."""
REQUESTS_GRACE = 10.0
"""Seconds the stop waits, after the drain, for requests still under way."""


def raise_open_file_limit() -> int:
    """Raise the soft open-file limit to the hard one; the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = MAX_OPEN_FILES if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError) as error:
            log.warning("could not raise the open-file limit from %d: %s", soft, error)
            return soft
        log.info("open-file limit raised from %d to %d", soft, wanted)
        return wanted
    return MAX_OPEN_FILES if soft == resource.RLIM_INFINITY else soft


def configure_collector(settings: Settings) -> None:
    """The garbage collector's young threshold (``GC_YOUNG_THRESHOLD``; 0: Python's own).
    With thousands of sockets, Python's default makes full collections, pauses of hundreds
    of milliseconds for everyone, come every few seconds under load: see
    :mod:`phxpy.collector`."""
    if settings.gc_young_threshold:
        phxpy.tune_collector(settings.gc_young_threshold)


def connection_cap(settings: Settings, open_files: int) -> int:
    """MAX_CONNECTIONS, or the open files left after the database and a reserve."""
    configured = settings.connection_limits.max_connections
    if configured is not None:
        return configured
    return max(1, open_files - DESCRIPTOR_RESERVE - settings.database_pool_size)


async def serve(
    app: web.Application, settings: Settings, *, guard: ConnectionGuard | None = None
) -> None:
    """Serve ``app`` until SIGTERM or SIGINT, then stop in order (module docstring)."""
    limits = settings.connection_limits
    if guard is None:
        total = connection_cap(settings, raise_open_file_limit())
        guard = ConnectionGuard(
            per_address=limits.connections_per_ip,
            total=total,
            trusted_proxies=settings.trusted_proxies,
        )
    if METRICS in app:
        guard.on_refused = app[METRICS].limit_hit
    runner = web.AppRunner(
        app,
        handle_signals=False,
        access_log_class=AccessLogger,
        keepalive_timeout=float(limits.header_timeout),
        # A body the service answered without reading (too big, or refused before it was
        # needed) is not read to its end to be thrown away: the connection is closed.
        lingering_time=0,
        shutdown_timeout=REQUESTS_GRACE,
    )
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    server: asyncio.Server | None = None
    try:
        await runner.setup()  # the app's startup: the database, the chat
        assert runner.server is not None
        server = await loop.create_server(
            guard.protocol_factory(runner.server),
            settings.host,
            settings.port,
            family=socket.AF_UNSPEC,
            backlog=BACKLOG,
            reuse_address=True,
            # WORKERS processes share the port: the kernel spreads connections over them.
            reuse_port=settings.workers > 1 or None,
        )
        log.info(
            "Running on http://%s:%d (at most %d connections, %d per address)",
            settings.host,
            settings.port,
            guard.total,
            guard.per_address,
        )
        await stop.wait()
        log.info(
            "stopping: no new connections; closing sockets over %d s",
            settings.shutdown_drain_seconds,
        )
    finally:
        if server is not None:
            server.close()
        await runner.cleanup()  # drain (on_shutdown), requests, then the app's cleanup
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    log.info("stopped")
