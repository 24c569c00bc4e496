"""``python -m server``: start the ticket chat with settings from the environment."""

from __future__ import annotations

import asyncio
import logging
import sys

from aiohttp import web

from server.app import create_app
from server.config import ConfigError, Settings
from server.db.database import DatabaseUnavailable
from server.db.schema import SchemaVersionError
from server.keys import SETTINGS
from server.logs import configure_logging
from server.serve import configure_collector, serve
from server.workers import supervise

log = logging.getLogger("server")


async def _announce_address(app: web.Application) -> None:
    settings = app[SETTINGS]
    log.info(
        "starting on http://%s:%d (public URL %s)",
        settings.host,
        settings.port,
        settings.public_origin,
    )


def main(argv: list[str] | None = None) -> int:
    worker = "--worker" in (sys.argv[1:] if argv is None else argv)
    try:
        settings = Settings.from_env()
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    configure_logging(settings)
    if settings.workers > 1 and not worker:
        return supervise(settings.workers)
    configure_collector(settings)
    app = create_app(settings)
    app.on_startup.append(_announce_address)
    try:
        asyncio.run(serve(app, settings))
    except (SchemaVersionError, DatabaseUnavailable) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
