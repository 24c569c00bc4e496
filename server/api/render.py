"""Phoenix's success envelope for the REST API; the records' shapes are in server.render."""

from __future__ import annotations

from typing import Any

from aiohttp import web


def data_response(payload: Any, *, status: int = 200, **extra: Any) -> web.Response:
    """``{"data": ...}``, as a Phoenix JSON view answers."""
    return web.json_response({"data": payload, **extra}, status=status)
