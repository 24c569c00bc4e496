"""``user:<user_id>``: a user's own notifications, pushed as ``notification`` when stored.

Only that user may join. Nothing is sent from the client; the stored list and marking read
are REST (``/api/notifications``).
"""

from __future__ import annotations

from typing import Any

from phxpy import Channel, Error, Ok, Reply, Stop
from server.chat.topics import USER_PREFIX, id_from_topic

UNAUTHORIZED = "unauthorized"


class UserChannel(Channel):
    async def join(self, payload: Any) -> Reply:
        user_id = id_from_topic(self.topic, USER_PREFIX)
        if user_id is None or user_id != self.socket.assigns.get("user_id"):
            return Error({"reason": UNAUTHORIZED})
        return Ok({})

    async def handle_in(self, event: str, payload: Any) -> Reply | Stop | None:
        return Error({"reason": "unknown event"})
