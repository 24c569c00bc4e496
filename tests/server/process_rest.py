"""The REST calls a test makes against a real server process (:mod:`.server_process`) to set
up what it needs: an event whose room is open now, a member, a ticket."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from tests.server.api_client import SERVICE_KEY
from tests.server.server_process import ServerProcess

FMT = "%Y-%m-%d %H:%M:%S"


async def rest(
    http: aiohttp.ClientSession, method: str, url: str, body: Any = None, token: str = SERVICE_KEY
) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    async with http.request(method, url, json=body, headers=headers) as response:
        assert response.status < 300, await response.text()
        return await response.json()


async def open_event(http: aiohttp.ClientSession, server: ServerProcess, name: str) -> Any:
    """An event starting within the two hours' lead: its room is open at once."""
    start = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=1)
    event = {
        "name": name,
        "description": "d",
        "location": "here",
        "start_time": start.strftime(FMT),
        "end_time": (start + timedelta(hours=3)).strftime(FMT),
    }
    created = await rest(http, "POST", f"{server.url}/api/events/create_event", {"event": event})
    return created["data"]


async def sign_up(http: aiohttp.ClientSession, server: ServerProcess, username: str) -> str:
    """A new member's token."""
    user = {"username": username, "email": f"{username}@example.com", "password": "pw-1234567"}
    signup = await rest(http, "POST", f"{server.url}/api/users/create", {"user_params": user})
    return str(signup["data"]["token"])


async def new_ticket(http: aiohttp.ClientSession, server: ServerProcess, event_id: str) -> str:
    """A new ticket's number for the event."""
    number = f"T-{uuid.uuid4().hex[:10]}"
    ticket = {"ticket_number": number, "event_id": event_id}
    await rest(http, "POST", f"{server.url}/api/tickets/create", {"ticket": ticket})
    return number
