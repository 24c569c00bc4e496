"""phxpy in an ordinary aiohttp app, its channels reading the app's database.

    PORT=8080 python examples/embed.py       # needs only phxpy (pip install ./phxpy)

Then, in a browser console on any page::

    const s = new Phoenix.Socket("ws://127.0.0.1:8080/socket", {params: {user: "al"}})
    s.connect()
    const c = s.channel("room:lobby"); c.join().receive("ok", console.log)
    c.on("shout", console.log); c.push("shout", {body: "hi"})

and ``curl -XPOST 127.0.0.1:8080/announce -d '{"body": "from REST"}'``. The code below is
the README's embedding example, character for character (a test checks it).
"""

from __future__ import annotations

import os

# -- the README's example starts here
import sqlite3

from aiohttp import web

import phxpy
from phxpy.types import Params, Payload

DB = web.AppKey("db", sqlite3.Connection)


class Room(phxpy.Channel):
    async def join(self, payload: Payload) -> phxpy.Reply:
        # The app's database is one attribute away (a quick local query; use an async
        # driver or a thread for slow ones).
        found = self.app[DB].execute("SELECT title FROM rooms WHERE topic = ?", (self.topic,))
        row = found.fetchone()
        if row is None:
            return phxpy.Error({"reason": "no such room"})
        return phxpy.Ok({"title": row[0], "user": self.assigns["user"]})

    async def handle_in(self, event: str, payload: Payload) -> phxpy.Reply | None:
        if event == "shout" and isinstance(payload, dict):
            await self.broadcast("shout", payload)  # to every client in the room
            return None  # no reply
        return phxpy.Error({"reason": f"unknown event {event}"})


class UserSocket(phxpy.Socket):
    channels = [("room:*", Room)]  # first match wins; a subclass inherits them

    async def connect(self, params: Params, connect_info: phxpy.ConnectInfo) -> bool:
        user = params.get("user")  # a real app checks a token here (False: HTTP 403)
        self.assigns["user"] = user if isinstance(user, str) else "anon"
        return True

    def id(self) -> str:  # endpoint.disconnect(id) closes every connection with it
        return f"users_socket:{self.assigns['user']}"


async def announce(request: web.Request) -> web.Response:
    try:
        payload = await request.json()
    except ValueError:
        return web.json_response({"error": "the body must be a JSON object"}, status=400)
    await request.app[phxpy.ENDPOINT].broadcast("room:lobby", "shout", payload)
    return web.Response(status=204)


def create_app(database: str = ":memory:") -> web.Application:
    app = web.Application()
    app[DB] = db = sqlite3.connect(database)
    db.execute("CREATE TABLE IF NOT EXISTS rooms (topic TEXT PRIMARY KEY, title TEXT)")
    db.execute("INSERT OR IGNORE INTO rooms VALUES ('room:lobby', 'The lobby')")

    async def close_database(app: web.Application) -> None:
        app[DB].close()

    app.on_cleanup.append(close_database)
    phxpy.mount(app, "/socket", UserSocket, check_origin=False)  # a demo: any page may connect
    app.router.add_post("/announce", announce)
    return app


# -- the README's example ends here

if __name__ == "__main__":
    web.run_app(create_app(), host="127.0.0.1", port=int(os.environ.get("PORT", "8080")))
