"""Talking to the service over HTTP in tests, checking every answer on the way.

Each call states the status it expects, and its response is validated against the OpenAPI
document the service publishes, so the document cannot drift from what the code sends. Every
response is also checked for leaked password hashes.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp.test_utils import TestClient

from server.db import messages as message_store
from server.db.database import Database, Row
from server.db.sql import Sql
from server.domain import MessageDraft, StoredMessage
from server.keys import DB, OPENAPI
from tests.server.openapi_check import check_response

SERVICE_KEY = "service-key-for-the-tests-0123456789abcdef"
SECRET_KEY = "jwt-signing-key-for-the-tests-0123456789abcdef"
PASSWORD = "correct horse battery"

_NO_JSON = object()
_counter = itertools.count(1)


@dataclass(frozen=True)
class Session:
    """A signed-up user as the app sees it."""

    id: str
    username: str
    email: str
    password: str
    token: str


class Api:
    def __init__(self, client: TestClient[Any, Any]) -> None:
        self.client = client
        self.document: dict[str, Any] = client.app[OPENAPI]

    @property
    def db(self) -> Database:
        return self.client.app[DB]

    async def rows(self, query: str, *args: Any) -> list[Row]:
        """What a SELECT (with ``$1`` placeholders) reads from the service's database."""
        async with self.db.read() as conn:
            return await conn.fetch(Sql(query), *args)

    async def value(self, query: str, *args: Any) -> Any:
        async with self.db.read() as conn:
            return await conn.fetchval(Sql(query), *args)

    async def post_messages(
        self, room_id: str, author: Session, contents: list[str], now: datetime
    ) -> list[StoredMessage]:
        """Open the room and store messages in it through the db layer the chat uses."""
        await self.execute("UPDATE chat_rooms SET status = 'active' WHERE id = $1", room_id)
        drafts = [
            MessageDraft(room_id, author.id, author.username, content) for content in contents
        ]
        async with self.db.write() as conn:
            outcomes = await message_store.store_messages(conn, drafts, now=now)
        assert all(isinstance(outcome, StoredMessage) for outcome in outcomes), outcomes
        return [outcome for outcome in outcomes if isinstance(outcome, StoredMessage)]

    async def execute(self, statement: str, *args: Any) -> int:
        """Change the database behind the service's back (to set up a situation)."""
        async with self.db.write() as conn:
            return await conn.execute(Sql(statement), *args)

    async def call(
        self,
        method: str,
        path: str,
        *,
        expected: int,
        json_body: Any = _NO_JSON,
        data: bytes | str | None = None,
        token: str | None = None,
        service: bool = False,
        headers: dict[str, str] | None = None,
    ) -> Any:
        all_headers = dict(headers or {})
        if service:
            all_headers["Authorization"] = f"Bearer {SERVICE_KEY}"
        elif token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        kwargs: dict[str, Any] = {"headers": all_headers, "allow_redirects": False}
        if json_body is not _NO_JSON:
            kwargs["json"] = json_body
        elif data is not None:
            kwargs["data"] = data
        async with self.client.request(method, path, **kwargs) as response:
            raw = await response.read()
            status = response.status
        text = raw.decode("utf-8", "replace")
        assert "$2b$" not in text, f"a bcrypt hash leaked from {method} {path}: {text}"
        # (The API's own description names the request field, of course.)
        if 200 <= status < 300 and path != "/api/openapi.json":
            assert "password_hash" not in text, f"{method} {path} leaked: {text[:500]}"
        assert status == expected, (
            f"{method} {path}: expected {expected}, got {status}: {text[:500]}"
        )
        body = json.loads(raw) if raw else None
        check_response(self.document, method, path.split("?", 1)[0], status, body)
        return body

    async def get(self, path: str, **kwargs: Any) -> Any:
        return await self.call("GET", path, **kwargs)

    async def post(self, path: str, json_body: Any = _NO_JSON, **kwargs: Any) -> Any:
        return await self.call("POST", path, json_body=json_body, **kwargs)

    async def patch(self, path: str, **kwargs: Any) -> Any:
        return await self.call("PATCH", path, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> Any:
        return await self.call("DELETE", path, **kwargs)

    # -- the story's building blocks ----------------------------------------------------------

    async def sign_up(
        self, username: str | None = None, email: str | None = None, password: str = PASSWORD
    ) -> Session:
        n = next(_counter)
        username = username or f"fan{n}"
        email = email or f"{username}@example.com"
        body = await self.post(
            "/api/users/create",
            {"user_params": {"username": username, "email": email, "password_hash": password}},
            expected=201,
        )
        user = body["data"]["user"]
        return Session(user["id"], username, email, password, body["data"]["token"])

    async def create_event(self, **fields: Any) -> dict[str, Any]:
        event = {
            "name": "concert",
            "description": "A great music concert",
            "location": "Antalya",
            "start_time": "2025-01-01 19:00:07",
            "end_time": "2025-01-01 23:00:07",
            **fields,
        }
        body = await self.post(
            "/api/events/create_event", {"event": event}, service=True, expected=201
        )
        return body["data"]  # type: ignore[no-any-return]

    async def create_ticket(self, event_id: str, number: str | None = None) -> dict[str, Any]:
        number = number or f"T-{next(_counter):06d}"
        body = await self.post(
            "/api/tickets/create",
            {"ticket": {"ticket_number": number, "event_id": event_id}},
            service=True,
            expected=201,
        )
        return body["data"]  # type: ignore[no-any-return]

    async def assign(self, ticket_id: str, user_id: str, *, expected: int = 200) -> Any:
        return await self.patch(
            f"/api/tickets/{ticket_id}/assign/{user_id}", service=True, expected=expected
        )

    async def holder(self, event_id: str) -> Session:
        """A new user holding an assigned ticket for the event."""
        user = await self.sign_up()
        ticket = await self.create_ticket(event_id)
        await self.assign(ticket["id"], user.id)
        return user


TABLES = {
    "schema_version": "version",
    "users": "id",
    "events": "id",
    "tickets": "id",
    "chat_rooms": "id",
    "messages": "id",
    "notifications": "id",
    "revoked_tokens": "jti",
    "hidden_messages": "chat_room_id, seq",
    "room_restrictions": "chat_room_id, user_id, kind",
    "moderation_log": "chat_room_id, version",
    "webhook_outbox": "notification_id",
}
"""Every table of schema.sql, with its primary key."""


async def snapshot(api: Api) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, to show that a refused request changed nothing."""
    return {
        table: [tuple(row) for row in await api.rows(f"SELECT * FROM {table} ORDER BY {key}")]
        for table, key in TABLES.items()
    }
