"""CORS: a browser app on an origin in CORS_ORIGINS can sign in and call the API."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aiohttp.test_utils import TestClient

from server.app import create_app
from server.auth.throttle import AuthLimits
from server.clock import ManualClock
from server.config import Settings
from server.ratelimit import Rate
from tests.server.api_client import PASSWORD
from tests.server.conftest import AiohttpClient, RecordingRealtime

APP = "https://app.example.com"
OTHER_APP = "http://localhost:3000"


async def serve(
    aiohttp_client: AiohttpClient, settings: Settings, clock: ManualClock, **changes: Any
) -> TestClient[Any, Any]:
    app = create_app(replace(settings, **changes), clock=clock, realtime=RecordingRealtime())
    return await aiohttp_client(app)


def preflight(origin: str, method: str = "POST") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization, content-type",
    }


async def test_a_browser_app_on_a_listed_origin_signs_up_in_and_calls_the_api(
    aiohttp_client: AiohttpClient, settings: Settings, clock: ManualClock
) -> None:
    client = await serve(aiohttp_client, settings, clock, cors_origins=(APP, OTHER_APP))
    # What a browser does before a JSON POST from another origin: the preflight.
    async with client.options("/api/users/create", headers=preflight(APP)) as response:
        assert response.status == 204
        assert response.headers["Access-Control-Allow-Origin"] == APP
        assert set(response.headers["Access-Control-Allow-Methods"].split(", ")) >= {
            "GET",
            "POST",
            "PATCH",
            "DELETE",
        }
        allowed = response.headers["Access-Control-Allow-Headers"].lower().split(", ")
        assert set(allowed) == {"authorization", "content-type"}
        assert response.headers["Vary"] == "Origin"
        assert "Access-Control-Allow-Credentials" not in response.headers
    user = {"username": "ayla", "email": "ayla@example.com", "password": PASSWORD}
    async with client.post(
        "/api/users/create", json={"user_params": user}, headers={"Origin": APP}
    ) as response:
        assert response.status == 201
        assert response.headers["Access-Control-Allow-Origin"] == APP
        assert "Origin" in response.headers["Vary"]
    async with client.post(
        "/api/users/sign_in",
        json={"email": user["email"], "password": PASSWORD},
        headers={"Origin": OTHER_APP},
    ) as response:
        assert response.status == 200
        assert response.headers["Access-Control-Allow-Origin"] == OTHER_APP
        body = await response.json()
    token, user_id = body["data"]["token"], body["data"]["user"]["id"]
    async with client.options(f"/api/users/{user_id}", headers=preflight(APP, "GET")) as r:
        assert r.status == 204
    async with client.get(
        f"/api/users/{user_id}", headers={"Origin": APP, "Authorization": f"Bearer {token}"}
    ) as response:
        assert response.status == 200
        assert response.headers["Access-Control-Allow-Origin"] == APP
    # Errors are readable by the app too, with the headers it needs.
    async with client.get(f"/api/users/{user_id}", headers={"Origin": APP}) as response:
        assert response.status == 401
        assert response.headers["Access-Control-Allow-Origin"] == APP
        exposed = response.headers["Access-Control-Expose-Headers"]
        assert "WWW-Authenticate" in exposed and "Retry-After" in exposed


async def test_other_origins_get_nothing(
    aiohttp_client: AiohttpClient, settings: Settings, clock: ManualClock
) -> None:
    client = await serve(aiohttp_client, settings, clock, cors_origins=(APP,))
    for origin in (
        "https://evil.example",
        "http://app.example.com",
        "https://app.example.com:8443",
    ):
        async with client.options("/api/users/sign_in", headers=preflight(origin)) as response:
            assert response.status == 403
            assert await response.json() == {"errors": {"detail": "Forbidden"}}
            assert "Access-Control-Allow-Origin" not in response.headers
        async with client.get("/api/openapi.json", headers={"Origin": origin}) as response:
            assert response.status == 200  # served, but a browser keeps it from the page
            assert "Access-Control-Allow-Origin" not in response.headers
            assert response.headers["Vary"] == "Origin"
    # The default port written out is the same origin.
    async with client.options("/api/events", headers=preflight(f"{APP}:443", "GET")) as r:
        assert r.status == 204


async def test_retry_after_is_exposed_on_429(
    aiohttp_client: AiohttpClient, settings: Settings, clock: ManualClock
) -> None:
    limits = replace(AuthLimits(), sign_in_per_account=Rate(1, 60))
    client = await serve(aiohttp_client, settings, clock, cors_origins=(APP,), auth_limits=limits)
    body = {"email": "nobody@example.com", "password": "guess"}
    async with client.post("/api/users/sign_in", json=body, headers={"Origin": APP}) as r:
        assert r.status == 401
    async with client.post("/api/users/sign_in", json=body, headers={"Origin": APP}) as r:
        assert r.status == 429
        assert r.headers["Access-Control-Allow-Origin"] == APP
        assert "Retry-After" in r.headers["Access-Control-Expose-Headers"]
        assert int(r.headers["Retry-After"]) == 60


async def test_any_origin_with_a_star(
    aiohttp_client: AiohttpClient, settings: Settings, clock: ManualClock
) -> None:
    client = await serve(aiohttp_client, settings, clock, cors_origins=("*",))
    async with client.options("/api/events", headers=preflight("https://x.example", "GET")) as r:
        assert r.status == 204
        assert r.headers["Access-Control-Allow-Origin"] == "*"
    async with client.get("/healthz", headers={"Origin": "https://x.example"}) as response:
        assert response.headers["Access-Control-Allow-Origin"] == "*"


async def test_without_cors_origins_nothing_is_allowed_and_the_socket_keeps_its_own(
    aiohttp_client: AiohttpClient, settings: Settings, clock: ManualClock
) -> None:
    client = await serve(aiohttp_client, settings, clock)
    async with client.options("/api/users/sign_in", headers=preflight(APP)) as response:
        assert response.status == 405
        assert "Access-Control-Allow-Origin" not in response.headers
    async with client.get("/api/events", headers={"Origin": APP}) as response:
        assert "Access-Control-Allow-Origin" not in response.headers
    # LongPoll answers its own preflight, with or without CORS_ORIGINS.
    listed = await serve(aiohttp_client, settings, clock, cors_origins=(APP,))
    for each in (client, listed):
        async with each.options(
            "/socket/longpoll", headers={"Access-Control-Request-Method": "POST"}
        ) as response:
            assert response.status == 200
            assert "x-phoenix-authtoken" in response.headers["Access-Control-Allow-Headers"]
