"""Simultaneous requests over real HTTP: one winner, a clean refusal for the rest, no 500."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from tests.server.api_client import PASSWORD, SERVICE_KEY, Api

SERVICE = {"Authorization": f"Bearer {SERVICE_KEY}"}


async def statuses(api: Api, requests: list[tuple[str, str, Any]]) -> list[int]:
    async def send(method: str, path: str, body: Any) -> int:
        async with api.client.request(method, path, json=body, headers=SERVICE) as response:
            await response.read()
            return response.status

    return list(await asyncio.gather(*(send(*request) for request in requests)))


async def test_two_assigns_of_one_ticket(api: Api) -> None:
    event = await api.create_event()
    for _ in range(3):
        ticket = await api.create_ticket(event["id"])
        ayla, bora = await api.sign_up(), await api.sign_up()
        results = await statuses(
            api,
            [
                ("PATCH", f"/api/tickets/{ticket['id']}/assign/{ayla.id}", None),
                ("PATCH", f"/api/tickets/{ticket['id']}/assign/{bora.id}", None),
            ],
        )
        assert sorted(results) == [200, 409]
        holder = results.index(200)
        shown = await api.get(
            f"/api/users/{(ayla, bora)[holder].id}", token=(ayla, bora)[holder].token, expected=200
        )
        assigned = await api.assign(ticket["id"], shown["data"]["id"])
        assert assigned["data"]["user_id"] == (ayla, bora)[holder].id


async def test_two_sign_ups_with_one_email(api: Api) -> None:
    body = {"user_params": {"username": "", "email": "same@example.com", "password": PASSWORD}}
    requests = [
        ("POST", "/api/users/create", {"user_params": {**body["user_params"], "username": name}})
        for name in ("first", "second", "third")
    ]
    results = await statuses(api, requests)
    assert Counter(results) == Counter({201: 1, 422: 2})


async def test_two_tickets_with_one_number(api: Api) -> None:
    event = await api.create_event()
    ticket = {"ticket": {"ticket_number": "SAME", "event_id": event["id"]}}
    results = await statuses(api, [("POST", "/api/tickets/create", ticket)] * 3)
    assert Counter(results) == Counter({201: 1, 422: 2})


async def test_sign_up_race_answers_with_the_field_error(api: Api) -> None:
    async def sign_up(name: str) -> tuple[int, Any]:
        body = {
            "user_params": {"username": name, "email": "race@example.com", "password": PASSWORD}
        }
        async with api.client.post("/api/users/create", json=body) as response:
            return response.status, await response.json()

    results = await asyncio.gather(sign_up("one"), sign_up("two"))
    refused = [body for status, body in results if status == 422]
    assert refused == [{"errors": {"email": ["has already been taken"]}}]
