"""The conformance twin: behaves like the reference Phoenix 1.7 app, frame for frame.

    python examples/twin.py          # port from $PORT (default 4000), host from $HOST

Socket at /socket (WebSocket and LongPoll, origin check off). Connect needs the param
``token=good-token`` (or phoenix.js 1.8's ``authToken: "good-token"``); the user is the param
``user`` (default ``anon``); the socket id is ``users_socket:<user>``. Channel ``room:*``:

* join ``room:lobby`` → ok ``{"joined": true, "echo": <join payload>}``; ``room:private`` →
  error ``{"reason": "unauthorized"}``; any other ``room:*`` → ok ``{}``. With presence on
  (``create_app(presence=True)``, as when run as a script) every joiner is tracked in
  Presence under its user with ``{"online_at": "<unix seconds>"}`` and gets
  ``presence_state``.
* ``ping`` → ok with the payload; ``shout`` → broadcast ``shout``, no reply; ``error_reply``
  → error ``{"reason": "nope"}``; ``crash`` → the channel crashes; ``binary`` with a binary
  payload → ok with the same bytes; anything else (or ``binary`` with JSON) crashes it.

HTTP: ``GET /`` → ``phxref ok``; ``POST /admin/disconnect?user=U``;
``POST /admin/broadcast?topic=T&event=E`` with a JSON body.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import phxpy
from phxpy import Channel, ConnectInfo, Error, Ok, Reply, Socket, Stop
from phxpy.types import Payload


class RoomChannel(Channel):
    async def join(self, payload: Payload) -> Reply:
        if self.topic == "room:lobby":
            return Ok({"joined": True, "echo": payload})
        if self.topic == "room:private":
            return Error({"reason": "unauthorized"})
        return Ok()

    async def after_join(self) -> None:
        if isinstance(self.socket, UserSocket) and self.socket.track_presence:
            presence = self.endpoint.presence
            meta = {"online_at": str(int(time.time()))}
            await presence.track(self, self.assigns["user"], meta)
            await self.push("presence_state", presence.state_payload(self.topic))

    async def handle_in(self, event: str, payload: Payload) -> Reply | Stop | None:
        if event == "ping":
            return Ok(payload)
        if event == "shout":
            await self.broadcast("shout", payload)
            return None
        if event == "error_reply":
            return Error({"reason": "nope"})
        if event == "crash":
            raise RuntimeError("crash requested by the client")
        if event == "binary" and isinstance(payload, bytes):
            return Ok(payload)
        return await super().handle_in(event, payload)


class UserSocket(Socket):
    channels = [("room:*", RoomChannel)]
    track_presence: ClassVar[bool] = False

    async def connect(self, params: dict[str, Any], connect_info: ConnectInfo) -> bool:
        # phoenix.js 1.8 may carry the token as ``authToken`` instead of a param.
        if "good-token" not in (params.get("token"), connect_info.auth_token):
            return False
        user = params.get("user", "anon")
        self.assigns["user"] = user if isinstance(user, str) else "anon"
        return True

    def id(self) -> str:
        return f"users_socket:{self.assigns['user']}"


class PresenceUserSocket(UserSocket):
    """The same socket (it inherits the routes), with every joiner tracked in Presence."""

    track_presence = True


def create_app(*, presence: bool = False, **options: Any) -> web.Application:
    """``presence``: track every joiner (``python examples/twin.py`` does); off by default
    so tests of other features see only the frames they ask for."""
    app = web.Application()
    options.setdefault("check_origin", False)
    options.setdefault("longpoll", True)
    socket = PresenceUserSocket if presence else UserSocket
    endpoint = phxpy.mount(app, "/socket", socket, **options)

    async def index(_: web.Request) -> web.Response:
        return web.Response(text="phxref ok")

    async def admin_disconnect(request: web.Request) -> web.Response:
        await endpoint.disconnect(f"users_socket:{request.query.get('user', '')}")
        return web.json_response({"ok": True})

    async def admin_broadcast(request: web.Request) -> web.Response:
        try:
            payload = json.loads(await request.text() or "{}")
        except ValueError:
            return web.json_response({"error": "body is not JSON"}, status=400)
        topic, event = request.query.get("topic"), request.query.get("event")
        if not topic or not event or not isinstance(payload, dict):
            return web.json_response({"error": "topic, event and a JSON object body"}, status=400)
        await endpoint.broadcast(topic, event, payload)
        return web.json_response({"ok": True})

    app.router.add_get("/", index)
    app.router.add_post("/admin/disconnect", admin_disconnect)
    app.router.add_post("/admin/broadcast", admin_broadcast)
    return app


if __name__ == "__main__":
    web.run_app(
        create_app(presence=True),
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "4000")),
    )
