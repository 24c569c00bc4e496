"""The LongPoll transport: ``GET/POST/OPTIONS <mount>/longpoll`` on aiohttp.

What phoenix.js 1.7 and 1.8 expect (docs/phoenix-compatibility.md, "LongPoll"): every answer
is HTTP 200 with the protocol status inside the JSON body (phoenix.js ignores the HTTP
status)::

    GET  without a live session   → {"messages":[],"status":410,"token":T}  (new session)
    GET  with one                 → {"messages":[...],"status":200,"token":T} or 204 after
                                    the window
    POST ndjson frames            → {"status":200} | 408 | 410
    refused origin / connect      → {"status":403}

POST bodies phoenix.js never sends get a real HTTP error with the same JSON shape and a
``reason``: 413 for a body over ``longpoll_max_body`` or a frame over ``max_frame_size``
(the session is untouched); 429 for a POST beyond ``longpoll_max_posts`` in progress on one
session (refused before its body is read); 400 for one that is not frames (not UTF-8, bad
base64, a frame that does not decode), which also ends the session, as such a frame closes
a WebSocket with 1011. phoenix.js answers any POST status but 200 by reconnecting. Sessions
and their tokens: :mod:`.longpoll_session`, :mod:`.session_token`.

With ``SocketOptions.longpoll_relay`` (several nodes), a request whose token names another
node's session is carried to that node and answered with what it says; when the owner does
not confirm the session in time, it is answered as for a dead session
(:mod:`phxpy.longpoll_relay`).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Awaitable, Mapping
from typing import Any

from aiohttp import web

from ..endpoint import Endpoint
from ..longpoll_relay import ForwardedRequest, ForwardedResponse, session_owner
from ..options import SocketOptions
from ..params import parse_params
from ..socket import Socket
from ..telemetry import LimitHit
from ..types import Params
from .handshake import Handshake, Refused
from .longpoll_session import LongPollSession, PublishError, State
from .session_token import SessionSigner

log = logging.getLogger("phxpy.longpoll")

TOKEN_HEADER = "X-Phoenix-Longpoll-Token"
AUTH_TOKEN_HEADER = "X-Phoenix-AuthToken"
NDJSON = "application/x-ndjson"

_HEADERS = {
    "access-control-allow-origin": "*",
    # 1.8.10+: a cached poll answer would replay old messages or a dead token.
    "cache-control": "no-store",
}
_JSON = "application/json"


def _json(body: dict[str, Any], http_status: int = 200) -> web.Response:
    return web.Response(
        status=http_status,
        body=json.dumps(body, separators=(",", ":")).encode("utf-8"),
        content_type=_JSON,
        charset="utf-8",
        headers=_HEADERS,
    )


def _status(status: int, http_status: int = 200, reason: str | None = None) -> web.Response:
    body: dict[str, Any] = {"status": status}
    if reason is not None:
        body["reason"] = reason
    return _json(body, http_status)


def _poll_response(status: int, token: str, messages: list[str]) -> web.Response:
    # Keys in Phoenix's (sorted) order. Each message is a frame's JSON text, itself
    # JSON-encoded as a string: phoenix.js parses the response, then each message.
    encoded = ",".join(json.dumps(text, ensure_ascii=False) for text in messages)
    body = f'{{"messages":[{encoded}],"status":{status},"token":{json.dumps(token)}}}'
    return web.Response(
        status=200,
        body=body.encode("utf-8"),
        content_type=_JSON,
        charset="utf-8",
        headers=_HEADERS,
    )


class BadBody(Exception):
    """The POST body is not a list of frames."""


class FrameTooBig(Exception):
    """A frame of the POST body is over ``max_frame_size``."""


def split_frames(
    body: bytes, content_type: str, max_lines: int, max_frame_size: int | None = None
) -> list[str | bytes]:
    """The frames of a POST body, at most ``max_lines`` of them, each at most
    ``max_frame_size`` bytes (else :class:`FrameTooBig`), as over a WebSocket.

    ndjson (what phoenix.js sends): one frame per line; a line starting with ``[`` (V2) or
    ``{`` (V1) is a text frame, any other a binary frame in standard base64. With another
    content type Phoenix takes the whole body as one text frame (V1 clients send
    ``application/json``); phxpy does too when the body is one JSON document, and splits
    lines otherwise (phoenix.js 1.7.22 sends ``Content-Type: [object Object]``).
    Raises :class:`BadBody` or :class:`FrameTooBig`.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadBody("body is not UTF-8") from None
    limit = max_frame_size
    if content_type != NDJSON and _is_one_json_document(text):
        if limit is not None and len(body) > limit:
            raise FrameTooBig(f"a frame is larger than {limit} bytes")
        return [text]
    lines = [line.rstrip("\r") for line in text.split("\n")]
    frames: list[str | bytes] = []
    for number, line in enumerate((line for line in lines if line.strip()), start=1):
        if number > max_lines:
            log.info("longpoll POST with more than %d frames: the rest ignored", max_lines)
            break
        frame: str | bytes = line
        if line[:1] in ("[", "{"):
            # Encoded only when it might be over: UTF-8 takes at most 4 bytes a character.
            over = limit is not None and len(line) * 4 > limit and len(line.encode()) > limit
        else:
            try:
                frame = base64.b64decode(line, validate=True)
            except (binascii.Error, ValueError):
                raise BadBody(f"line {number} is neither a JSON frame nor base64") from None
            over = limit is not None and len(frame) > limit
        if over:
            raise FrameTooBig(f"a frame is larger than {limit} bytes")
        frames.append(frame)
    return frames


def _is_one_json_document(text: str) -> bool:
    if "\n" not in text.strip():
        return text.lstrip()[:1] in ("[", "{")
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def find_session_token(headers: Mapping[str, str], params: Params) -> str | None:
    """The session token of a request: the header (Phoenix main) wins, else the ``token``
    param — the **last** one, which is where phoenix.js appends it, after the app's own
    params (``?token=<user>&vsn=2.0.0&token=<session>``)."""
    header = headers.get(TOKEN_HEADER)
    if header:
        return header
    token = params.get("token")
    return token if isinstance(token, str) else None


async def read_body(request: web.Request, limit: int) -> bytes | None:
    """The request body, or ``None`` when it is larger than ``limit`` bytes. Read by hand:
    aiohttp's ``read()`` has its own limit (``client_max_size``, 1 MiB by default)."""
    length = request.content_length
    if length is not None and length > limit:
        return None
    body = bytearray()
    async for chunk in request.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


class LongPollTransport:
    """The aiohttp handler for ``<mount>/longpoll`` and the registry of its sessions."""

    def __init__(
        self,
        endpoint: Endpoint,
        socket: type[Socket],
        options: SocketOptions,
        *,
        path: str = "/longpoll",
    ) -> None:
        self.endpoint = endpoint
        self.options = options
        self.handshake = Handshake(endpoint, socket, options)
        relay = options.longpoll_relay
        self.signer = SessionSigner(options.secret_key, node=relay.node if relay else None)
        self.sessions: dict[str, LongPollSession] = {}
        self.path = path
        if relay is not None:
            relay.serve(path, self.serve_forwarded)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        method = request.method
        if method not in ("GET", "POST", "OPTIONS"):
            return web.Response(status=400)
        try:
            self.handshake.check_origin(request)
        except Refused as refused:
            log.info("longpoll refused: %s", refused)
            return _status(403)
        if method == "OPTIONS":
            return _preflight()
        params = parse_params(request.query_string)
        token = find_session_token(request.headers, params)
        session_id = self.signer.verify(token)
        session = self.sessions.get(session_id) if session_id is not None else None
        if session is None and session_id is not None and token is not None:
            forwarded = await self._forward(request, session_id, token)
            if forwarded is not None:
                return forwarded
        if method == "POST":
            return await self._publish(request, session)
        if session is not None:
            return await self._poll(session)
        # As in Phoenix, connect sees the query as it is, a stale session token included
        # (the last ``token`` wins). An app that authenticates with a ``token`` param thus
        # refuses it (403) and phoenix.js reconnects with a fresh LongPoll, which also
        # brings back 1.7 clients, who would take a 410 for a new session and never rejoin.
        return await self._new_session(request, params)

    async def _new_session(self, request: web.Request, params: Params) -> web.Response:
        auth_token = None
        if self.options.auth_token:
            auth_token = request.headers.get(AUTH_TOKEN_HEADER) or None
        try:
            accepted = await self.handshake.connect(request, "longpoll", params, auth_token)
        except Refused as refused:
            # phoenix.js throws on any GET status but 200/204/403/410: every refusal is 403.
            log.info("longpoll connect refused (%d): %s", refused.status, refused)
            return _status(403)
        session_id, token = self.signer.issue()
        session = LongPollSession(
            session_id,
            token,
            self.endpoint,
            accepted.socket,
            accepted.serializer,
            self.options,
            self._forget,
        )
        self.sessions[session_id] = session
        session.start()
        return _poll_response(410, token, [])

    async def _poll(self, session: LongPollSession) -> web.Response:
        frames = await session.poll()
        status = 200 if frames else 204
        return _poll_response(status, session.token, [frame.text() for frame in frames])

    async def _publish(self, request: web.Request, session: LongPollSession | None) -> web.Response:
        if session is None or session.state is not State.OPEN:
            return _status(410)
        options = self.options
        if session.posts >= options.longpoll_max_posts:
            # Refused before the body is read: a client cannot make the server hold more
            # than this many bodies per session.
            self._limit_hit("longpoll_max_posts")
            return _status(429, 429, "too many POSTs in progress on this session")
        session.posts += 1
        try:
            limit = options.longpoll_max_body
            body = await read_body(request, limit)
            if body is None:
                self._limit_hit("longpoll_max_body")
                return _status(413, 413, f"body larger than {limit} bytes")
            return await self._publish_body(session, body, request.content_type)
        finally:
            session.posts -= 1

    async def _publish_body(
        self, session: LongPollSession, body: bytes, content_type: str
    ) -> web.Response:
        options = self.options
        try:
            frames = split_frames(
                body, content_type, options.longpoll_max_lines, options.max_frame_size
            )
        except FrameTooBig as big:
            self._limit_hit("max_frame_size")
            return _status(413, 413, str(big))
        except BadBody as bad:
            # Garbage where frames should be: the session ends, as a WebSocket would close
            # with 1011. Only this session: the token named it and proved it ours.
            session.end(f"bad POST body: {bad}", "bad frame")
            return _status(400, 400, str(bad))
        try:
            status = await session.publish(frames)
        except PublishError as error:
            return _status(error.status, error.status, str(error))
        return _status(status)

    def _limit_hit(self, limit: str) -> None:
        telemetry = self.endpoint.telemetry
        if telemetry.wants(LimitHit):
            telemetry.emit(LimitHit(limit, "longpoll"))

    # ------------------------------------------------------------ other nodes

    async def _forward(
        self, request: web.Request, session_id: str, token: str
    ) -> web.Response | None:
        """Another node's session: its answer, or ``None`` to answer here (no relay, a
        session of this node, or an owner that did not confirm it: a dead session)."""
        relay = self.options.longpoll_relay
        owner = session_owner(session_id)
        if relay is None or owner is None or owner == relay.node:
            return None
        body = b""
        if request.method == "POST":
            limit = self.options.longpoll_max_body
            read = await read_body(request, limit)
            if read is None:
                self._limit_hit("longpoll_max_body")
                return _status(413, 413, f"body larger than {limit} bytes")
            body = read
        forwarded = ForwardedRequest(
            self.path, request.method, session_id, token, request.content_type, body
        )
        answer = await relay.forward(owner, forwarded)
        if answer is None:
            return None
        return web.Response(
            status=answer.status,
            body=answer.body,
            content_type=answer.content_type,
            charset="utf-8",
            headers=_HEADERS,
        )

    def serve_forwarded(self, request: ForwardedRequest) -> Awaitable[ForwardedResponse] | None:
        """A request another node received for a session of this one: ``None`` at once
        when there is no such session here, else its answer to come."""
        session = self.sessions.get(request.session_id)
        if session is None or session.state is not State.OPEN:
            return None
        return self._serve_forwarded(session, request)

    async def _serve_forwarded(
        self, session: LongPollSession, request: ForwardedRequest
    ) -> ForwardedResponse:
        if request.method == "POST":
            # The owner counts a forwarded POST like one of its own: the limit holds
            # whichever nodes the client's POSTs land on.
            if session.posts >= self.options.longpoll_max_posts:
                self._limit_hit("longpoll_max_posts")
                response = _status(429, 429, "too many POSTs in progress on this session")
            else:
                session.posts += 1
                try:
                    response = await self._publish_body(session, request.body, request.content_type)
                finally:
                    session.posts -= 1
        else:
            response = await self._poll(session)
        body = response.body
        assert isinstance(body, bytes)
        return ForwardedResponse(response.status, body, response.content_type)

    def _forget(self, session: LongPollSession) -> None:
        if self.sessions.get(session.id) is session:
            del self.sessions[session.id]

    async def close(self) -> None:
        """End every session now (app cleanup); their channels terminate."""
        sessions = list(self.sessions.values())
        for session in sessions:
            session.abort()
        for session in sessions:
            await session.wait_closed()


# What phoenix.js's LongPoll sends beyond the CORS-safelisted headers (1.7 and 1.8:
# Content-Type with a non-form type on POST and GET, Accept, and 1.8's authToken header),
# and the session token header phxpy reads. Nothing is echoed from the request: a page may
# make a browser send only these, whatever it asks for.
PREFLIGHT_ALLOWED_HEADERS = ", ".join(
    ("accept", "content-type", AUTH_TOKEN_HEADER.lower(), TOKEN_HEADER.lower())
)


def _preflight() -> web.Response:
    headers = {
        **_HEADERS,
        "access-control-allow-headers": PREFLIGHT_ALLOWED_HEADERS,
        "access-control-allow-methods": "get, post, options",
        "access-control-max-age": "3600",
    }
    return web.Response(status=200, headers=headers)
