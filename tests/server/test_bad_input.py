"""Bad input of every kind gets a 4xx in the usual shape and changes nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.server.api_client import Api, snapshot

BODY_ROUTES = [
    ("/api/events/create_event", "service"),
    ("/api/events/update_event", "service"),
    ("/api/events/get_chat_room_by_id", "service"),
    ("/api/tickets/create", "service"),
    ("/api/users/create", None),
    ("/api/users/sign_in", None),
    ("/api/users/update", "user"),
]
NOT_JSON_OBJECTS: list[bytes] = [
    b"{",
    b"not json",
    b'{"event": ',
    b"[1, 2]",
    b'"a string"',
    b"42",
    b"null",
    b"\xff\xfe\x00",
    b"[" * 100_00 + b"]" * 100_00,  # nested deeper than the parser's recursion limit
]
WEIRD_VALUES: list[Any] = [
    None,
    "",
    " ",
    0,
    -1,
    1.5,
    True,
    [],
    {},
    ["x"],
    {"a": 1},
    "\x00",
    "\ud800",
    "x" * 10_000,
]


async def credentials(api: Api, kind: str | None) -> dict[str, Any]:
    if kind == "service":
        return {"service": True}
    if kind == "user":
        return {"token": (await api.sign_up()).token}
    return {}


@pytest.mark.parametrize(("path", "kind"), BODY_ROUTES)
async def test_a_body_that_is_not_a_json_object_is_400(
    api: Api, path: str, kind: str | None
) -> None:
    auth = await credentials(api, kind)
    before = await snapshot(api)
    for raw in NOT_JSON_OBJECTS:
        body = await api.call("POST", path, data=raw, expected=400, **auth)
        assert body == {"errors": {"detail": "Bad Request"}}
    assert await snapshot(api) == before


@pytest.mark.parametrize(("path", "kind"), BODY_ROUTES)
async def test_an_enormous_body_is_413(api: Api, path: str, kind: str | None) -> None:
    auth = await credentials(api, kind)
    huge = json.dumps({"event": {"name": "x" * 100_000}})
    body = await api.call("POST", path, data=huge, expected=413, **auth)
    assert body == {"errors": {"detail": "Request Entity Too Large"}}


async def test_json_without_a_content_type_is_still_read(api: Api) -> None:
    body = json.dumps({"user_params": {"username": "a", "email": "a@b.c", "password": "x" * 8}})
    await api.call(
        "POST", "/api/users/create", data=body, headers={"Content-Type": "text/plain"}, expected=201
    )


@pytest.mark.parametrize("value", WEIRD_VALUES, ids=repr)
async def test_weird_values_in_every_field_are_refused_cleanly(api: Api, value: Any) -> None:
    """Every field of every body, set to a value of the wrong kind: 404 or 422, never 500."""
    event = await api.create_event()
    fan = await api.sign_up()
    good = {
        "/api/events/create_event": (
            {
                "event": {
                    "name": "n",
                    "description": "d",
                    "location": "l",
                    "start_time": "2025-01-01 19:00:00",
                    "end_time": "2025-01-01 20:00:00",
                }
            },
            {"service": True},
        ),
        "/api/events/update_event": (
            {"id": event["id"], "event": {"name": "n", "start_time": "2025-01-01 19:00:00"}},
            {"service": True},
        ),
        "/api/events/get_chat_room_by_id": ({"event_id": event["id"]}, {"service": True}),
        "/api/tickets/create": (
            {"ticket": {"ticket_number": "N-1", "event_id": event["id"]}},
            {"service": True},
        ),
        "/api/users/create": (
            {"user_params": {"username": "u", "email": "u@e.c", "password_hash": "p" * 8}},
            {},
        ),
        "/api/users/sign_in": ({"email": fan.email, "password_hash": fan.password}, {}),
        "/api/users/update": (
            {
                "id": fan.id,
                "user_params": {"username": "v", "password": "q" * 8},
                "current_password": fan.password,
            },
            {"token": fan.token},
        ),
    }
    before = await snapshot(api)
    for path, (body, auth) in good.items():
        for bad_body in variants(body, value):
            async with api.client.post(path, json=bad_body, headers=headers(auth)) as response:
                text = await response.text()
                # (401: sign in with a password of the right type that is simply wrong)
                assert response.status in (401, 403, 404, 422), (path, bad_body, text)
                assert set(json.loads(text)) == {"errors"}
    assert await snapshot(api) == before


def variants(body: dict[str, Any], value: Any) -> list[dict[str, Any]]:
    """``body`` with one field replaced by ``value``, for each field (nested ones too)."""
    result = []
    for key, inner in body.items():
        # Any object is a valid partial update (unknown fields are ignored, as Ecto does).
        partial_update = key in ("event", "user_params") and "id" in body
        if not (partial_update and isinstance(value, dict)):
            result.append({**body, key: value})
        if isinstance(inner, dict):
            result.extend({**body, key: {**inner, name: value}} for name in inner)
    return result


def headers(auth: dict[str, Any]) -> dict[str, str]:
    from tests.server.api_client import SERVICE_KEY

    if auth.get("service"):
        return {"Authorization": f"Bearer {SERVICE_KEY}"}
    if "token" in auth:
        return {"Authorization": f"Bearer {auth['token']}"}
    return {}


async def test_unknown_routes_and_methods_answer_in_json(api: Api) -> None:
    async with api.client.get("/api/nothing/here") as response:
        assert response.status == 404
        assert await response.json() == {"errors": {"detail": "Not Found"}}
    async with api.client.put("/api/tickets/create") as response:
        assert response.status == 405
        assert await response.json() == {"errors": {"detail": "Method Not Allowed"}}
        assert response.headers["Allow"] == "POST"


async def test_a_trailing_slash_leads_to_the_route(api: Api) -> None:
    async with api.client.get("/api/events/", allow_redirects=False) as response:
        assert response.status in (301, 308)
        assert response.headers["Location"] == "/api/events"
