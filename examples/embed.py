"""phxpy embedded in an ordinary aiohttp app, in a few lines.

python examples/embed.py        # then, in a browser console on any page:
# const s = new Phoenix.Socket("ws://127.0.0.1:8080/socket"); s.connect()
# const c = s.channel("room:lobby"); c.join(); c.on("shout", console.log)
# c.push("shout", {body: "hi"})
# curl -XPOST 127.0.0.1:8080/announce -d '{"body": "from REST"}'
"""

from __future__ import annotations

import sys
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import phxpy
from phxpy.types import Payload


class Room(phxpy.Channel):
    async def join(self, payload: Payload) -> phxpy.Reply:
        return phxpy.Ok({"welcome": self.topic})

    async def handle_in(self, event: str, payload: Payload) -> phxpy.Reply | None:
        if event == "shout" and isinstance(payload, dict):
            await self.broadcast("shout", payload)
            return None
        return phxpy.Error({"reason": f"unknown event {event}"})


class Sockets(phxpy.Socket):
    channels = [("room:*", Room)]  # accept everyone; override connect() to authenticate


async def announce(request: web.Request) -> web.Response:
    try:
        payload = await request.json()
    except ValueError:
        return web.json_response({"error": "the body must be a JSON object"}, status=400)
    await request.app[phxpy.ENDPOINT].broadcast("room:lobby", "shout", payload)
    return web.Response(status=204)


def create_app() -> web.Application:
    app = web.Application()
    phxpy.mount(app, "/socket", Sockets, check_origin=False)
    app.router.add_post("/announce", announce)
    return app


if __name__ == "__main__":
    web.run_app(create_app(), host="127.0.0.1", port=8080)
