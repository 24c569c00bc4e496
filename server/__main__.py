"""``python -m server``: start the ticket chat with settings from the environment."""

from __future__ import annotations

import logging
import sys

from aiohttp import web

from server.app import create_app
from server.config import ConfigError, Settings
from server.db.database import DatabaseUnavailable
from server.db.schema import SchemaVersionError


def main() -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = Settings.from_env()
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        web.run_app(create_app(settings), host=settings.host, port=settings.port)
    except (SchemaVersionError, DatabaseUnavailable) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
