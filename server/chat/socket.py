"""The user socket: a user JWT at connect; socket id ``users_socket:<user_id>``.

The token comes as the ``token`` param (what the fans' app sends) or as phoenix.js 1.8's
``authToken``. Missing, malformed, expired or revoked: the connection is refused with 403.
Sign out, a password change and account deletion disconnect the socket id (see ``live``).
A connection lives no longer than its token: when the token expires, the socket is closed
with TOKEN_EXPIRED, which the client reads in its close event (a refused reconnect would
only show it a 403 it cannot see in a browser).
"""

from __future__ import annotations

from typing import Any

from phxpy import ConnectInfo, ConnectRefused, Socket
from server.auth.tokens import authenticate_token_claims
from server.chat.context import CHAT_CONTEXT
from server.chat.event_channel import EventChannel
from server.chat.topics import EVENT_PREFIX, USER_PREFIX, socket_id
from server.chat.user_channel import UserChannel

MAX_TOKEN_LENGTH = 4096
TOKEN_EXPIRED = 4401
"""The close code of a socket whose token expired (4000 + HTTP's 401)."""


class UserSocket(Socket):
    channels = [(f"{EVENT_PREFIX}*", EventChannel), (f"{USER_PREFIX}*", UserChannel)]

    async def connect(self, params: dict[str, Any], connect_info: ConnectInfo) -> bool:
        token = params.get("token") or connect_info.auth_token
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
            return False
        chat = self.app[CHAT_CONTEXT]
        claims = await authenticate_token_claims(chat.db, chat.settings, token, chat.clock.now())
        if claims is None:
            return False
        user_id = claims.user_id
        # Each connection (WebSocket or LongPoll session) listens on the user's socket id:
        # their number is the user's open connections on this node. A cap keeps one account
        # from holding thousands (each one a presence entry that every joiner downloads).
        if (
            self.endpoint.pubsub.subscriber_count(socket_id(user_id))
            >= chat.limits.sockets_per_user
        ):
            raise ConnectRefused(429, "too many connections for this user")
        self.assigns["user_id"] = user_id
        left = (claims.expires_at - chat.clock.now()).total_seconds()
        self.expire_in(left, code=TOKEN_EXPIRED, reason="token expired")
        return True

    def id(self) -> str:
        return socket_id(self.assigns["user_id"])
