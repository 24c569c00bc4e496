"""Secrets that a development setup generates on first start and keeps in files.

The service key and the JWT signing key must survive restarts (otherwise every token and the
reservation system's key would change), so with no value in the environment the service keeps
them in files beside the SQLite database, readable only by their owner.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

MIN_SECRET_LENGTH = 32


def load_or_create_secret(path: Path) -> tuple[str, bool]:
    """Return the secret stored at ``path`` and whether this call created it.

    Creation uses O_EXCL, so two processes starting at once agree on one value.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip(), False
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(value + "\n")
    return value, True
