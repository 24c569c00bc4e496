"""What both transports check before a session exists: origin, vsn, connect, id."""

from __future__ import annotations

import base64
import binascii
import logging
import time
from dataclasses import dataclass

from aiohttp import web

from ..endpoint import Endpoint
from ..errors import ConnectRefused
from ..options import SocketOptions
from ..origin import OriginPolicy
from ..params import parse_params
from ..serializer import Serializer, for_vsn
from ..socket import ConnectInfo, Socket
from ..telemetry import SocketConnected
from ..types import Params

log = logging.getLogger("phxpy.transport")

AUTH_TOKEN_PREFIX = "base64url.bearer.phx."


@dataclass(slots=True)
class Accepted:
    socket: Socket
    serializer: Serializer
    params: Params


class Refused(Exception):
    """The connection is refused with this HTTP status."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def decode_auth_token(encoded: str) -> str:
    """Decode the token phoenix.js puts after ``base64url.bearer.phx.``.

    phoenix.js writes it with ``btoa`` (standard alphabet, padding stripped) despite the
    name; other clients use the URL-safe alphabet. Both are accepted, padded or not.
    """
    standard = encoded.replace("-", "+").replace("_", "/")
    try:
        raw = base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise Refused(403, "auth token is not base64") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")  # btoa() encodes Latin-1 strings


class Handshake:
    """The checks of Phoenix's ``Transport.connect``, in Phoenix's order."""

    def __init__(self, endpoint: Endpoint, socket: type[Socket], options: SocketOptions) -> None:
        self.endpoint = endpoint
        self.socket_class = socket
        self.options = options
        self.origin = OriginPolicy(options.check_origin)

    def check_origin(self, request: web.Request) -> None:
        if not self.origin.allows(request.headers.get("Origin"), request.host):
            raise Refused(403, "origin not allowed")

    async def connect(
        self,
        request: web.Request,
        transport: str,
        params: Params,
        auth_token: str | None,
    ) -> Accepted:
        serializer = for_vsn(params.get("vsn"))
        if serializer is None:
            raise Refused(403, f"unsupported vsn {params.get('vsn')!r}")
        if self.endpoint.draining:
            raise Refused(503, "server shutting down")
        started = time.perf_counter()
        try:
            accepted = await self._connect(request, transport, params, auth_token, serializer)
        except Refused as refused:
            self._connected(transport, "refused", refused.status, started)
            raise
        self._connected(transport, "ok", None, started)
        return accepted

    def _connected(self, transport: str, result: str, status: int | None, started: float) -> None:
        telemetry = self.endpoint.telemetry
        if telemetry.wants(SocketConnected):
            duration = time.perf_counter() - started
            event = SocketConnected(transport, self.socket_class, result, status, duration)
            telemetry.emit(event)

    async def _connect(
        self,
        request: web.Request,
        transport: str,
        params: Params,
        auth_token: str | None,
        serializer: Serializer,
    ) -> Accepted:
        socket = self.socket_class(self.endpoint, transport, request.app)
        info = ConnectInfo(
            transport=transport,
            peer=request.remote,
            headers=request.headers,
            auth_token=auth_token,
            uri=str(request.rel_url),
            request=request,
        )
        try:
            accepted = await socket.connect(params, info)
        except ConnectRefused as exc:
            raise Refused(exc.status, str(exc)) from None
        if not accepted:
            raise Refused(403, "connect refused")
        socket_id = socket.id()
        if socket_id is not None and not isinstance(socket_id, str):
            log.error(
                "%s.id() must return a string or None, got %r", type(socket).__name__, socket_id
            )
            raise Refused(403, "invalid socket id")
        return Accepted(socket, serializer, params)


def query_params(request: web.Request) -> Params:
    return parse_params(request.query_string)
